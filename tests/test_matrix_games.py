"""The QTRAN game: QTRAN recovers the optimum (A,A), VDN cannot (uniform data, over seeds)."""

from __future__ import annotations

from typing import Any

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


# ---- VDN's closed form under uniform data (issue "Checks that can fail, part 2", item 3) ------------------
def additive_projection(payoff: np.ndarray) -> np.ndarray:
    """The least-squares fit of Σ_i f_i(a^i) to the payoff under uniform joint actions: Σ_i (mean over the
    other agents) − (n − 1) · grand mean; for 2 agents row mean + column mean − grand mean."""
    n = payoff.ndim
    out = np.full(payoff.shape, -(n - 1) * payoff.mean())
    for axis in range(n):
        others = tuple(a for a in range(n) if a != axis)
        out = out + np.expand_dims(payoff.mean(axis=others), others)
    return out


def test_additive_projection_by_hand() -> None:
    """The reference itself, on the QTRAN game written out: row/column means −16/3, −4, −4; grand mean −40/9."""
    q = additive_projection(np.array([[8.0, -12, -12], [-12, 0, 0], [-12, 0, 0]]))
    assert q[0, 0] == pytest.approx(-32 / 3 + 40 / 9) and q[1, 2] == pytest.approx(-8 + 40 / 9)
    assert q[0, 1] == pytest.approx(-16 / 3 - 4 + 40 / 9) and np.allclose(q, q.T)


# Uniform data, 10,000 env steps, the whole history in the buffer (the empirical joint-action frequencies stay
# within a few % of uniform), batch 512, lr 0.005 decayed linearly to 0: ~1.5 s per run on one core.
# Measured max |Q_tot − projection| over seeds 0-4 (this repository's 2-core CPU machine, torch float32):
#   qtran 0.39 (2.0 % of its payoff range 20) · climbing 0.70 (1.7 % of 41) · penalty 2.46 (2.2 % of 110)
#   · qplex3 0.83 (4.2 % of 20); seed 0 alone: 0.25, 0.59, 1.38, 0.20.
# The same runs with data=egreedy (ε 1 → 0.2), seed 0: 7.37 (37 %), 4.35 (11 %), 15.7 (14 %), 8.27 (41 %).
VDN_PROJECTION_TOL = 0.06  # × the game's payoff range; what is left is the sampling noise of the data
VDN_STEPS = 10_000
VDN_OVERRIDES: dict[str, Any] = {"batch_size": 512, "buffer_size": VDN_STEPS, "lr_schedule": "linear"}


@pytest.mark.parametrize("game", ["qtran", "climbing", "penalty", "qplex3"])
def test_vdn_learns_the_additive_projection_under_uniform_data(game: str) -> None:
    """VDN regresses Q_tot = Σ_i Q^i on uniformly sampled rewards, so it must converge to the payoff's additive
    projection (not to the payoff, which is not additive in these games) and Q_tot must be the sum of its Q^i."""
    run = train_matrix(game, "vdn", seed=0, steps=VDN_STEPS, data="uniform", **VDN_OVERRIDES)
    agent_sum = sum(np.expand_dims(q, tuple(j for j in range(run.payoff.ndim) if j != i))
                    for i, q in enumerate(run.agent_qs))
    np.testing.assert_allclose(run.q_tot, agent_sum, atol=1e-4, err_msg="VDN's Q_tot is not Σ_i Q^i")
    target = additive_projection(run.payoff)
    err = float(np.abs(run.q_tot - target).max())
    tol = VDN_PROJECTION_TOL * float(np.ptp(run.payoff))
    assert err <= tol, f"{game}: max |Q_tot − projection| = {err:.3f} > {tol:.3f}\n{np.round(run.q_tot, 2)}"
    assert float(np.abs(run.payoff - target).max()) > 3 * tol, "the game must not be additive (else vacuous)"


def test_matrix_config_takes_every_learning_rule_key_by_its_short_name() -> None:
    """``lr_schedule`` and ``lr_finish`` are learner keys added after LEARNER_KEYS (old-config migration) was
    frozen; matrix_config must route every LearnerConfig field to cfg.learner, not only the migrated ones."""
    cfg = matrix_config("qtran", "vdn", 0, 100, "uniform", 1.0, lr_schedule="linear", lr_finish=0.0001, lr=0.01)
    assert (cfg.learner.lr_schedule, cfg.learner.lr_finish, cfg.learner.lr) == ("linear", 0.0001, 0.01)
