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
                 critic_coef: float = 1.0, entropy_coef: float = 0.0) -> None:
        if not isinstance(mixer, ComaCritic):
            raise ValueError(f"ComaLearner needs the COMA critic (mixer=coma), got {type(mixer).__name__}")
        if critic_coef <= 0 or entropy_coef < 0:
            raise ValueError(f"need critic_coef > 0 and entropy_coef >= 0, got {critic_coef}, {entropy_coef}")
        super().__init__(agent, mixer, info, cfg)
        self.critic_coef, self.entropy_coef = critic_coef, entropy_coef

    # ---- losses ---------------------------------------------------------------------------------
    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        logits, _ = self.unroll(self.agent, self.agent_inputs(batch), batch)  # (B, T+1, N, A)
        log_pi = masked_log_policy(logits, batch.avail)  # (B, T+1, N, A)
        pi = log_pi.exp()
        actions = batch.actions  # (B, T, N)
        state = batch.state
        q = self.mixer(state[:, :-1], F.one_hot(actions, self.n_actions).float())  # (B, T, N, A)
        q_taken = gather_actions(q, actions)  # (B, T, N)

        with torch.no_grad():
            # next taken joint action; where the episode ended at t (no u_{t+1}) the policy's argmax
            greedy = greedy_actions(logits.detach(), usable_avail(batch.avail))  # (B, T+1, N)
            cont = torch.cat([batch.mask[:, 1:], torch.zeros_like(batch.mask[:, :1])], 1).bool()  # (B, T)
            shifted = torch.cat([actions[:, 1:], greedy[:, -1:]], dim=1)  # (B, T, N)
            next_act = torch.where(cont.unsqueeze(-1), shifted, greedy[:, 1:])  # (B, T, N)
            next_q = self.target_mixer(state[:, 1:], F.one_hot(next_act, self.n_actions).float())  # (B, T, N, A)
            next_q = gather_actions(next_q, next_act)  # (B, T, N)
            targets = td_targets(batch, next_q, cfg.gamma, cfg.td_lambda)  # (B, T, N): one head per agent
            baseline = (pi[:, :-1] * q).sum(-1)  # (B, T, N) counterfactual baseline
            advantage = q_taken - baseline  # (B, T, N)

        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)
        critic_loss = masked_mean((q_taken - targets).pow(2), mask)
        log_pi_taken = gather_actions(log_pi[:, :-1], actions)  # (B, T, N)
        pg_loss = -masked_mean(log_pi_taken * advantage, mask)
        entropy = masked_mean(-(pi[:, :-1] * log_pi[:, :-1]).sum(-1), mask)
        loss = pg_loss + self.critic_coef * critic_loss - self.entropy_coef * entropy
        return loss, {
            "losses/pg": float(pg_loss.detach()), "losses/td": float(critic_loss.detach()),
            "coma/entropy": float(entropy.detach()), "coma/advantage_mean": float(masked_mean(advantage, mask)),
            "train/q_tot_mean": float(masked_mean(q_taken.detach().mean(-1, keepdim=True), mask)),
        }
