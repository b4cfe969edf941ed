"""Matrix-game lab: train methods on a payoff (cached on the settings) and summarise the outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from decomp.training import matrix_lab
from decomp.training.matrix_lab import MatrixRun
from explorer_lib.validate import action_labels
from games import Payoff

_CACHE_SIZE = 256  # trained runs kept per server; a run is a few kB of tables plus a small mixer


@dataclass(frozen=True)
class GameSpec:
    """What to train on: a preset name (with its default parameters) or explicit payoff values."""

    name: str
    values: np.ndarray  # payoff tensor (k_1, ..., k_n)
    preset: bool  # True: pass the name to train_matrix; False: pass a Payoff

    @property
    def payoff(self) -> Payoff:
        return Payoff(self.values, self.name)

    def key(self) -> tuple[object, ...]:
        """Hashable identity: two specs with equal values train identically."""
        v = np.ascontiguousarray(self.values, dtype=np.float64)
        return (self.name, self.preset, v.shape, v.tobytes())


@dataclass(frozen=True)
class TrainSettings:
    """Everything that changes a training result; it is the cache key."""

    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int
    data: str  # "uniform" | "egreedy"
    epsilon: float


@st.cache_resource(show_spinner=False)
def _store() -> tuple[dict[tuple[object, ...], MatrixRun], threading.Lock]:
    """One run cache per server process, shared by sessions (training is deterministic per seed)."""
    return {}, threading.Lock()


def train_one(
    game: GameSpec, method: str, seed: int, s: TrainSettings, progress: Callable[[float], None] | None = None
) -> MatrixRun:
    """Train (or fetch from the cache) one method/seed."""
    key = (*game.key(), method, seed, s.steps, s.data, s.epsilon)
    cache, lock = _store()
    with lock:
        hit = cache.get(key)
    if hit is not None:
        if progress:
            progress(1.0)
        return hit
    target: str | Payoff = game.name if game.preset else game.payoff
    run = matrix_lab.train_matrix(
        target, method, seed=seed, steps=s.steps, data=s.data, epsilon=s.epsilon, progress=progress
    )
    with lock:
        if len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))  # oldest first (dicts keep insertion order)
        cache[key] = run
    return run


def train_all(
    game: GameSpec, s: TrainSettings, on_progress: Callable[[float, str], None] | None = None
) -> dict[tuple[str, int], MatrixRun]:
    """Every (method, seed) pair, reporting overall progress in [0, 1] with a label."""
    jobs = [(m, seed) for m in s.methods for seed in s.seeds]
    runs: dict[tuple[str, int], MatrixRun] = {}
    for j, (m, seed) in enumerate(jobs):
        label = f"training {m}, seed {seed} ({j + 1}/{len(jobs)})"

        def report(frac: float, j: int = j, label: str = label) -> None:
            if on_progress:
                on_progress(min(1.0, (j + max(0.0, min(1.0, frac))) / len(jobs)), label)

        report(0.0)
        runs[(m, seed)] = train_one(game, m, seed, s, report)
    if on_progress:
        on_progress(1.0, f"trained {len(jobs)} runs")
    return runs


def joint_label(action: Sequence[int]) -> str:
    """(0, 2) -> '(A, C)', as in the payoff tables."""
    return "(" + ", ".join(action_labels(max(action) + 1)[a] for a in action) + ")"


def found_count(runs: dict[tuple[str, int], MatrixRun], method: str) -> tuple[int, int]:
    """(seeds whose greedy joint action is optimal, seeds)."""
    mine = [r for (m, _), r in runs.items() if m == method]
    return sum(bool(r.optimal) for r in mine), len(mine)


def summary_table(runs: dict[tuple[str, int], MatrixRun], methods: Sequence[str]) -> pd.DataFrame:
    """One row per method: how often the greedy joint action is optimal, and what it earns."""
    rows = []
    for m in methods:
        mine = [r for (mm, _), r in sorted(runs.items()) if mm == m]
        if not mine:
            continue
        k, n = found_count(runs, m)
        earned = [float(r.payoff[tuple(r.greedy)]) for r in mine]
        rows.append(
            {
                "method": m,
                "optimum found": f"{k} of {n} seeds",
                "greedy joint actions": ", ".join(joint_label(r.greedy) for r in mine),
                "payoff at greedy (mean)": f"{np.mean(earned):.3g}",
                "best payoff": f"{float(np.max(mine[0].payoff)):.3g}",
                "final loss (mean)": f"{np.mean([_final_loss(r) for r in mine]):.3g}",
            }
        )
    return pd.DataFrame(rows).set_index("method") if rows else pd.DataFrame()


def seed_table(runs: dict[tuple[str, int], MatrixRun]) -> pd.DataFrame:
    """One row per (method, seed) for the details expander."""
    rows = [
        {
            "method": m,
            "seed": seed,
            "greedy": joint_label(r.greedy),
            "payoff at greedy": float(r.payoff[tuple(r.greedy)]),
            "optimal": "yes" if r.optimal else "no",
            "Q_tot at greedy": float(np.asarray(r.q_tot)[tuple(r.greedy)]),
            "final loss": _final_loss(r),
        }
        for (m, seed), r in sorted(runs.items())
    ]
    return pd.DataFrame(rows)


def _final_loss(run: MatrixRun, window: int = 50) -> float:
    losses = np.asarray(run.losses, dtype=float)
    return float(losses[-window:].mean()) if losses.size else float("nan")
