"""Learner registry: which loss trains which mixer."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from decomp.learners.base import Learner, LearnerConfig
from decomp.learners.qtran import QTranLearner
from decomp.learners.td import TDLearner

# mixer name -> learner factory; mixers not listed use the TD learner
LEARNERS: dict[str, Callable[..., Learner]] = {"qtran": QTranLearner}


def make_learner(
    mixer_name: str, agent: nn.Module, mixer: nn.Module, n_actions: int, cfg: LearnerConfig, **extra: Any
) -> Learner:
    factory = LEARNERS.get(mixer_name, TDLearner)
    return factory(agent, mixer, n_actions, cfg, **extra) if extra else factory(agent, mixer, n_actions, cfg)


__all__ = ["Learner", "LearnerConfig", "TDLearner", "QTranLearner", "LEARNERS", "make_learner"]
