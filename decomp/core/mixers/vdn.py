"""VDN (Sunehag et al. 2018): Q_tot = Σ_i Q^i, so λ_i ≡ 1."""

from __future__ import annotations

import torch

from decomp.core.mixers.base import Mixer


class VDNMixer(Mixer):
    monotone = True

    def mix(self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        return qs.sum(dim=-1, keepdim=True)  # (M, 1)

    def local_weights(
        self, agent_qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None = None
    ) -> torch.Tensor:
        self._check(agent_qs, state, feats)
        return torch.ones_like(agent_qs)  # (*B, n_agents)
