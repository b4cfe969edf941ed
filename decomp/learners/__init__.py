"""Learner registry: which loss trains which mixer."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from decomp.envs.base import EnvInfo
from decomp.learners.base import Learner, LearnerConfig
from decomp.learners.qtran import QTranLearner
from decomp.learners.td import TDLearner

# mixer name -> learner class; mixers not listed use the TD learner. A learner is built as
# cls(agent, mixer, env_info, cfg, **options) with options from the config's `mixer.learner`.
LEARNERS: dict[str, Callable[..., Learner]] = {"qtran": QTranLearner}


def register_learner(mixer_name: str, factory: Callable[..., Learner]) -> None:
    LEARNERS[mixer_name] = factory


def make_learner(
    mixer_name: str, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig, **options: Any
) -> Learner:
    factory = LEARNERS.get(mixer_name, TDLearner)
    try:
        return factory(agent, mixer, info, cfg, **options)
    except TypeError as err:
        raise ValueError(f"bad learner options for {mixer_name!r} (mixer.learner={options}): {err}") from err


__all__ = ["Learner", "LearnerConfig", "TDLearner", "QTranLearner", "LEARNERS", "make_learner", "register_learner"]
