"""COMA (Foerster et al. 2018): counterfactual multi-agent policy gradients.

The shared agent net is the actor: its outputs are logits of a softmax policy over the available
actions. The centralised critic (:class:`~decomp.core.mixers.coma.ComaCritic`) gives Q(s, u^{-i}, ·) for
every agent; the counterfactual baseline b^i = Σ_a π^i(a) Q(s, (u^{-i}, a)) yields the advantage
A^i = Q(s, u) − b^i and the actor loss −Σ log π^i(u^i) A^i. The critic regresses on TD(λ) targets
built from the target critic at the next *taken* joint action (on-policy, SARSA-style). As in pymarl,
each batch first fits the critic (one step per time step) and then takes one actor step against it.

Behaviour: sample from (1 − ε) π + ε uniform(available); at ε = 0 (greedy evaluation) take the
policy's argmax. The trainer's ε schedule is used as is, so ``data=uniform`` (ε = 1) makes COMA act
uniformly — its updates are then off-policy and uncorrected, as in the original method.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.agents import AgentInputs
from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.learners.base import Learner, LearnerConfig
from decomp.core.ops import (behaviour_policy, gather_actions, greedy_actions, masked_log_policy, masked_mean,
                             td_targets, usable_avail)
from decomp.core.mixers.coma import ComaCritic


def _critic_q(critic: nn.Module, state: torch.Tensor, actions_onehot: torch.Tensor,
              local: torch.Tensor | None) -> torch.Tensor:
    """The critic's Q(s, u^{-i}, ·); local inputs only for a critic that reads them (others keep the
    two-argument forward)."""
    return critic(state, actions_onehot) if local is None else critic(state, actions_onehot, local)


class ComaLearner(Learner):
    policy_kind = "sampled"  # acts by sampling its softmax policy (decomp.rollout.policy.sample_actions)

    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig,
                 critic_coef: float = 1.0, entropy_coef: float = 0.0, critic_per_step: bool = True,
                 mixed_policy: bool = False, *, inputs: AgentInputs = AgentInputs()) -> None:
        if not isinstance(mixer, ComaCritic):
            raise ValueError(f"ComaLearner needs the COMA critic (method=coma), got {type(mixer).__name__}")
        if critic_coef <= 0 or entropy_coef < 0:
            raise ValueError(f"need critic_coef > 0 and entropy_coef >= 0, got {critic_coef}, {entropy_coef}")
        super().__init__(agent, mixer, info, cfg, inputs=inputs)
        self.critic_coef, self.entropy_coef = critic_coef, entropy_coef
        # critic_per_step (pymarl's coma_learner): fit the critic on each time step of the batch in turn,
        # latest first, one optimiser step each, then take one actor step against the fitted critic;
        # otherwise one joint actor + critic step. Measured on SMAX 3m, 300k, seeds 0-2 (docs/benchmarks.md,
        # "COMA and QTRAN on SMAX"): with the joint step the greedy policy collapsed to moving only in 2 of 3
        # seeds (final 0.42 / 0.00 / 0.00); with a fitted critic in none.
        self.critic_per_step = critic_per_step
        # mixed_policy (pymarl's coma_learner): the baseline, log π and the entropy use the policy the data
        # was sampled from, (1 − ε) π + ε uniform, with the ε the data was collected at (``behaviour_epsilon``
        # of :meth:`train` and :meth:`loss`)
        self.mixed_policy = mixed_policy

    # ---- losses ---------------------------------------------------------------------------------
    def loss(self, batch: EpisodeBatch, behaviour_epsilon: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one step as it stands (no fitting: with ``critic_per_step`` :meth:`train` fits first);
        ``behaviour_epsilon``: the ε the batch was collected with (used with ``mixed_policy``)."""
        logits, _, targets = self._policy(batch)
        return self._loss(batch, logits, targets, behaviour_epsilon)

    def _policy(self, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The actor's logits (B, T+1, N, A), its argmax (B, T+1, N) and the critic's targets (B, T, N).

        One unroll serves both: the greedy actions only stand in for the bootstrap action, and the
        critic fit in between changes neither the agent nor the target critic, so the targets hold.
        """
        logits, _ = self.unroll(self.agent, self.agent_inputs(batch), batch)  # (B, T+1, N, A)
        greedy = greedy_actions(logits.detach(), usable_avail(batch.avail))  # (B, T+1, N)
        return logits, greedy, self._targets(batch, greedy)

    def _loss(self, batch: EpisodeBatch, logits: torch.Tensor, targets: torch.Tensor,
              behaviour_epsilon: float) -> tuple[torch.Tensor, dict[str, float]]:
        """logits (B, T+1, N, A), the critic's targets (B, T, N) -> the actor's (and, joint, the critic's) loss."""
        if self.mixed_policy and behaviour_epsilon > 0:
            pi = behaviour_policy(logits, batch.avail, behaviour_epsilon)  # (B, T+1, N, A)
            log_pi = pi.clamp(min=1e-30).log()  # unavailable actions: π = 0, their log π never counts
        else:
            log_pi = masked_log_policy(logits, batch.avail)  # (B, T+1, N, A)
            pi = log_pi.exp()
        actions = batch.actions  # (B, T, N)
        # with critic_per_step the critic was fitted in train(): this step is the actor's alone
        with torch.no_grad() if self.critic_per_step else contextlib.nullcontext():
            q, q_taken, critic_loss = self._critic(batch, targets)
        with torch.no_grad():
            baseline = (pi[:, :-1] * q).sum(-1)  # (B, T, N) counterfactual baseline
            advantage = q_taken - baseline  # (B, T, N)

        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)
        log_pi_taken = gather_actions(log_pi[:, :-1], actions)  # (B, T, N)
        pg_loss = -masked_mean(log_pi_taken * advantage, mask)
        entropy = masked_mean(-(pi[:, :-1] * log_pi[:, :-1]).sum(-1), mask)
        loss = pg_loss - self.entropy_coef * entropy
        if not self.critic_per_step:
            loss = loss + self.critic_coef * critic_loss
        return loss, {
            "losses/pg": float(pg_loss.detach()), "losses/td": float(critic_loss.detach()),
            "coma/entropy": float(entropy.detach()), "coma/advantage_mean": float(masked_mean(advantage, mask)),
            "train/q_tot_mean": float(masked_mean(q_taken.detach().mean(-1, keepdim=True), mask)),
        }

    def _targets(self, batch: EpisodeBatch, greedy: torch.Tensor) -> torch.Tensor:
        """TD(λ) targets (B, T, N) from the target critic at the next taken joint action; ``greedy``
        (B, T+1, N), the policy's argmax, stands in where an episode ended at t."""
        actions = batch.actions  # (B, T, N)
        with torch.no_grad():
            cont = torch.cat([batch.mask[:, 1:], torch.zeros_like(batch.mask[:, :1])], 1).bool()  # (B, T)
            shifted = torch.cat([actions[:, 1:], greedy[:, -1:]], dim=1)  # (B, T, N)
            next_act = torch.where(cont.unsqueeze(-1), shifted, greedy[:, 1:])  # (B, T, N)
            local = self._local(batch)  # (B, T+1, N, local_dim) or None
            next_q = _critic_q(self.target_mixer, batch.state[:, 1:], F.one_hot(next_act, self.n_actions).float(),
                               None if local is None else local[:, 1:])  # (B, T, N, A)
            next_q = gather_actions(next_q, next_act)  # (B, T, N)
            return td_targets(batch, next_q, self.cfg.gamma, self.cfg.td_lambda)  # (B, T, N): one head per agent

    def _local(self, batch: EpisodeBatch) -> torch.Tensor | None:
        """The critic's local inputs when it reads them (``local_inputs``): for every slot t, agent i's
        observation and the joint action of t − 1 (zeros at t = 0) -> (B, T+1, N, obs + N·A); else None."""
        if not getattr(self.mixer, "local_dim", 0):
            return None
        b, t1, n = batch.obs.shape[:3]
        joint = F.one_hot(batch.actions, self.n_actions).float().flatten(-2)  # (B, T, N*A)
        last = torch.cat([torch.zeros_like(joint[:, :1]), joint], dim=1)[:, :t1]  # (B, T+1, N*A)
        return torch.cat([batch.obs, last.unsqueeze(-2).expand(b, t1, n, last.shape[-1])], dim=-1)

    def _critic(self, batch: EpisodeBatch, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q(s, u^{-i}, ·) (B, T, N, A), Q at the taken u (B, T, N) and the critic's TD(λ) loss."""
        local = self._local(batch)  # (B, T+1, N, local_dim) or None
        q = _critic_q(self.mixer, batch.state[:, :-1], F.one_hot(batch.actions, self.n_actions).float(),
                      None if local is None else local[:, :-1])  # (B, T, N, A)
        q_taken = gather_actions(q, batch.actions)  # (B, T, N)
        return q, q_taken, masked_mean((q_taken - targets).pow(2), batch.mask.unsqueeze(-1))

    def fit_critic(self, batch: EpisodeBatch, targets: torch.Tensor | None = None) -> None:
        """One critic step per time step, latest first, each on that step's live rows (pymarl's order);
        ``targets`` (B, T, N) come from the target critic once, before the first step (computed here
        when not given)."""
        if targets is None:
            with torch.no_grad():
                targets = self._policy(batch)[2]  # (B, T, N)
        onehot = F.one_hot(batch.actions, self.n_actions).float()  # (B, T, N, A)
        local = self._local(batch)  # (B, T+1, N, local_dim) or None
        critic_params = list(self.mixer.parameters())
        live_steps = batch.mask.sum(0).nonzero().flatten().tolist()  # time steps with at least one live row
        for t in reversed(live_steps):
            q_t = _critic_q(self.mixer, batch.state[:, t], onehot[:, t], None if local is None else local[:, t])  # (B, N, A)
            q_t = gather_actions(q_t, batch.actions[:, t])  # (B, N)
            loss_t = masked_mean((q_t - targets[:, t]).pow(2), batch.mask[:, t].unsqueeze(-1))
            if not torch.isfinite(loss_t):
                raise FloatingPointError(f"critic loss is {loss_t.item()} at update {self.updates}, step {t}")
            self.optimizer.zero_grad(set_to_none=True)
            (self.critic_coef * loss_t).backward()  # the agents' grads stay None: the step skips them
            nn.utils.clip_grad_norm_(critic_params, self.cfg.grad_clip, foreach=True)
            self.optimizer.step()

    def train(self, batch: EpisodeBatch, behaviour_epsilon: float = 0.0) -> dict[str, float]:
        """With ``critic_per_step`` the critic is fitted first, then one actor step; the actor's unroll
        (with gradients) and the targets serve both. ``behaviour_epsilon``: as for :meth:`loss`."""
        batch = batch.to(self.device)
        if not self.critic_per_step:
            return self.step(*self.loss(batch, behaviour_epsilon))
        logits, _, targets = self._policy(batch)
        self.fit_critic(batch, targets)
        return self.step(*self._loss(batch, logits, targets, behaviour_epsilon))
