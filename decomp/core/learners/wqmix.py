"""Weighted QMIX learners (Rashid et al. 2020): OW-QMIX and CW-QMIX.

Two value functions are trained side by side, both towards the same targets
y = r + γ Q̂*_target(s', ū'), ū' = the QMIX agents' greedy next action:
  * Q̂*(s, u) — central agents (a second, freshly initialised copy of the agent net) mixed by the
    unrestricted feed-forward ``mixer.central`` — by plain TD;
  * QMIX's Q_tot by a *weighted* TD loss Σ w (Q_tot − y)², which projects Q̂* onto the monotone class
    while caring most about the (near-)optimal joint actions:
      OW: w = 1 where Q_tot < y (the TD error is negative: Q_tot underestimates), else α;
      CW: w = 1 where u is QMIX's greedy joint action or y > Q̂*_target(s, û), else α.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from decomp.core.agents import AgentInputs
from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.learners.base import Learner, LearnerConfig
from decomp.core.ops import gather_actions, greedy_actions, masked_mean, td_targets
from decomp.core.mixers.wqmix import WQMixMixer

WEIGHTINGS = ("ow", "cw")


def fresh_copy(module: nn.Module) -> nn.Module:
    """Same architecture, new initial weights (for the central agents)."""
    clone = copy.deepcopy(module)
    for m in clone.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return clone


class WQMixLearner(Learner):
    """The central agents are registered as an extra (online, target) pair, so they share the
    optimiser, the target schedule and the checkpoint (keys "central_agent", "target_central_agent")."""

    central_agent: nn.Module
    target_central_agent: nn.Module

    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig,
                 weighting: str = "ow", alpha: float = 0.1, central_loss: float = 1.0, *,
                 inputs: AgentInputs = AgentInputs()) -> None:
        if not isinstance(mixer, WQMixMixer):
            raise ValueError(f"WQMixLearner needs a WQMixMixer (method=ow_qmix|cw_qmix), got {type(mixer).__name__}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha (weight of the down-weighted joint actions) must lie in (0, 1], got {alpha}")
        if central_loss <= 0:
            raise ValueError(f"central_loss must be > 0, got {central_loss}")
        super().__init__(agent, mixer, info, cfg, inputs=inputs)
        self.weighting, self.alpha, self.central_loss = weighting, alpha, central_loss

    def extra_modules(self) -> dict[str, nn.Module]:
        """Q̂*'s agents: same architecture, own weights, so Q̂* is not tied to QMIX's utilities."""
        return {"central_agent": fresh_copy(self.agent)}

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        inputs = self.agent_inputs(batch)  # (B, T+1, N, in)
        st, ft, av = batch.state, batch.feats, batch.avail
        q_all, _ = self.unroll(self.agent, inputs, batch)  # (B, T+1, N, A)
        central_q, _ = self.unroll(self.central_agent, inputs, batch)  # (B, T+1, N, A)
        q_tot = self.mixer(gather_actions(q_all[:, :-1], batch.actions), st[:, :-1], ft[:, :-1])  # (B, T, 1)
        q_star = self.mixer.central(gather_actions(central_q[:, :-1], batch.actions), st[:, :-1])  # (B, T, 1)

        with torch.no_grad():
            target_central_q, _ = self.unroll(self.target_central_agent, inputs, batch)  # (B, T+1, N, A)
            greedy = greedy_actions(q_all.detach(), av)  # (B, T+1, N) QMIX's greedy joint action
            if not cfg.double_q:
                target_q, _ = self.unroll(self.target_agent, inputs, batch)
                greedy = greedy_actions(target_q, av)
            next_star = self.target_mixer.central(gather_actions(target_central_q[:, 1:], greedy[:, 1:]), st[:, 1:])
            targets = td_targets(batch, next_star, cfg.gamma, cfg.td_lambda)  # (B, T, 1)
            td = q_tot.detach() - targets  # (B, T, 1)
            if self.weighting == "ow":
                full = td < 0
            else:
                is_greedy = (batch.actions == greedy[:, :-1]).all(-1, keepdim=True)  # (B, T, 1)
                star_greedy = self.target_mixer.central(
                    gather_actions(target_central_q[:, :-1], greedy[:, :-1]), st[:, :-1])  # (B, T, 1)
                full = is_greedy | (targets > star_greedy)
            w = torch.where(full, 1.0, self.alpha)  # (B, T, 1)

        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)
        qmix_loss = masked_mean(w * (q_tot - targets).pow(2), mask)
        central_loss = masked_mean((q_star - targets).pow(2), mask)
        loss = qmix_loss + self.central_loss * central_loss
        return loss, {
            "losses/td": float(qmix_loss.detach()), "losses/central": float(central_loss.detach()),
            "train/q_tot_mean": float(masked_mean(q_tot.detach(), mask)),
            "train/q_star_mean": float(masked_mean(q_star.detach(), mask)),
            "wqmix/weight_mean": float(masked_mean(w, mask)),
        }
