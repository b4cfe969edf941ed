"""QTRAN-base (Son et al. 2019): an unrestricted joint Q_jt(s, u) and a state value V(s).

The agents' utilities are combined additively (Q' = Σ_i Q^i) and tied to Q_jt by the opt / nopt
losses in :mod:`decomp.core.learners.qtran`; this module only holds the two networks. Each agent's
chosen action (one-hot, plus its id and optionally its hidden state) is encoded by a shared MLP and
the codes are summed, so the net works for any number of agents.
"""

from __future__ import annotations

import torch
from torch import nn

from decomp.core.mixers.base import JointCritic


class QTranJoint(JointCritic):
    """Q_jt(s, u) and V(s); trained by the QTRAN learners, not as Q_tot = f(Q^1..Q^n)."""

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        n_actions: int,
        hidden_dim: int = 0,
        embed_dim: int = 64,
    ) -> None:
        super().__init__(n_agents, state_dim, n_actions)
        self.hidden_dim = hidden_dim
        enc_in = n_actions + n_agents + hidden_dim
        self.action_enc = nn.Sequential(nn.Linear(enc_in, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))
        self.q_net = nn.Sequential(
            nn.Linear(state_dim + embed_dim, embed_dim), nn.ReLU(),
            nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1),
        )
        self.v_net = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))
        self.register_buffer("agent_ids", torch.eye(n_agents))

    def q_jt(
        self, state: torch.Tensor, actions_onehot: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> torch.Tensor:
        """state (*B, S), actions_onehot (*B, N, A), hidden (*B, N, H) -> Q_jt (*B, 1)."""
        batch = self.check(state, actions_onehot=(actions_onehot, (self.n_agents, self.n_actions)))
        parts = [actions_onehot, self.agent_ids.expand(*batch, self.n_agents, self.n_agents)]
        if self.hidden_dim:
            self.check(state, hidden=(hidden, (self.n_agents, self.hidden_dim)))
            parts.append(hidden)
        code = self.action_enc(torch.cat(parts, dim=-1)).sum(-2)  # (*B, embed)
        return self.q_net(torch.cat([state, code], dim=-1))  # (*B, 1)

    def v(self, state: torch.Tensor) -> torch.Tensor:
        """state (*B, S) -> V(s) (*B, 1)."""
        return self.v_net(state)

    def state_value(self, state: torch.Tensor) -> torch.Tensor:
        return self.v(state)
