"""The best greedy policy seen by the periodic evaluations.

Value-based MARL policies oscillate late in training (on SMAX 3m the test win rate of one run
moved between ≈ 75 % and 94 % over its last 60k steps), so the last weights are not always the
ones a user wants. The trainer keeps the weights of the best evaluation and, at the end,
re-evaluates them on fresh episodes, so the number it reports for them is not the lucky draw
that selected them.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from decomp.core.learners.base import Learner


def acting_weights(learner: Learner) -> dict[str, Any]:
    """A copy of the weights a greedy evaluation uses: the online agent (acting) and mixer (eval/q_tot)."""
    return copy.deepcopy({"agent": learner.agent.state_dict(), "mixer": learner.mixer.state_dict()})


@contextlib.contextmanager
def swapped_in(learner: Learner, weights: dict[str, Any]) -> Iterator[None]:
    """Temporarily load ``weights`` (as :func:`acting_weights` makes them) into the learner's online networks."""
    saved = acting_weights(learner)
    learner.agent.load_state_dict(weights["agent"])
    learner.mixer.load_state_dict(weights["mixer"])
    try:
        yield
    finally:
        learner.agent.load_state_dict(saved["agent"])
        learner.mixer.load_state_dict(saved["mixer"])


@dataclass
class BestPolicy:
    step: int = -1
    win_rate: float = float("-inf")
    ret: float = float("-inf")
    weights: dict[str, Any] | None = None  # {"agent": state_dict, "mixer": state_dict}

    def offer(self, step: int, evals: dict[str, float], learner: Learner) -> bool:
        """Keep the learner's current weights if this evaluation beats the best (win rate, then return)."""
        key = (evals["eval/win_rate"], evals["eval/return"])
        if self.weights is not None and key <= (self.win_rate, self.ret):
            return False
        self.step, (self.win_rate, self.ret) = step, key
        self.weights = acting_weights(learner)
        return True

    def swapped_in(self, learner: Learner) -> contextlib.AbstractContextManager[None]:
        """Temporarily load the best weights into the learner's online agent and mixer."""
        if self.weights is None:
            raise RuntimeError("no evaluation has been recorded yet")
        return swapped_in(learner, self.weights)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "win_rate": self.win_rate, "return": self.ret, "weights": self.weights}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.step, self.win_rate, self.ret, self.weights = sd["step"], sd["win_rate"], sd["return"], sd["weights"]
