"""Standard non-monotonic matrix games from the value-decomposition literature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from games.payoff import Payoff


def qtran_game() -> Payoff:
    """Son et al. 2019 (QTRAN), also used by QPLEX and Weighted QMIX: optimum (A,A)=8."""
    return Payoff(np.array([[8, -12, -12], [-12, 0, 0], [-12, 0, 0]]), "qtran")


def qmix_easy_game() -> Payoff:
    """pymarl's one-step matrix game with a small penalty: non-monotonic but QMIX can fit it."""
    return Payoff(np.array([[12, -0.1, -0.1], [-0.1, 0, 0], [-0.1, 0, 0]]), "qmix_easy")


def climbing_game() -> Payoff:
    """Claus & Boutilier 1998: optimum (0,0)=11 surrounded by heavy penalties."""
    return Payoff(np.array([[11, -30, 0], [-30, 7, 6], [0, 0, 5]]), "climbing")


def penalty_game(k: float = -100.0) -> Payoff:
    """Claus & Boutilier 1998: two optima (0,0),(2,2)=10, mis-coordination costs k ≤ 0."""
    return Payoff(np.array([[10, 0, k], [0, 2, 0], [k, 0, 10]]), "penalty")


def qplex_game() -> Payoff:
    """A 3-agent coordination game in the spirit of QPLEX's didactic examples: reward 8 only when
    all agents pick action 0, −12 when exactly some do, 0 otherwise (n > 2 generalisation of the
    QTRAN game)."""
    a = np.zeros((3, 3, 3))
    zeros = (np.indices((3, 3, 3)) == 0).sum(0)
    a[zeros == 3] = 8
    a[(zeros > 0) & (zeros < 3)] = -12
    return Payoff(a, "qplex3")


@dataclass(frozen=True)
class TwoStepGame:
    """QMIX paper's two-step game (Rashid et al. 2018, Fig. 3).

    Step 1: agent 1's action picks state 2A (action 0) or 2B (action 1); no reward.
    Step 2: 2A pays 7 whatever the agents do; 2B pays [[0, 1], [1, 8]]. Optimum: 2B then (1,1) = 8.
    """

    name: str = "two_step"
    n_agents: int = 2
    n_actions_each: int = 2

    def stage_payoffs(self) -> tuple[Payoff, Payoff]:
        return Payoff(np.full((2, 2), 7.0), "2A"), Payoff(np.array([[0.0, 1.0], [1.0, 8.0]]), "2B")

    @property
    def optimum(self) -> float:
        return 8.0


GAMES: dict[str, Callable[..., Payoff | TwoStepGame]] = {
    "qtran": qtran_game,
    "qmix_easy": qmix_easy_game,
    "climbing": climbing_game,
    "penalty": penalty_game,
    "qplex3": qplex_game,
    "two_step": TwoStepGame,
}


def make_game(name: str, **params: float) -> Payoff | TwoStepGame:
    """Build a preset by name; unknown names list the valid ones."""
    if name not in GAMES:
        raise ValueError(f"unknown game {name!r}; valid games: {', '.join(sorted(GAMES))}")
    try:
        return GAMES[name](**params)
    except TypeError as err:
        raise ValueError(f"bad parameters for game {name!r}: {err}") from err
