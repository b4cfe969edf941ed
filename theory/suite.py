"""The checks behind ``python -m theory.check``: each example / mixer produces results and PASS/FAIL checks.

Kept apart from printing (:mod:`theory.report`) and plotting (:mod:`theory.plots`) so the tests can
run the same checks without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import sympy as sp
import torch

from decomp.core.methods import make_mixer
from theory.checks import (
    RAY_TS, SERIES_RTOL, Check, OrderFit, check_attention, check_decay, check_lambda_exact, check_mixer_lambda,
    check_mixer_remainder, check_nonneg, check_ray_exact, check_remainder_exact, check_series_sum, ray_ratios,
)
from theory.examples import Example, malformed, suite
from theory.numeric import NumericResult, analyse_mixer
from theory.problem import Problem, make_problem
from theory.symbolic import Remainder, Theorem1, Theorem2, remainder_order, theorem1, theorem2

SUM_RTOL = SERIES_RTOL  # kept for callers of the old name
NOT_ANALYTIC = ("F is not analytic on the segment z → Q(a_o) (Chebyshev fit ≠ exact autograd, e.g. QMIX's "
                "ELU kink), so Theorem 2's premise fails and its series need not sum to λ_i")

__all__ = ["RAY_TS", "SUM_RTOL", "Check", "ExampleResult", "run_example", "example_checks", "run_malformed", "run_numeric",
           "numeric_checks", "not_defined_check", "series_unavailable_check", "run_all"]


@dataclass
class ExampleResult:
    example: Example
    problem: Problem
    t1: Theorem1
    rem: Remainder  # order predicted from F's Taylor series at Q(a_o) (does not use c, λ)
    t2: Theorem2
    ray: tuple[float, ...]  # direction d of the plotted ray
    ts: tuple[float, ...]
    r_abs: tuple[float, ...]  # |R(a_o + t d)| at ts, for the computed c, λ
    slope: float | None  # fitted log|R| vs log t
    checks: list[Check] = field(default_factory=list)
    measured: OrderFit | None = None  # order of the true remainder per direction, for the computed c, λ


def run_example(ex: Example, max_order: int = 20) -> ExampleResult:
    """Theorem 1 and 2 for one example, with the checks the example is expected to pass."""
    p = make_problem(**ex.kwargs())
    t1 = theorem1(p)
    rem = remainder_order(p)
    t2 = theorem2(p, t1, max_order)
    ray = tuple((-1) ** j * (j + 1) / p.n for j in range(p.n))
    dist, r_abs = ray_ratios(p, t1.c, t1.lam, ray)
    res = ExampleResult(ex, p, t1, rem, t2, ray, tuple(dist), tuple(r_abs), _slope(dist, r_abs))
    res.checks = example_checks(res)
    return res


def _slope(x: np.ndarray, y: np.ndarray) -> float | None:
    keep = y > 1e-300
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0]) if keep.sum() >= 3 else None


def example_checks(r: ExampleResult, c: sp.Expr | float | None = None, lam: Sequence[sp.Expr | float] | None = None) -> list[Check]:
    """The checks of one example; pass ``c`` / ``lam`` to test other values than the computed ones
    (``r.measured`` is only updated for the computed ones)."""
    computed = c is None and lam is None
    ex, name, p = r.example, r.example.name, r.problem
    c = r.t1.c if c is None else c
    lam = r.t1.lam if lam is None else lam
    out = []
    if ex.monotone:
        out.append(check_nonneg([float(sp.N(x)) for x in lam], name))
    else:
        negative = [i + 1 for i, x in enumerate(lam) if float(sp.N(x)) < 0]
        agents = ", ".join(str(i) for i in negative)
        out.append(Check(f"{name}: non-monotone F detected (some λ_i < 0)", bool(negative), f"λ < 0 for agent(s) {agents or '—'}"))
    out.append(check_lambda_exact(p, lam, name))
    rem_check, fit = check_remainder_exact(p, c, lam, name, r.rem)
    if computed:
        r.measured = fit
    expect = "exact (R ≡ 0)" if ex.order is None else str(ex.order)
    out.append(Check(f"{name}: predicted remainder order as expected", r.rem.is_little_o_of_square and r.rem.label() == expect,
                     f"order {r.rem.label()} (expected {expect}; from F's derivatives, not from c, λ)"))
    out.append(rem_check)
    out.append(check_ray_exact(p, c, lam, r.ray, name))
    lam_h = np.array(r.t2.lam_h).T  # (H, n)
    out.append(check_series_sum(lam_h, [float(sp.N(x, 30)) for x in lam], name))
    out.append(check_decay(r.t2.decay, ex.decay, name))
    return out


def run_malformed() -> list[Check]:
    """Every malformed input must be refused with a ValueError whose message says what was wrong."""
    import re

    out = []
    for case in malformed():
        try:
            make_problem(**case.kwargs)
        except ValueError as err:
            ok = re.search(case.match, str(err)) is not None
            out.append(Check(f"refuses: {case.name}", ok, str(err)))
        else:
            out.append(Check(f"refuses: {case.name}", False, "accepted (no ValueError)"))
    return out


# ---- numeric side on freshly initialised mixers -----------------------------------------------------
NUMERIC_MIXERS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("vdn", "vdn", {}),
    ("qmix", "qmix", {}),
    ("qatten", "qatten", {}),
    ("qatten(nonlinear)", "qatten", {"nonlinear": True}),
    ("qtran", "qtran", {}),
    ("iql", "iql", {}),
)


def run_numeric(seed: int = 3, n_actions: Sequence[int] = (3, 4, 5), state_dim: int = 6, feat_dim: int = 4) -> list[tuple[str, NumericResult, list[Check]]]:
    """The numeric side on untrained (seeded) mixers and random utility tables."""
    n = len(n_actions)
    gen = torch.Generator().manual_seed(seed)
    tables = [torch.randn(k, generator=gen, dtype=torch.float64).numpy() for k in n_actions]
    state = torch.randn(state_dim, generator=gen)
    feats = torch.randn(n, feat_dim, generator=gen)
    out = []
    for label, name, opts in NUMERIC_MIXERS:
        torch.manual_seed(seed)
        mixer = make_mixer(name, n, state_dim, feat_dim, max(n_actions), **opts)
        res = analyse_mixer(mixer, tables, state, feats)
        out.append((label, res, numeric_checks(label, res)))
    return out


def numeric_checks(label: str, res: NumericResult, c: float | None = None, lam: np.ndarray | None = None) -> list[Check]:
    """What must hold for a mixer; pass ``c`` / ``lam`` to test other values than the computed ones.

    Undefined → one NOT DEFINED line (neither a pass nor a failure). Otherwise λ vs finite differences
    (and the closed form), the true remainder's order, Σ_h λ_(i,h) vs λ (XFAIL when F is not analytic;
    FAIL naming the error when the λ_(i,h) could not be computed), Qatten's head weights vs λ; for a
    monotone mixer also λ ≥ 0 and IGM.
    """
    if not res.defined:
        return [not_defined_check(label, res.reason)]
    c = res.c if c is None else float(c)
    lam = res.lam if lam is None else np.asarray(lam, dtype=np.float64)
    if res.F is None:
        raise ValueError(f"{label}: this NumericResult carries no mixer function F (built by analyse_mixer?)")
    out = [
        check_mixer_lambda(res.F, res.q_greedy, lam, label, res.lam_closed)[0],
        check_mixer_remainder(res.F, res.q_greedy, c, lam, label)[0],
    ]
    if res.lam_h is not None:
        out.append(check_series_sum(res.lam_h, lam, label, waived="" if res.analytic else NOT_ANALYTIC))
    else:  # the higher orders could not be computed: Theorem 2 went unchecked, and that is a failure
        out.append(series_unavailable_check(label, res))
    if res.monotone:
        out.append(check_nonneg(lam, label))
        out.append(Check(f"{label}: IGM on the joint table", res.igm, f"greedy {res.greedy}"))
    if res.attention_lam is not None and res.monotone and res.lam_closed is not None:
        out.append(check_attention(res.attention_lam, lam, label))
    return out


def not_defined_check(label: str, reason: str) -> Check:
    """The one line for a mixer without λ_i (QTRAN's joint network, IQL): NOT DEFINED, never a pass."""
    return Check.not_defined(f"{label}: λ_i = ∂Q_tot/∂Q^i", reason or "λ_i is not defined (no reason given)")


def series_unavailable_check(label: str, res: NumericResult) -> Check:
    """Σ_h λ_(i,h) = λ_i could not be checked because the λ_(i,h) computation failed: a FAIL naming the error."""
    why = res.orders_error or "analyse_mixer produced no λ_(i,h)"
    return Check(f"{label}: Σ_h λ_(i,h) = λ_i", False, f"λ_(i,h) could not be computed ({why}); Theorem 2 unchecked")


def run_all(max_order: int = 20) -> tuple[list[ExampleResult], list[Check], list[tuple[str, NumericResult, list[Check]]]]:
    """Symbolic examples, malformed-input refusals and the numeric mixers, in that order."""
    return [run_example(ex, max_order) for ex in suite()], run_malformed(), run_numeric()
