"""Statistics for few-seed RL results: Wilson intervals, IQM, stratified bootstrap, probability of improvement.

The aggregate measures follow Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"
(the rliable library): IQM = 25 % trimmed mean over all runs, percentile confidence intervals from a
bootstrap that resamples runs within each task (stratified), and P(X > Y) = the Mann-Whitney U
statistic / (n·m) per task (ties count one half), averaged over tasks. They are written out here
because rliable 1.2.0 does not import with this environment: it requires arch < 8, and arch 7.2
imports pandas' ``deprecate_kwarg`` with its pandas-2 signature (pandas is 3.1 here), while arch 8
rejects rliable's ``random_state=None``; marl-eval needs rliable and pins pandas 1.4.4.
``tests/test_stats.py`` checks these functions against the definitions on hand-computed cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats as sps

Z95 = 1.959963984540054  # standard normal quantile for a two-sided 95 % interval
Statistic = Callable[[np.ndarray], np.ndarray]  # (reps, runs, tasks) -> (reps,)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95 % confidence interval."""

    value: float
    low: float
    high: float

    def fmt(self, scale: float = 1.0, digits: int = 2) -> str:
        return f"{self.value * scale:.{digits}f} [{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"


def wilson(wins: int, n: int, z: float = Z95) -> Interval:
    """Win rate wins/n with its Wilson score interval (sound at 0 %, 100 % and small n, unlike p ± z·se)."""
    if n <= 0:
        raise ValueError(f"need at least one episode, got n={n}")
    if not 0 <= wins <= n:
        raise ValueError(f"wins must lie in [0, n={n}], got {wins}")
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # analytically low = 0 at p = 0 and high = 1 at p = 1; clamp the rounding so the interval holds p
    return Interval(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def _scores(x: np.ndarray) -> np.ndarray:
    """(runs,) or (runs, tasks) -> (runs, tasks) float array; refuses empty or non-finite input."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"scores must be (runs,) or (runs, tasks) with at least one run, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("scores contain NaN or inf (an unfinished run?)")
    return a


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50 % of all runs × tasks (rliable's aggregate_iqm)."""
    return float(sps.trim_mean(_scores(scores), proportiontocut=0.25, axis=None))


def _iqm_batched(x: np.ndarray) -> np.ndarray:
    """IQM of each bootstrap replicate: (reps, runs, tasks) -> (reps,)."""
    return sps.trim_mean(x.reshape(x.shape[0], -1), proportiontocut=0.25, axis=1)


def stratified_bootstrap(scores: np.ndarray, statistic: Statistic = _iqm_batched, reps: int = 2000,
                         seed: int = 0) -> np.ndarray:
    """``reps`` values of ``statistic`` on resamples that draw runs with replacement within each task."""
    a = _scores(scores)
    runs, tasks = a.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, runs, size=(reps, runs, tasks))  # (reps, runs, tasks)
    return statistic(np.take_along_axis(np.broadcast_to(a, (reps, runs, tasks)), idx, axis=1))


def iqm_interval(scores: np.ndarray, reps: int = 2000, seed: int = 0) -> Interval:
    """IQM with its 95 % percentile interval from the stratified bootstrap."""
    boot = stratified_bootstrap(scores, _iqm_batched, reps, seed)
    return Interval(iqm(scores), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5)))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y): per task the chance that a random run of X beats one of Y (ties ½), averaged over tasks."""
    a, b = _scores(x), _scores(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y need the same tasks, got {a.shape[1]} and {b.shape[1]}")
    return float(np.mean(_poi_batched(a[None], b[None])))


def _poi_batched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(reps, n, tasks), (reps, m, tasks) -> (reps,): mean over tasks of P(a > b) + ½ P(a = b)."""
    diff = a[:, :, None, :] - b[:, None, :, :]  # (reps, n, m, tasks)
    per_task = ((diff > 0) + 0.5 * (diff == 0)).mean(axis=(1, 2))  # (reps, tasks)
    return per_task.mean(axis=1)


def poi_interval(x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0) -> Interval:
    """P(X > Y) with a 95 % percentile interval; X's and Y's runs are resampled independently per task."""
    a, b = _scores(x), _scores(y)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, a.shape[0], size=(reps, *a.shape))
    ib = rng.integers(0, b.shape[0], size=(reps, *b.shape))
    ra = np.take_along_axis(np.broadcast_to(a, (reps, *a.shape)), ia, axis=1)
    rb = np.take_along_axis(np.broadcast_to(b, (reps, *b.shape)), ib, axis=1)
    boot = _poi_batched(ra, rb)
    return Interval(probability_of_improvement(a, b), float(np.percentile(boot, 2.5)),
                    float(np.percentile(boot, 97.5)))


def mean_band(curves: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Learning-curve band over seeds: (seeds, points) -> mean, 2.5 % and 97.5 % bootstrap percentiles per point."""
    c = np.asarray(curves, dtype=float)
    if c.ndim != 2 or c.shape[0] == 0:
        raise ValueError(f"curves must be (seeds, points), got shape {c.shape}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, c.shape[0], size=(reps, c.shape[0]))
    means = c[idx].mean(axis=1)  # (reps, points)
    return c.mean(axis=0), np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)
