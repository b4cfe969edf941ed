"""The QTRAN game: QTRAN recovers the optimum (A,A), VDN cannot (uniform data, over seeds)."""

from __future__ import annotations

import pytest

from decomp.matrix import train_matrix

SEEDS = range(5)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, list[bool]]:
    return {m: [train_matrix("qtran", m, seed=s, data="uniform").optimal for s in SEEDS] for m in ("qtran", "vdn")}


def test_qtran_finds_the_optimum_in_at_least_4_of_5_seeds(outcomes: dict[str, list[bool]]) -> None:
    assert sum(outcomes["qtran"]) >= 4, outcomes["qtran"]


def test_vdn_never_finds_it(outcomes: dict[str, list[bool]]) -> None:
    assert sum(outcomes["vdn"]) == 0, outcomes["vdn"]


def test_tables_have_the_game_shape() -> None:
    run = train_matrix("qtran", "qatten", seed=0, steps=640)
    assert run.q_tot.shape == (3, 3) and len(run.agent_qs) == 2 and run.losses.size > 0
    assert run.mix(run.payoff[..., None].repeat(2, -1)).shape == (3, 3)
    qtran = train_matrix("qtran", "qtran", seed=0, steps=640)
    assert qtran.mix([0.0, 0.0]) is None and "sum_qi" in qtran.extra_tables
