"""The QTRAN game: QTRAN recovers the optimum (A,A), VDN cannot (uniform data, over seeds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decomp.training.matrix_lab import divergence_bound, is_diverged, matrix_config, matrix_result, train_matrix
from decomp.cli.report import Job, Outcome, counts_as_optimal, game_table, seed_table

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


# ---- diverged runs are never optimal (issue 12, item 4) -------------------------------------------------
def test_divergence_bound_flags_huge_and_non_finite_values() -> None:
    payoff = np.array([[8.0, -12.0], [-12.0, 0.0]])
    bound = divergence_bound(payoff, 8.0)
    assert bound == pytest.approx(120.0)
    assert not is_diverged([payoff, np.array([119.0, -119.0])], bound)
    assert is_diverged([payoff, np.array([0.0, -121.0])], bound)
    assert is_diverged([np.array([np.nan, 0.0])], bound) and is_diverged([np.array([np.inf])], bound)


def test_a_diverged_run_with_an_optimal_argmax_is_not_optimal() -> None:
    """Train VDN on qmix_easy (optimal), then blow its utilities up ×1e4 (argmax and greedy return kept):
    the tables are read again and the run must come out diverged and not optimal."""
    from decomp.training.trainer import Trainer

    cfg = matrix_config("qmix_easy", "vdn", 0, 3000, "uniform", 0.2, lr=0.01)
    trainer = Trainer(cfg, run_dir=None)
    trainer.run()
    sane = matrix_result(trainer, cfg)
    assert sane.optimal and not sane.diverged, (sane.greedy_return, sane.q_tot)
    last = [m for m in trainer.learner.agent.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(1e4)
        last.bias.mul_(1e4)
    blown = matrix_result(trainer, cfg)
    assert blown.greedy == sane.greedy and blown.greedy_return == sane.greedy_return  # same argmax, same return
    assert blown.diverged and not blown.optimal


def _outcome(seed: int, optimal: bool, diverged: bool, q00: float) -> Outcome:
    payoff = np.array([[8.0, -12.0], [-12.0, 0.0]])
    q_tot = payoff.copy()
    q_tot[0, 0] = q00
    return Outcome(Job("qtran", "qplex", seed, "uniform", 10, 0.01), optimal, (0, 0), 8.0, q_tot, payoff, 1.0,
                   diverged)


def test_report_never_counts_a_diverged_outcome_as_optimal() -> None:
    """A diverged outcome (even one whose argmax is optimal and whose optimal flag is set) is counted
    as not optimal, labelled in both tables, and kept out of the value columns."""
    outs = [_outcome(0, True, False, 8.0), _outcome(1, True, True, 622.0)]
    assert not counts_as_optimal(outs[1]) and counts_as_optimal(outs[0])
    row = next(line for line in game_table(outs, "qtran", ["qplex"], 2).splitlines() if line.startswith("| `qplex`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "1/2 (1 diverged)"  # uniform: optimal
    assert cells[2] == "8.00" and cells[3] == "0.00"  # the diverged table (622 at the optimum) is left out
    seeds = seed_table(outs, "qtran", ["qplex"], 2)
    assert "→ 8 diverged" in seeds and seeds.count("✓") == 1
    only_diverged = game_table([outs[1]], "qtran", ["qplex"], 1)
    assert "0/1 (1 diverged) | diverged | diverged" in only_diverged
