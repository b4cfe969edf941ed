"""IQL: no mixing. Each agent regresses the shared reward on its own utility.

Returns the per-agent utilities unchanged, shape (*B, n_agents); the learner treats every
column as an independent Q-learner with the team reward.
"""

from __future__ import annotations


from typing import ClassVar

import torch

from decomp.core.mixers.base import Mixer
from decomp.core.mixers.kinds import Kind


class IQLMixer(Mixer):
    kind: ClassVar[Kind] = Kind.INDEPENDENT
    monotone = False

    def forward(
        self, agent_qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None = None
    ) -> torch.Tensor:
        self._check(agent_qs, state, feats)
        return agent_qs  # (*B, n_agents)

    def mix(self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        return qs


