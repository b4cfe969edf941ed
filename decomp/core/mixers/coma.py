"""COMA's centralised critic (Foerster et al. 2018): Q(s, u^{-i}, ·) for every agent at once.

Agent i's input is the state, its id one-hot and the other agents' actions one-hot (its own slot
zeroed); the output holds one value per own action, so the counterfactual baseline
Σ_a π^i(a) Q(s, (u^{-i}, a)) needs no extra forward passes. The critic is a joint network
Q(s, u), not a function of the Q^i: it has no local weights. With ``local_inputs`` it also reads agent
i's observation and the previous joint action, as pymarl's COMACritic does.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from decomp.core.mixers.base import Dims, JointCritic
from decomp.core.mixers.kinds import Kind


class ComaCritic(JointCritic):
    """The critic of a policy-gradient method: the agent nets are COMA's actors (they output logits)."""

    kind: ClassVar[Kind] = Kind.POLICY
    env_params: ClassVar[tuple[str, ...]] = ("obs_dim",)  # set from the env by from_dims, not an option

    @classmethod
    def from_dims(cls, dims: Dims, **options: Any) -> "ComaCritic":
        return cls(dims.n_agents, dims.state_dim, dims.n_actions, obs_dim=dims.obs_dim, **options)

    def __init__(self, n_agents: int, state_dim: int, n_actions: int, embed_dim: int = 128,
                 local_inputs: bool = False, obs_dim: int = 0) -> None:
        super().__init__(n_agents, state_dim, n_actions)
        if embed_dim < 1:
            raise ValueError(f"ComaCritic needs embed_dim >= 1, got {embed_dim}")
        if local_inputs and obs_dim < 1:
            raise ValueError(f"ComaCritic local_inputs=true reads the agents' observations: needs obs_dim >= 1, "
                             f"got {obs_dim}")
        self.local_dim = obs_dim + n_agents * n_actions if local_inputs else 0  # obs_i, previous joint action
        in_dim = state_dim + n_agents + n_agents * n_actions + self.local_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim), nn.ReLU(),
            nn.Linear(embed_dim, n_actions),
        )
        self.register_buffer("agent_ids", torch.eye(n_agents))
        self.register_buffer("others", (1.0 - torch.eye(n_agents)).unsqueeze(-1))  # (N, N, 1): zero own slot

    def forward(self, state: torch.Tensor, actions_onehot: torch.Tensor,
                local: torch.Tensor | None = None) -> torch.Tensor:
        """state (*B, S), actions_onehot (*B, N, A), local (*B, N, local_dim) with ``local_inputs``
        -> Q(s, u^{-i}, a) (*B, N, A)."""
        n, a = self.n_agents, self.n_actions
        if self.local_dim:
            if local is None:
                raise ValueError("this COMA critic reads local inputs (local_inputs=true): pass each agent's "
                                 "observation and the previous joint action (ComaLearner does)")
            batch = self.check(state, actions_onehot=(actions_onehot, (n, a)), local=(local, (n, self.local_dim)))
        else:
            batch = self.check(state, actions_onehot=(actions_onehot, (n, a)))
        others = (actions_onehot.unsqueeze(-3) * self.others).flatten(-2)  # (*B, N, N*A): row i hides agent i
        parts = [state.unsqueeze(-2).expand(*batch, n, self.state_dim), self.agent_ids.expand(*batch, n, n), others]
        if self.local_dim:
            parts.append(local)
        return self.net(torch.cat(parts, dim=-1))  # (*B, N, A)

    def q_jt(
        self, state: torch.Tensor, actions_onehot: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The critic's Q(s, u) for a joint action: mean over agents of Q(s, u^{-i}, u^i) -> (*B, 1)."""
        q = self.forward(state, actions_onehot)  # (*B, N, A)
        return (q * actions_onehot).sum(-1).mean(-1, keepdim=True)
