"""Theorem 1/2 numbers for a lab run, via ``theory.numeric`` (the theory module owns the maths).

This adapter only feeds a :class:`MatrixRun`'s mixer, state and utility tables to
:func:`theory.numeric.analyse_mixer` and reshapes its per-joint-action arrays into tables.
"""

from __future__ import annotations

import numpy as np

from decomp.training.matrix_lab import MatrixRun
from decomp.core.methods import kind_of
from decomp.core.mixers import describe
from theory.numeric import NumericResult, analyse_mixer

MAX_ORDER = 8


def analyse(run: MatrixRun, max_order: int = MAX_ORDER) -> NumericResult:
    """λ_i, c, linearisation error and λ_{i,h} at the run's state; ``defined=False`` says why not."""
    if run.mixer is None or run.state is None:
        return NumericResult(run.method, defined=False, reason=f"{run.method}: no trained mixer in this run")
    return analyse_mixer(run.mixer, run.agent_qs, run.state, run.feats, max_order=max_order)


def error_table(res: NumericResult, run: MatrixRun) -> np.ndarray:
    """|Q_tot − (c + Σ λ_i Q^i)| laid out like the payoff (analyse_mixer enumerates joint actions in C order)."""
    return np.asarray(res.err, dtype=float).reshape(tuple(len(q) for q in run.agent_qs))


def why_not_function(run: MatrixRun) -> str:
    """The user-facing reason a run has no Q_tot = F(Q^1..Q^n) (the registry's one description of its kind)."""
    if run.mixer is None:
        return f"{run.method}: no trained mixer in this run"
    return f"{run.method}: {describe(kind_of(run.mixer)).no_lambda}"


def is_value_mixer(run: MatrixRun) -> bool:
    """True when the run's mixer is Q_tot = F(s, Q^1..Q^n) (so surfaces and λ_i exist)."""
    return run.is_function_of_q
