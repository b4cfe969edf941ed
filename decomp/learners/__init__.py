"""Learner registry: which loss trains which mixer."""

from __future__ import annotations

import functools
from typing import Any, Callable

from torch import nn

from decomp.envs.base import EnvInfo
from decomp.learners.base import Learner, LearnerConfig
from decomp.learners.qtran import QTranLearner
from decomp.learners.td import TDLearner
from decomp.learners.coma import ComaLearner
from decomp.learners.qplex import QPlexLearner
from decomp.learners.qtran_alt import QTranAltLearner
from decomp.learners.wqmix import WQMixLearner

# mixer name -> learner class; mixers not listed use the TD learner. A learner is built as
# cls(agent, mixer, env_info, cfg, **options) with options from the config's `mixer.learner`.
LEARNERS: dict[str, Callable[..., Learner]] = {"qtran": QTranLearner}


def register_learner(mixer_name: str, factory: Callable[..., Learner]) -> None:
    LEARNERS[mixer_name] = factory


register_learner("qtran_alt", QTranAltLearner)
register_learner("qplex", QPlexLearner)
register_learner("ow_qmix", functools.partial(WQMixLearner, weighting="ow"))
register_learner("cw_qmix", functools.partial(WQMixLearner, weighting="cw"))
register_learner("coma", ComaLearner)


def make_learner(
    mixer_name: str, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig, **options: Any
) -> Learner:
    factory = LEARNERS.get(mixer_name, TDLearner)
    try:
        return factory(agent, mixer, info, cfg, **options)
    except TypeError as err:
        raise ValueError(f"bad learner options for {mixer_name!r} (mixer.learner={options}): {err}") from err


__all__ = ["Learner", "LearnerConfig", "TDLearner", "QTranLearner", "LEARNERS", "make_learner", "register_learner",
           "QTranAltLearner", "QPlexLearner", "WQMixLearner", "ComaLearner"]
