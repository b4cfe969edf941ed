"""Mixer registry: one name per method, used by the config, the learner and the explorer."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from decomp.mixers.base import Mixer, autograd_local_weights
from decomp.mixers.iql import IQLMixer
from decomp.mixers.qatten import QattenMixer
from decomp.mixers.qmix import QMixMixer
from decomp.mixers.qtran import QTranJoint
from decomp.mixers.vdn import VDNMixer
from decomp.mixers.coma import ComaCritic
from decomp.mixers.qplex import QPlexMixer
from decomp.mixers.wqmix import WQMixMixer

# name -> (constructor taking (n_agents, state_dim, feat_dim, n_actions, **options), short description)
MIXERS: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "none": (lambda n, s, f, a, **kw: IQLMixer(n, s, f, **kw), "IQL: independent learners, no Q_tot"),
    "vdn": (lambda n, s, f, a, **kw: VDNMixer(n, s, f, **kw), "VDN: Q_tot = Σ Q^i"),
    "qmix": (lambda n, s, f, a, **kw: QMixMixer(n, s, f, **kw), "QMIX: monotone hypernetwork mixer"),
    "qatten": (lambda n, s, f, a, **kw: QattenMixer(n, s, f, **kw), "Qatten: multi-head attention, c(s) + Σ λ_i Q^i"),
    "qtran": (lambda n, s, f, a, **kw: QTranJoint(n, s, a, **kw), "QTRAN-base: Q_jt(s,u) + V(s) with opt/nopt losses"),
}


def register_mixer(name: str, ctor: Callable[..., nn.Module], description: str) -> None:
    """Add a mixer to the registry (used by later methods: qplex, wqmix, ...)."""
    MIXERS[name] = (ctor, description)


register_mixer("qtran_alt", lambda n, s, f, a, **kw: QTranJoint(n, s, a, **kw),
               "QTRAN-alt: QTRAN's networks with the counterfactual L_nopt-min")
register_mixer("qplex", lambda n, s, f, a, **kw: QPlexMixer(n, s, a, **kw),
               "QPLEX: duplex dueling, Σ V_i + Σ λ_i(s,u) A_i")
register_mixer("ow_qmix", lambda n, s, f, a, **kw: WQMixMixer(n, s, f, **kw),
               "OW-QMIX: QMIX projected from an unrestricted Q̂*, optimistic weights")
register_mixer("cw_qmix", lambda n, s, f, a, **kw: WQMixMixer(n, s, f, **kw),
               "CW-QMIX: QMIX projected from an unrestricted Q̂*, centrally weighted")
register_mixer("coma", lambda n, s, f, a, **kw: ComaCritic(n, s, a, **kw),
               "COMA: actor-critic with a counterfactual baseline (critic only, no Q_tot mixer)")


def make_mixer(
    name: str, n_agents: int, state_dim: int, feat_dim: int = 0, n_actions: int = 0, **options: Any
) -> nn.Module:
    """Build a mixer by name; an unknown name lists the valid ones."""
    if name not in MIXERS:
        raise ValueError(f"unknown mixer {name!r}; valid mixers: {', '.join(sorted(MIXERS))}")
    ctor, _ = MIXERS[name]
    try:
        return ctor(n_agents, state_dim, feat_dim, n_actions, **options)
    except TypeError as err:
        raise ValueError(f"bad options for mixer {name!r}: {err}") from err


__all__ = [
    "MIXERS", "Mixer", "IQLMixer", "VDNMixer", "QMixMixer", "QattenMixer", "QTranJoint",
    "make_mixer", "register_mixer", "autograd_local_weights", "QPlexMixer", "WQMixMixer", "ComaCritic",
]
