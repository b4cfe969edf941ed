"""QPLEX learner: masked TD on Q_tot, where the mixer also sees the joint action and each max Q^i.

Same targets as :class:`~decomp.core.learners.td.TDLearner` (double-Q greedy next action evaluated by the
target nets, TD(λ)); only the mixer call differs, because QPLEX's λ_i(s, u) needs the joint action.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.agents import AgentInputs
from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.learners.base import LearnerConfig
from decomp.core.ops import gather_actions, usable_avail
from decomp.core.learners.td import TDLearner


class QPlexLearner(TDLearner):
    """``lr`` / ``grad_clip`` (learner options, None = the run's) override the run's values for QPLEX
    only, so a shared setting (the matrix report's lr) can be kept for every other method."""

    # the mixer runs on every slot, padding included, so its max Q^i needs finite rows there
    open_padded_avail = True

    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig,
                 lr: float | None = None, grad_clip: float | None = None, *,
                 inputs: AgentInputs = AgentInputs()) -> None:
        if (lr is not None and lr <= 0) or (grad_clip is not None and grad_clip <= 0):
            raise ValueError(f"qplex lr and grad_clip must be > 0 (or None), got {lr}, {grad_clip}")
        cfg = dataclasses.replace(cfg, lr=cfg.lr if lr is None else lr,
                                  grad_clip=cfg.grad_clip if grad_clip is None else grad_clip)
        super().__init__(agent, mixer, info, cfg, inputs=inputs)

    def mix_chosen(
        self, mixer: nn.Module, q: torch.Tensor, actions: torch.Tensor, batch: EpisodeBatch, steps: slice,
    ) -> torch.Tensor:
        """q (B, T, N, A), actions (B, T, N) -> Q_tot (B, T, 1); the mixer also gets the joint action
        one-hot and each agent's max Q^i over its available actions (V_i and A_i need it)."""
        avail = usable_avail(batch.avail[:, steps])  # (B, T, N, A)
        max_q = q.masked_fill(~avail, float("-inf")).max(-1).values  # (B, T, N)
        onehot = F.one_hot(actions, q.shape[-1]).to(q.dtype)  # (B, T, N, A)
        return mixer(gather_actions(q, actions), batch.state[:, steps], batch.feats[:, steps], onehot, max_q)
