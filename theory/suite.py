"""The checks behind ``python -m theory.check``: each example / mixer produces results and PASS/FAIL checks.

Kept apart from printing (:mod:`theory.report`) and plotting (:mod:`theory.plots`) so the tests can
run the same checks without a terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from decomp.mixers import make_mixer
from theory.examples import Example, malformed, suite
from theory.numeric import NumericResult, analyse_mixer
from theory.problem import Problem, make_problem
from theory.symbolic import Remainder, Theorem1, Theorem2, remainder_along, remainder_order, theorem1, theorem2

SUM_RTOL = 1e-6  # Σ_h λ_{i,h} must match λ_i to this relative tolerance
RAY_TS = tuple(10.0 ** -k for k in np.arange(0.5, 3.01, 0.25))  # distances t = |a − a_o| along a ray


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ExampleResult:
    example: Example
    problem: Problem
    t1: Theorem1
    rem: Remainder
    t2: Theorem2
    ray: tuple[float, ...]  # direction d of the plotted ray
    ts: tuple[float, ...]
    r_abs: tuple[float, ...]  # |R(a_o + t d)| at ts
    slope: float | None  # fitted log|R| vs log t
    checks: list[Check] = field(default_factory=list)


def run_example(ex: Example, max_order: int = 16) -> ExampleResult:
    """Theorem 1 and 2 for one example, with the checks the example is expected to pass."""
    p = make_problem(**ex.kwargs())
    t1 = theorem1(p)
    rem = remainder_order(p)
    t2 = theorem2(p, t1, max_order)
    ray = tuple((-1) ** j * (j + 1) / p.n for j in range(p.n))
    r_abs = tuple(remainder_along(p, t1, ray, RAY_TS))
    norm = math.sqrt(sum(d * d for d in ray))
    dist = np.array(RAY_TS) * norm
    res = ExampleResult(ex, p, t1, rem, t2, ray, tuple(dist), r_abs, _slope(dist, np.array(r_abs)))
    res.checks = _example_checks(res)
    return res


def _slope(x: np.ndarray, y: np.ndarray) -> float | None:
    keep = y > 1e-300
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0]) if keep.sum() >= 3 else None


def _example_checks(r: ExampleResult) -> list[Check]:
    ex, name = r.example, r.example.name
    lam = r.t1.lam_float()
    out = []
    if ex.monotone:
        out.append(Check(f"{name}: λ_i ≥ 0", r.t1.monotone_ok, f"λ = {_fmt(lam)}"))
    else:
        agents = ", ".join(str(i + 1) for i in r.t1.negative)
        out.append(Check(f"{name}: non-monotone F detected (some λ_i < 0)", not r.t1.monotone_ok, f"λ < 0 for agent(s) {agents or '—'}"))
    expect = "exact (R ≡ 0)" if ex.order is None else str(ex.order)
    ok = r.rem.is_little_o_of_square and r.rem.label() == expect
    out.append(Check(f"{name}: remainder o(|a−a_o|²)", ok, f"order {r.rem.label()} (expected {expect})"))
    ratios = [rv / t**2 for rv, t in zip(r.r_abs, r.ts)]
    shrinking = all(b <= a * (1 + 1e-9) for a, b in zip(ratios, ratios[1:])) and ratios[-1] < 1e-4
    out.append(Check(f"{name}: |R|/|a−a_o|² → 0 along a ray", shrinking, f"{ratios[0]:.1e} → {ratios[-1]:.1e}"))
    tol = SUM_RTOL * max(1.0, max(abs(x) for x in lam))
    out.append(Check(f"{name}: Σ_h λ_(i,h) = λ_i", r.t2.max_gap <= tol, f"max gap {r.t2.max_gap:.1e} (H = {len(r.t2.lam_h[0])})"))
    if ex.entire:
        fast = all(d.faster_than_geometric for d in r.t2.decay)
        out.append(Check(f"{name}: λ_(i,h) decays faster than geometric", fast, r.t2.decay[0].label()))
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
    ("none (IQL)", "none", {}),
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


def numeric_checks(label: str, res: NumericResult) -> list[Check]:
    """What must hold for a mixer: undefined → say so; monotone → λ ≥ 0, IGM, exact at the greedy point."""
    if not res.defined:
        return [Check(f"{label}: λ_i reported as not defined", True, res.reason)]
    out = [Check(f"{label}: linearisation exact at the greedy point", res.err_by_deviators.get(0, 0.0) < 1e-10, f"{res.err_by_deviators.get(0, 0.0):.1e}")]
    if res.monotone:
        out.append(Check(f"{label}: λ_i ≥ 0", res.lam_nonneg, f"λ = {_fmt(res.lam)}"))
        out.append(Check(f"{label}: IGM on the joint table", res.igm, f"greedy {res.greedy}"))
    if res.attention_gap is not None and res.monotone:
        out.append(Check(f"{label}: Σ_heads w_h λ_(i,h) = autograd λ_i", res.attention_gap < 1e-10, f"gap {res.attention_gap:.1e}"))
    return out


def _fmt(xs: Sequence[float]) -> str:
    return "(" + ", ".join(f"{float(x):.4g}" for x in xs) + ")"


def run_all(max_order: int = 16) -> tuple[list[ExampleResult], list[Check], list[tuple[str, NumericResult, list[Check]]]]:
    """Symbolic examples, malformed-input refusals and the numeric mixers, in that order."""
    return [run_example(ex, max_order) for ex in suite()], run_malformed(), run_numeric()
