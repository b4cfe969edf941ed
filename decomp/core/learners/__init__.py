"""The losses. Which method uses which learner is decided in one place: :mod:`decomp.core.methods`."""

from __future__ import annotations

from decomp.core.learners.base import Learner, LearnerConfig
from decomp.core.learners.qtran import QTranLearner
from decomp.core.learners.td import TDLearner
from decomp.core.learners.coma import ComaLearner
from decomp.core.learners.qplex import QPlexLearner
from decomp.core.learners.qtran_alt import QTranAltLearner
from decomp.core.learners.wqmix import WQMixLearner

__all__ = ["Learner", "LearnerConfig", "TDLearner", "QTranLearner", "QTranAltLearner", "QPlexLearner", "WQMixLearner",
           "ComaLearner"]
