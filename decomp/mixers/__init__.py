"""The mixing modules. Which method uses which module is decided in one place: :mod:`decomp.methods`."""

from __future__ import annotations

from decomp.mixers.base import ActionModule, Dims, JointCritic, Mixer, autograd_local_weights
from decomp.mixers.kinds import Kind, KindInfo, describe
from decomp.mixers.iql import IQLMixer
from decomp.mixers.qatten import QattenMixer
from decomp.mixers.qmix import QMixMixer
from decomp.mixers.qtran import QTranJoint
from decomp.mixers.vdn import VDNMixer
from decomp.mixers.coma import ComaCritic
from decomp.mixers.qplex import QPlexMixer
from decomp.mixers.wqmix import WQMixMixer

__all__ = [
    "Mixer", "ActionModule", "JointCritic", "Dims", "Kind", "KindInfo", "describe", "IQLMixer", "VDNMixer",
    "QMixMixer", "QattenMixer", "QTranJoint", "autograd_local_weights", "QPlexMixer", "WQMixMixer", "ComaCritic",
]
