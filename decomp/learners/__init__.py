"""The losses. Which method uses which learner is decided in one place: :mod:`decomp.methods`."""

from __future__ import annotations

from decomp.learners.base import Learner, LearnerConfig
from decomp.learners.qtran import QTranLearner
from decomp.learners.td import TDLearner
from decomp.learners.coma import ComaLearner
from decomp.learners.qplex import QPlexLearner
from decomp.learners.qtran_alt import QTranAltLearner
from decomp.learners.wqmix import WQMixLearner

__all__ = ["Learner", "LearnerConfig", "TDLearner", "QTranLearner", "QTranAltLearner", "QPlexLearner", "WQMixLearner",
           "ComaLearner"]
