"""Shared mixer contract: input validation, batch flattening and local weights λ_i = ∂Q_tot/∂Q^i."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class Mixer(nn.Module):
    """Base class: combines per-agent utilities into Q_tot.

    Subclasses implement :meth:`mix` on a flat batch; :meth:`forward` checks shapes for any
    leading batch shape ``*B`` so that every mixer reports bad input the same way.

    ``monotone`` mixers guarantee ∂Q_tot/∂Q^i ≥ 0 (hence IGM) and expose :meth:`local_weights`.
    ``extras`` holds diagnostics and auxiliary losses of the last forward pass (e.g. Qatten's
    attention-logit regulariser); it is overwritten on every call. Every entry but ``aux_loss`` is a
    1-D diagnostic the TD learner logs as ``<log_prefix>/<key>/<i>``, so metric names are the method's.
    """

    monotone: bool = False
    needs_feats: bool = False
    log_prefix: str = "mixer"

    def __init__(self, n_agents: int, state_dim: int, feat_dim: int = 0) -> None:
        super().__init__()
        if n_agents < 1:
            raise ValueError(f"n_agents must be >= 1, got {n_agents}")
        if state_dim < 1:
            raise ValueError(f"state_dim must be >= 1, got {state_dim}")
        if self.needs_feats and feat_dim < 1:
            raise ValueError(
                f"{type(self).__name__} needs per-agent features (feat_dim >= 1), got feat_dim={feat_dim}"
            )
        self.n_agents = n_agents
        self.state_dim = state_dim
        self.feat_dim = feat_dim
        self.extras: dict[str, torch.Tensor] = {}

    # ---- contract -------------------------------------------------------------------------
    def mix(
        self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None
    ) -> torch.Tensor:
        """qs (M, n_agents), state (M, state_dim), feats (M, n_agents, feat_dim) -> (M, 1)."""
        raise NotImplementedError

    def forward(
        self,
        agent_qs: torch.Tensor,
        state: torch.Tensor,
        feats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """agent_qs (*B, n_agents), state (*B, state_dim), feats (*B, n_agents, feat_dim) -> (*B, 1)."""
        batch = self._check(agent_qs, state, feats)
        m = math.prod(batch)
        qs = agent_qs.reshape(m, self.n_agents)  # (M, n_agents)
        st = state.reshape(m, self.state_dim)  # (M, state_dim)
        ft = feats.reshape(m, self.n_agents, self.feat_dim) if feats is not None else None
        q_tot = self.mix(qs, st, ft)  # (M, 1)
        return q_tot.reshape(*batch, 1)

    def _check(
        self, agent_qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None
    ) -> tuple[int, ...]:
        name = type(self).__name__
        if agent_qs.dim() < 1 or agent_qs.shape[-1] != self.n_agents:
            raise ValueError(
                f"{name}: agent_qs must have shape (*B, n_agents={self.n_agents}), "
                f"got {tuple(agent_qs.shape)}"
            )
        batch = tuple(agent_qs.shape[:-1])
        if tuple(state.shape) != (*batch, self.state_dim):
            raise ValueError(
                f"{name}: state must have shape (*B, state_dim) = {(*batch, self.state_dim)} "
                f"to match agent_qs {tuple(agent_qs.shape)}, got {tuple(state.shape)}"
            )
        if self.needs_feats:
            if feats is None:
                raise ValueError(
                    f"{name}: per-agent features are required, shape (*B, n_agents, feat_dim) = "
                    f"{(*batch, self.n_agents, self.feat_dim)}; got None"
                )
        if feats is not None and self.feat_dim > 0:
            if tuple(feats.shape) != (*batch, self.n_agents, self.feat_dim):
                raise ValueError(
                    f"{name}: feats must have shape (*B, n_agents, feat_dim) = "
                    f"{(*batch, self.n_agents, self.feat_dim)}, got {tuple(feats.shape)}"
                )
        if not torch.is_floating_point(agent_qs):
            raise ValueError(f"{name}: agent_qs must be a floating tensor, got dtype {agent_qs.dtype}")
        return batch

    # ---- local weights -----------------------------------------------------------------
    def local_weights(
        self,
        agent_qs: torch.Tensor,
        state: torch.Tensor,
        feats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """λ_i(s) = ∂Q_tot/∂Q^i at the given point, shape (*B, n_agents).

        The default uses autograd (each batch element's Q_tot depends only on its own inputs, so
        the gradient of the sum is the per-element gradient). Subclasses with closed forms
        override this; tests check both agree.
        """
        if not self.monotone:
            raise NotImplementedError(
                f"{type(self).__name__} is not monotone: λ_i = ∂Q_tot/∂Q^i is not guaranteed ≥ 0 "
                "and is not exposed as local weights"
            )
        return autograd_local_weights(self, agent_qs, state, feats)

    def describe(self) -> dict[str, Any]:
        """A small dict for logs and the explorer."""
        return {"mixer": type(self).__name__, "monotone": self.monotone}


def autograd_local_weights(
    mixer: nn.Module,
    agent_qs: torch.Tensor,
    state: torch.Tensor,
    feats: torch.Tensor | None = None,
) -> torch.Tensor:
    """∂Q_tot/∂Q^i by autograd for any mixer, shape (*B, n_agents)."""
    with torch.enable_grad():
        qs = agent_qs.detach().clone().requires_grad_(True)
        q_tot = mixer(qs, state, feats)  # (*B, 1)
        (grad,) = torch.autograd.grad(q_tot.sum(), qs)
    return grad  # (*B, n_agents)
