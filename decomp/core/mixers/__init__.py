"""The mixing modules. Which method uses which module is decided in one place: :mod:`decomp.core.methods`."""

from __future__ import annotations

from decomp.core.mixers.base import ActionModule, Dims, JointCritic, Mixer, autograd_local_weights
from decomp.core.mixers.kinds import Kind, KindInfo, describe
from decomp.core.mixers.iql import IQLMixer
from decomp.core.mixers.qatten import QattenMixer
from decomp.core.mixers.qmix import QMixMixer
from decomp.core.mixers.qtran import QTranJoint
from decomp.core.mixers.vdn import VDNMixer
from decomp.core.mixers.coma import ComaCritic
from decomp.core.mixers.qplex import QPlexMixer
from decomp.core.mixers.wqmix import WQMixMixer

__all__ = [
    "Mixer", "ActionModule", "JointCritic", "Dims", "Kind", "KindInfo", "describe", "IQLMixer", "VDNMixer",
    "QMixMixer", "QattenMixer", "QTranJoint", "autograd_local_weights", "QPlexMixer", "WQMixMixer", "ComaCritic",
]
