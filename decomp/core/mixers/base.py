"""Shared mixer contract: input validation, batch flattening and local weights λ_i = ∂Q_tot/∂Q^i."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from decomp.core.mixers.kinds import Kind, describe


@dataclass(frozen=True)
class Dims:
    """The env facts a mixing module is built from (each base picks the ones it needs)."""

    n_agents: int
    state_dim: int
    feat_dim: int = 0
    n_actions: int = 0
    obs_dim: int = 0  # one agent's observation (critics that read it: COMA's with local_inputs)


class Mixer(nn.Module):
    """Base class: combines per-agent utilities into Q_tot.

    Subclasses implement :meth:`mix` on a flat batch; :meth:`forward` checks shapes for any
    leading batch shape ``*B`` so that every mixer reports bad input the same way.

    ``monotone`` mixers guarantee ∂Q_tot/∂Q^i ≥ 0 (hence IGM) and expose :meth:`local_weights`.
    ``extras`` holds diagnostics and auxiliary losses of the last forward pass (e.g. Qatten's
    attention-logit regulariser); it is overwritten on every call. Every entry but ``aux_loss`` is a
    1-D diagnostic the TD learner logs as ``<log_prefix>/<key>/<i>``, so metric names are the method's.
    """

    kind: ClassVar[Kind] = Kind.VALUE
    monotone: bool = False
    needs_feats: bool = False
    log_prefix: str = "mixer"

    @classmethod
    def from_dims(cls, dims: Dims, **options: Any) -> "Mixer":
        return cls(dims.n_agents, dims.state_dim, dims.feat_dim, **options)

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
        if describe(self.kind).no_lambda:
            raise NotImplementedError(f"{type(self).__name__}: {describe(self.kind).no_lambda}")
        if not self.monotone:
            raise NotImplementedError(
                f"{type(self).__name__} is not monotone: λ_i = ∂Q_tot/∂Q^i is not guaranteed ≥ 0 "
                "and is not exposed as local weights"
            )
        return autograd_local_weights(self, agent_qs, state, feats)

    def describe(self) -> dict[str, Any]:
        """A small dict for logs and the explorer."""
        return {"mixer": type(self).__name__, "kind": self.kind.value, "monotone": self.monotone}


class ActionModule(nn.Module):
    """Base of the modules that see the joint action (action-conditioned mixers, joint critics).

    They take (n_agents, state_dim, n_actions) and have no λ_i = ∂Q_tot/∂Q^i; :meth:`check` gives
    every one of them the same shape errors.
    """

    kind: ClassVar[Kind]
    monotone: bool = False

    @classmethod
    def from_dims(cls, dims: Dims, **options: Any) -> "ActionModule":
        return cls(dims.n_agents, dims.state_dim, dims.n_actions, **options)

    def __init__(self, n_agents: int, state_dim: int, n_actions: int) -> None:
        super().__init__()
        if n_agents < 1 or state_dim < 1 or n_actions < 1:
            raise ValueError(f"{type(self).__name__} needs n_agents, state_dim, n_actions >= 1, "
                             f"got {n_agents}, {state_dim}, {n_actions}")
        self.n_agents, self.state_dim, self.n_actions = n_agents, state_dim, n_actions
        self.extras: dict[str, torch.Tensor] = {}

    def check(self, state: torch.Tensor, **tensors: tuple[torch.Tensor | None, tuple[int, ...]]) -> tuple[int, ...]:
        """state (*B, S) fixes *B; each ``name=(tensor, trailing_shape)`` must be (*B, *trailing_shape)."""
        name = type(self).__name__
        if state.dim() < 1 or state.shape[-1] != self.state_dim:
            raise ValueError(f"{name}: state must have shape (*B, state_dim={self.state_dim}), got {tuple(state.shape)}")
        batch = tuple(state.shape[:-1])
        for key, (t, trailing) in tensors.items():
            shape = (*batch, *trailing)
            if t is None or tuple(t.shape) != shape:
                got = None if t is None else tuple(t.shape)
                raise ValueError(f"{name}: {key} must have shape {shape} to match state {tuple(state.shape)}, got {got}")
        return batch

    def local_weights(self, *args: object, **kwargs: object) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__}: {describe(self.kind).no_lambda}")

    def describe(self) -> dict[str, Any]:
        return {"mixer": type(self).__name__, "kind": self.kind.value, "monotone": False,
                "igm": describe(self.kind).igm}


class JointCritic(ActionModule):
    """A joint network of the state and the joint action: Q_jt(s, u) (QTRAN) or COMA's critic."""

    kind: ClassVar[Kind] = Kind.JOINT
    hidden_dim: int = 0
    """> 0: q_jt also takes each agent's recurrent hidden state (*B, N, hidden_dim)"""

    def q_jt(self, state: torch.Tensor, actions_onehot: torch.Tensor,
             hidden: torch.Tensor | None = None) -> torch.Tensor:
        """state (*B, S), actions_onehot (*B, N, A), hidden (*B, N, H) -> (*B, 1)."""
        raise NotImplementedError

    def state_value(self, state: torch.Tensor) -> torch.Tensor | None:
        """V(s) (*B, 1) when the critic has one (QTRAN), else None."""
        return None


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
