"""COMA (Foerster et al. 2018): counterfactual multi-agent policy gradients.

The shared agent net is the actor: its outputs are logits of a softmax policy over the available
actions. The centralised critic (:class:`~decomp.core.mixers.coma.ComaCritic`) gives Q(s, u^{-i}, ·) for
every agent; the counterfactual baseline b^i = Σ_a π^i(a) Q(s, (u^{-i}, a)) yields the advantage
A^i = Q(s, u) − b^i and the actor loss −Σ log π^i(u^i) A^i. The critic regresses on TD(λ) targets
built from the target critic at the next *taken* joint action (on-policy, SARSA-style).

Behaviour: sample from (1 − ε) π + ε uniform(available); at ε = 0 (greedy evaluation) take the
policy's argmax. The trainer's ε schedule is used as is, so ``data=uniform`` (ε = 1) makes COMA act
uniformly — its updates are then off-policy and uncorrected, as in the original method.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.learners.base import Learner, LearnerConfig
from decomp.core.learners.ops import gather_actions, greedy_actions, masked_mean, td_targets, usable_avail
from decomp.core.mixers.coma import ComaCritic

_MASKED_LOGIT = -1e10  # finite, so log π of an unavailable action times π = 0 stays 0 (not nan)


def masked_log_policy(logits: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """logits, avail (..., A) -> log π (..., A) over the available actions."""
    return torch.log_softmax(logits.masked_fill(~usable_avail(avail), _MASKED_LOGIT), dim=-1)


class ComaLearner(Learner):
    policy_kind = "sampled"  # acts by sampling its softmax policy (decomp.rollout.policy.sample_actions)

    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig,
                 critic_coef: float = 1.0, entropy_coef: float = 0.0, critic_steps: int = 0) -> None:
        if not isinstance(mixer, ComaCritic):
            raise ValueError(f"ComaLearner needs the COMA critic (mixer=coma), got {type(mixer).__name__}")
        if critic_coef <= 0 or entropy_coef < 0:
            raise ValueError(f"need critic_coef > 0 and entropy_coef >= 0, got {critic_coef}, {entropy_coef}")
        if critic_steps < 0:
            raise ValueError(f"coma critic_steps must be >= 0 (0 = one per time step of the batch, 1 = a single "
                             f"joint actor-critic step), got {critic_steps}")
        super().__init__(agent, mixer, info, cfg)
        self.critic_coef, self.entropy_coef = critic_coef, entropy_coef
        # pymarl's coma_learner fits the critic once per time step of the batch before each actor step.
        # Here k - 1 critic-only steps on the whole batch come first, then the joint step; k = the batch's
        # T by default (critic_steps = 0; T = 1 on matrix games). Measured on SMAX 3m, 300k, seeds 0-2
        # (docs/benchmarks.md, "COMA and QTRAN on SMAX"): with k = 1 the greedy policy collapsed to moving
        # only in 2 of 3 seeds (final 0.42 / 0.00 / 0.00), with k = 15 in none (0.46 / 0.52 / 0.46).
        self.critic_steps = critic_steps

    # ---- losses ---------------------------------------------------------------------------------
    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        logits, _ = self.unroll(self.agent, self.agent_inputs(batch), batch)  # (B, T+1, N, A)
        log_pi = masked_log_policy(logits, batch.avail)  # (B, T+1, N, A)
        pi = log_pi.exp()
        actions = batch.actions  # (B, T, N)
        greedy = greedy_actions(logits.detach(), usable_avail(batch.avail))  # (B, T+1, N)
        q, q_taken, critic_loss = self._critic(batch, greedy)
        with torch.no_grad():
            baseline = (pi[:, :-1] * q).sum(-1)  # (B, T, N) counterfactual baseline
            advantage = q_taken - baseline  # (B, T, N)

        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)
        log_pi_taken = gather_actions(log_pi[:, :-1], actions)  # (B, T, N)
        pg_loss = -masked_mean(log_pi_taken * advantage, mask)
        entropy = masked_mean(-(pi[:, :-1] * log_pi[:, :-1]).sum(-1), mask)
        loss = pg_loss + self.critic_coef * critic_loss - self.entropy_coef * entropy
        return loss, {
            "losses/pg": float(pg_loss.detach()), "losses/td": float(critic_loss.detach()),
            "coma/entropy": float(entropy.detach()), "coma/advantage_mean": float(masked_mean(advantage, mask)),
            "train/q_tot_mean": float(masked_mean(q_taken.detach().mean(-1, keepdim=True), mask)),
        }

    def _critic(self, batch: EpisodeBatch, greedy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q(s, u^{-i}, ·) (B, T, N, A), Q at the taken u (B, T, N) and the critic's TD(λ) loss.

        ``greedy`` (B, T+1, N): the policy's argmax, the next joint action where an episode ended at t.
        """
        cfg, actions, state = self.cfg, batch.actions, batch.state
        q = self.mixer(state[:, :-1], F.one_hot(actions, self.n_actions).float())  # (B, T, N, A)
        q_taken = gather_actions(q, actions)  # (B, T, N)
        with torch.no_grad():
            cont = torch.cat([batch.mask[:, 1:], torch.zeros_like(batch.mask[:, :1])], 1).bool()  # (B, T)
            shifted = torch.cat([actions[:, 1:], greedy[:, -1:]], dim=1)  # (B, T, N)
            next_act = torch.where(cont.unsqueeze(-1), shifted, greedy[:, 1:])  # (B, T, N)
            next_q = self.target_mixer(state[:, 1:], F.one_hot(next_act, self.n_actions).float())  # (B, T, N, A)
            next_q = gather_actions(next_q, next_act)  # (B, T, N)
            targets = td_targets(batch, next_q, cfg.gamma, cfg.td_lambda)  # (B, T, N): one head per agent
        return q, q_taken, masked_mean((q_taken - targets).pow(2), batch.mask.unsqueeze(-1))

    def train(self, batch: EpisodeBatch) -> dict[str, float]:
        """k - 1 critic-only steps, then the joint step (base class) on the same batch."""
        k = self.critic_steps or batch.mask.shape[1]  # 0: one per time step (the batch is cut to its longest episode)
        if k > 1:
            on_device = batch.to(self.device)
            with torch.no_grad():
                logits, _ = self.unroll(self.agent, self.agent_inputs(on_device), on_device)  # (B, T+1, N, A)
                greedy = greedy_actions(logits, usable_avail(on_device.avail))  # (B, T+1, N)
            critic_params = list(self.mixer.parameters())
            for _ in range(k - 1):
                _, _, critic_loss = self._critic(on_device, greedy)
                if not torch.isfinite(critic_loss):
                    raise FloatingPointError(f"critic loss is {critic_loss.item()} at update {self.updates}")
                self.optimizer.zero_grad(set_to_none=True)
                (self.critic_coef * critic_loss).backward()  # the agents' grads stay None: the step skips them
                nn.utils.clip_grad_norm_(critic_params, self.cfg.grad_clip, foreach=True)
                self.optimizer.step()
        return super().train(batch)
