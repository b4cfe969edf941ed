"""Weighted QMIX (Rashid et al. 2020): the QMIX mixer plus an unrestricted central Q̂*.

Q_tot is the ordinary monotone QMIX mixer (inherited, so IGM and ``local_weights`` are QMIX's); the
extra module ``central`` mixes the central agents' utilities with the state through a plain
feed-forward net with no abs, so Q̂*(s, u) can represent non-monotonic payoffs. The learner
(:mod:`decomp.core.learners.wqmix`) trains Q̂* by TD and projects it onto Q_tot with a weighted loss.
"""

from __future__ import annotations

import torch
from torch import nn

from decomp.core.mixers.qmix import QMixMixer


class CentralMixer(nn.Module):
    """Q̂*(s, u) = FF([s, Q*^1(u^1), …, Q*^n(u^n)]): unrestricted, not monotone."""

    monotone = False

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 256) -> None:
        super().__init__()
        if embed_dim < 1:
            raise ValueError(f"central embed_dim must be >= 1, got {embed_dim}")
        self.n_agents, self.state_dim = n_agents, state_dim
        self.net = nn.Sequential(
            nn.Linear(state_dim + n_agents, embed_dim), nn.ReLU(),
            nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1),
        )

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """agent_qs (*B, N), state (*B, S) -> Q̂* (*B, 1)."""
        if agent_qs.shape[-1] != self.n_agents or state.shape[:-1] != agent_qs.shape[:-1] \
                or state.shape[-1] != self.state_dim:
            raise ValueError(
                f"CentralMixer: expected agent_qs (*B, {self.n_agents}) and state (*B, {self.state_dim}), "
                f"got {tuple(agent_qs.shape)} and {tuple(state.shape)}"
            )
        return self.net(torch.cat([state, agent_qs], dim=-1))


class WQMixMixer(QMixMixer):
    """QMIX's monotone mixer (Q_tot, used for acting) that also owns the central Q̂* mixer."""

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        feat_dim: int = 0,
        embed_dim: int = 32,
        hypernet_layers: int = 2,
        hypernet_embed: int = 64,
        central_embed_dim: int = 256,
    ) -> None:
        super().__init__(n_agents, state_dim, feat_dim, embed_dim, hypernet_layers, hypernet_embed)
        self.central = CentralMixer(n_agents, state_dim, central_embed_dim)
