"""SmoothQMIX: QMIX with softplus where QMIX has |·| and ELU — a new method in one file (docs/extending.md).

QMIX's Q_tot = w2(s)ᵀ ELU(W1(s)ᵀ Q + b1(s)) + V(s), with W1 = |f1(s)| and w2 = |f2(s)|, is monotone in
every Q^i, but ELU has no second derivative at 0, so Q_tot is not analytic in the Q^i and Theorem 2's
Σ_h λ_(i,h) = λ_i can only be an expected failure for it (`python -m theory.check`). Softplus weights
and a softplus activation shifted to 0 at 0 keep every weight > 0 (λ_i > 0, so IGM holds) and make
Q_tot analytic in the Q^i: the theory suite's symbolic ``qmix_softplus``, as a trainable mixer (what
that buys on the matrix games is in docs/extending.md).

    DECOMP_METHODS=examples.smooth_qmix python -m decomp.train env=matrix env.game=qmix_easy method=smooth_qmix
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.learners import TDLearner
from decomp.core.methods import Method, register
from decomp.core.mixers.base import Mixer


def hypernet(state_dim: int, out_dim: int, hidden: int) -> nn.Module:
    """state (M, S) -> (M, out_dim): the unconstrained output the weights are made positive from."""
    return nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class SmoothQMixMixer(Mixer):
    """Q_tot = w2(s)ᵀ σ₀(W1(s)ᵀ Q + b1(s)) + V(s); W1, w2 = softplus(hypernets) > 0, σ₀ = softplus − log 2."""

    monotone = True  # a claim the shared property tests and the theory checks hold it to

    def __init__(self, n_agents: int, state_dim: int, feat_dim: int = 0, embed_dim: int = 32,
                 hypernet_embed: int = 64) -> None:
        super().__init__(n_agents, state_dim, feat_dim)
        if embed_dim < 1 or hypernet_embed < 1:
            raise ValueError(f"embed_dim and hypernet_embed must be >= 1, got {embed_dim} and {hypernet_embed}")
        self.embed_dim = embed_dim
        self.hyper_w1 = hypernet(state_dim, n_agents * embed_dim, hypernet_embed)
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.hyper_w2 = hypernet(state_dim, embed_dim, hypernet_embed)
        self.hyper_v = hypernet(state_dim, 1, hypernet_embed)

    def _layer(self, qs: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """qs (M, N), state (M, S) -> W1 (M, N, E), pre-activation (M, E), w2 (M, E), V (M, 1)."""
        w1 = F.softplus(self.hyper_w1(state)).view(-1, self.n_agents, self.embed_dim)  # (M, N, E)
        pre = (qs.unsqueeze(-1) * w1).sum(-2) + self.hyper_b1(state)  # (M, E)
        return w1, pre, F.softplus(self.hyper_w2(state)), self.hyper_v(state)

    def mix(self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        _, pre, w2, v = self._layer(qs, state)
        return ((F.softplus(pre) - math.log(2.0)) * w2).sum(-1, keepdim=True) + v  # (M, 1)

    def local_weights(self, agent_qs: torch.Tensor, state: torch.Tensor,
                      feats: torch.Tensor | None = None) -> torch.Tensor:
        """Closed form λ_i = Σ_k w2_k sigmoid(pre_k) W1_ik (softplus' = sigmoid), shape (*B, N): > 0 everywhere."""
        batch = self._check(agent_qs, state, feats)
        w1, pre, w2, _ = self._layer(agent_qs.reshape(-1, self.n_agents), state.reshape(-1, self.state_dim))
        lam = (w1 * (torch.sigmoid(pre) * w2).unsqueeze(1)).sum(-1)  # (M, N)
        return lam.reshape(*batch, self.n_agents)


# The registration: a name, one line for menus, the mixer and the learner (QMIX's TD learner, unchanged).
register(Method("smooth_qmix", "SmoothQMIX: QMIX with softplus weights and activation (examples/)",
                SmoothQMixMixer, TDLearner))
