"""QTRAN-base (Son et al. 2019): an unrestricted joint Q_jt(s, u) and a state value V(s).

The agents' utilities are combined additively (Q' = Σ_i Q^i) and tied to Q_jt by the opt / nopt
losses in :mod:`decomp.learners.qtran`; this module only holds the two networks. Each agent's
chosen action (one-hot, plus its id and optionally its hidden state) is encoded by a shared MLP and
the codes are summed, so the net works for any number of agents.
"""

from __future__ import annotations

import torch
from torch import nn


class QTranJoint(nn.Module):
    monotone = False
    joint = True  # trained by the QTRAN learner, not as Q_tot = f(Q^1..Q^n)

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        n_actions: int,
        hidden_dim: int = 0,
        embed_dim: int = 64,
    ) -> None:
        super().__init__()
        if n_actions < 1:
            raise ValueError(f"n_actions must be >= 1, got {n_actions}")
        self.n_agents, self.state_dim, self.n_actions, self.hidden_dim = n_agents, state_dim, n_actions, hidden_dim
        enc_in = n_actions + n_agents + hidden_dim
        self.action_enc = nn.Sequential(nn.Linear(enc_in, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))
        self.q_net = nn.Sequential(
            nn.Linear(state_dim + embed_dim, embed_dim), nn.ReLU(),
            nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1),
        )
        self.v_net = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))
        self.register_buffer("agent_ids", torch.eye(n_agents))
        self.extras: dict[str, torch.Tensor] = {}

    def q_jt(
        self, state: torch.Tensor, actions_onehot: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> torch.Tensor:
        """state (*B, S), actions_onehot (*B, N, A), hidden (*B, N, H) -> Q_jt (*B, 1)."""
        batch = tuple(state.shape[:-1])
        if state.shape[-1] != self.state_dim:
            raise ValueError(f"QTranJoint: state must be (*B, {self.state_dim}), got {tuple(state.shape)}")
        if tuple(actions_onehot.shape) != (*batch, self.n_agents, self.n_actions):
            raise ValueError(
                f"QTranJoint: actions_onehot must be {(*batch, self.n_agents, self.n_actions)}, "
                f"got {tuple(actions_onehot.shape)}"
            )
        parts = [actions_onehot, self.agent_ids.expand(*batch, self.n_agents, self.n_agents)]
        if self.hidden_dim:
            if hidden is None or tuple(hidden.shape) != (*batch, self.n_agents, self.hidden_dim):
                got = None if hidden is None else tuple(hidden.shape)
                raise ValueError(f"QTranJoint: hidden must be {(*batch, self.n_agents, self.hidden_dim)}, got {got}")
            parts.append(hidden)
        code = self.action_enc(torch.cat(parts, dim=-1)).sum(-2)  # (*B, embed)
        return self.q_net(torch.cat([state, code], dim=-1))  # (*B, 1)

    def v(self, state: torch.Tensor) -> torch.Tensor:
        """state (*B, S) -> V(s) (*B, 1)."""
        return self.v_net(state)
