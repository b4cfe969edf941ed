"""The report's statistics against their definitions (Wilson; rliable's IQM and probability of improvement)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from decomp.analysis.stats import (iqm, iqm_interval, mean_band, poi_interval, probability_of_improvement,
                                   stratified_bootstrap, wilson)

scores = st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) | st.floats(0, 1), min_size=1, max_size=8)


def test_wilson_matches_hand_computed_values() -> None:
    # p = 0.5, n = 10: centre 0.5, half-width 1.96·sqrt(0.025 + 0.0096)/1.384 -> [0.2366, 0.7634]
    w = wilson(5, 10)
    assert (w.value, round(w.low, 4), round(w.high, 4)) == (0.5, 0.2366, 0.7634)
    # 0 wins of 10: the interval still has width (z² / (n + z²) = 0.2775), unlike p ± z·se
    assert wilson(0, 10).low == 0.0 and round(wilson(0, 10).high, 4) == 0.2775
    assert round(wilson(10, 10).low, 4) == 0.7225 and wilson(10, 10).high == 1.0


@given(n=st.integers(1, 500), data=st.data())
def test_wilson_interval_contains_the_rate_and_narrows_with_n(n: int, data) -> None:
    wins = data.draw(st.integers(0, n))
    w = wilson(wins, n)
    assert 0.0 <= w.low <= w.value <= w.high <= 1.0
    wide, narrow = wilson(wins, n), wilson(4 * wins, 4 * n)
    assert narrow.high - narrow.low <= wide.high - wide.low + 1e-12


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="at least one episode"):
        wilson(0, 0)
    with pytest.raises(ValueError, match="wins must lie in"):
        wilson(11, 10)


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert iqm(np.arange(1, 9)) == 4.5  # mean of 3, 4, 5, 6
    assert iqm(np.array([[0.0, 1.0], [1.0, 0.0]])) == 0.5  # over runs × tasks together


@given(scores)
def test_iqm_equals_rliables_definition(values: list[float]) -> None:
    x = np.array(values)
    assert iqm(x) == pytest.approx(sps.trim_mean(x, 0.25, axis=None))


@settings(max_examples=50)
@given(scores, scores)
def test_probability_of_improvement_is_mann_whitney_u_over_nm(x: list[float], y: list[float]) -> None:
    a, b = np.array(x), np.array(y)
    u = sps.mannwhitneyu(a, b, alternative="greater").statistic if not np.array_equal(a, b) else len(a) * len(b) / 2
    assert probability_of_improvement(a, b) == pytest.approx(u / (len(a) * len(b)))
    assert probability_of_improvement(a, b) + probability_of_improvement(b, a) == pytest.approx(1.0)


def test_probability_of_improvement_counts_ties_as_half() -> None:
    assert probability_of_improvement(np.array([1.0, 1.0]), np.array([0.0, 0.5])) == 1.0
    assert probability_of_improvement(np.array([0.3, 0.3]), np.array([0.3])) == 0.5


def test_bootstrap_is_deterministic_and_stays_within_the_data() -> None:
    x = np.array([0.1, 0.5, 0.9, 0.7])
    a, b = stratified_bootstrap(x, seed=3), stratified_bootstrap(x, seed=3)
    assert np.array_equal(a, b) and a.min() >= 0.1 and a.max() <= 0.9
    ci = iqm_interval(x)
    assert ci.low <= ci.value <= ci.high
    constant = iqm_interval(np.full(3, 0.25))
    assert (constant.low, constant.value, constant.high) == (0.25, 0.25, 0.25)


def test_stratified_bootstrap_resamples_runs_within_each_task() -> None:
    # task 0 is all zeros, task 1 all ones: every resample keeps that split, so its mean is always 0.5
    x = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    assert np.all(stratified_bootstrap(x, lambda r: r.mean(axis=(1, 2)), reps=200) == 0.5)


def test_poi_interval_and_curve_band() -> None:
    ci = poi_interval(np.array([0.9, 0.8, 1.0]), np.array([0.1, 0.2, 0.0]))
    assert (ci.low, ci.value, ci.high) == (1.0, 1.0, 1.0)
    mean, low, high = mean_band(np.array([[0.0, 0.5, 1.0], [0.2, 0.5, 0.6]]))
    assert np.allclose(mean, [0.1, 0.5, 0.8]) and np.all(low <= mean) and np.all(mean <= high)


def test_bad_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN or inf"):
        iqm(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match="at least one run"):
        iqm(np.array([]))
    with pytest.raises(ValueError, match="same tasks"):
        probability_of_improvement(np.zeros((2, 2)), np.zeros((2, 3)))
