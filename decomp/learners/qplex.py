"""QPLEX learner: masked TD on Q_tot, where the mixer also sees the joint action and each max Q^i.

Same targets as :class:`~decomp.learners.td.TDLearner` (double-Q greedy next action evaluated by the
target nets, TD(λ)); only the mixer call differs, because QPLEX's λ_i(s, u) needs the joint action.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from decomp.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.learners.base import Learner, LearnerConfig
from decomp.learners.ops import gather_actions, masked_mean, td_targets, usable_avail


def qplex_q_tot(mixer: nn.Module, q: torch.Tensor, actions: torch.Tensor, state: torch.Tensor,
                feats: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """q (B, T, N, A), actions (B, T, N), state (B, T, S), avail (B, T, N, A) -> Q_tot (B, T, 1)."""
    chosen = gather_actions(q, actions)  # (B, T, N)
    max_q = q.masked_fill(~usable_avail(avail), float("-inf")).max(-1).values  # (B, T, N)
    onehot = F.one_hot(actions, q.shape[-1]).to(q.dtype)  # (B, T, N, A)
    return mixer(chosen, state, feats, onehot, max_q)


class QPlexLearner(Learner):
    """``lr`` / ``grad_clip`` (learner options, None = the run's) override the run's values for QPLEX
    only, so a shared setting (the matrix report's lr) can be kept for every other method."""

    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig,
                 lr: float | None = None, grad_clip: float | None = None) -> None:
        if (lr is not None and lr <= 0) or (grad_clip is not None and grad_clip <= 0):
            raise ValueError(f"qplex lr and grad_clip must be > 0 (or None), got {lr}, {grad_clip}")
        cfg = dataclasses.replace(cfg, lr=cfg.lr if lr is None else lr,
                                  grad_clip=cfg.grad_clip if grad_clip is None else grad_clip)
        super().__init__(agent, mixer, info, cfg)

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        inputs = self.agent_inputs(batch)  # (B, T+1, N, in)
        q_all, _ = self.unroll(self.agent, inputs, batch)  # (B, T+1, N, A)
        st, ft, av = batch.state, batch.feats, batch.avail
        q_tot = qplex_q_tot(self.mixer, q_all[:, :-1], batch.actions, st[:, :-1], ft[:, :-1], av[:, :-1])  # (B, T, 1)
        lam = self.mixer.extras.get("lambda")

        with torch.no_grad():
            target_q, _ = self.unroll(self.target_agent, inputs, batch)  # (B, T+1, N, A)
            next_act = self.next_greedy(q_all[:, 1:], target_q[:, 1:], usable_avail(av[:, 1:]))  # (B, T, N)
            next_tot = qplex_q_tot(self.target_mixer, target_q[:, 1:], next_act, st[:, 1:], ft[:, 1:], av[:, 1:])
            targets = td_targets(batch, next_tot, cfg.gamma, cfg.td_lambda)  # (B, T, 1)

        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)
        loss = masked_mean((q_tot - targets).pow(2), mask)
        logs = {"losses/td": float(loss.detach()), "train/q_tot_mean": float(masked_mean(q_tot.detach(), mask)),
                "train/target_mean": float(masked_mean(targets, mask))}
        if lam is not None:
            logs.update({f"qplex/lambda/{i}": v for i, v in enumerate(lam.tolist())})
        return loss, logs
