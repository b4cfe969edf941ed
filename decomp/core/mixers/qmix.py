"""QMIX (Rashid et al. 2018): a monotone mixing net whose weights come from state hypernetworks.

Q_tot = w2(s)ᵀ ELU(W1(s)ᵀ Q + b1(s)) + V(s), with W1 = |f1(s)| and w2 = |f2(s)| so that
∂Q_tot/∂Q^i ≥ 0 and IGM holds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.mixers.base import Mixer


def hypernet(in_dim: int, out_dim: int, hidden: int, layers: int) -> nn.Module:
    """A 1- or 2-layer hypernetwork (pymarl's `hypernet_layers`)."""
    if layers == 1:
        return nn.Linear(in_dim, out_dim)
    if layers == 2:
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
    raise ValueError(f"hypernet_layers must be 1 or 2, got {layers}")


class QMixMixer(Mixer):
    monotone = True

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        feat_dim: int = 0,
        embed_dim: int = 32,
        hypernet_layers: int = 2,
        hypernet_embed: int = 64,
    ) -> None:
        super().__init__(n_agents, state_dim, feat_dim)
        if embed_dim < 1:
            raise ValueError(f"embed_dim must be >= 1, got {embed_dim}")
        self.embed_dim = embed_dim
        self.hyper_w1 = hypernet(state_dim, n_agents * embed_dim, hypernet_embed, hypernet_layers)
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.hyper_w2 = hypernet(state_dim, embed_dim, hypernet_embed, hypernet_layers)
        self.hyper_v = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))

    def _weights(self, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        m = state.shape[0]
        w1 = self.hyper_w1(state).abs().view(m, self.n_agents, self.embed_dim)  # (M, N, E)
        b1 = self.hyper_b1(state)  # (M, E)
        w2 = self.hyper_w2(state).abs()  # (M, E)
        v = self.hyper_v(state)  # (M, 1)
        return w1, b1, w2, v

    # Broadcast-multiply-and-sum instead of bmm: with N, E ≈ 8..32 per sample, batched tiny
    # matmuls are ~3x slower on CPU than the elementwise form (benchmarks/learner.py).
    def mix(self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        w1, b1, w2, v = self._weights(state)
        hidden = F.elu((qs.unsqueeze(-1) * w1).sum(-2) + b1)  # (M, E)
        return (hidden * w2).sum(-1, keepdim=True) + v  # (M, 1)

    def local_weights(
        self, agent_qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Closed form: λ_i = Σ_k w2_k · ELU'(h_k) · W1_ik, ELU'(x) = 1 if x > 0 else eˣ."""
        batch = self._check(agent_qs, state, feats)
        qs = agent_qs.reshape(-1, self.n_agents)
        w1, b1, w2, _ = self._weights(state.reshape(-1, self.state_dim))
        pre = (qs.unsqueeze(-1) * w1).sum(-2) + b1  # (M, E)
        d_elu = torch.where(pre > 0, torch.ones_like(pre), pre.exp())  # (M, E)
        lam = (w1 * (d_elu * w2).unsqueeze(1)).sum(-1)  # (M, N)
        return lam.reshape(*batch, self.n_agents)
