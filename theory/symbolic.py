"""Theorems 1 and 2 of Qatten (Yang et al. 2020) computed exactly for a smooth F and utilities Q^i.

Theorem 1: near the joint maximiser a_o,
    Q_tot(a) = F(Q^1(a^1), ..., Q^n(a^n)) = c + Σ_i λ_i Q^i(a^i) + R(a),   R(a) = o(|a − a_o|²),
with λ_i = ∂F/∂Q^i at Q(a_o) and c = F(Q(a_o)) − Σ_i λ_i Q^i(a_o). Because each Q^i peaks at a_o,
ΔQ^i = Q^i(a) − Q^i(a_o) = O(|a − a_o|²), so every product ΔQ^i ΔQ^j is O(|a − a_o|⁴): that is why
the remainder is of order 4 for a generic nonlinear F (and vanishes for an affine one).

Theorem 2: expand F in a Taylor series in Q around a centre Q = z (the paper uses z = 0). The linear
coefficient of Q^i at a_o collects one term from every order h of that series:
    λ_i = Σ_{h≥1} λ_{i,h},
    λ_{i,h} = 1/(h−1)! Σ_{j_1..j_{h−1}} ∂^h F/∂Q^i ∂Q^{j_1}..∂Q^{j_{h−1}}(z) · δ^{j_1}···δ^{j_{h−1}},
with δ = Q(a_o) − z. Equivalently λ_{i,h} is the τ^{h−1} Taylor coefficient of g_i(τ) = ∂_iF(z + τδ),
which is how it is computed (mpmath differentiation of the exact sympy expression at 60 digits).
The sum converges to λ_i when F is analytic on a disc containing the segment [z, Q(a_o)].
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import mpmath
import sympy as sp

from theory.decay import Decay, classify_decay
from theory.problem import Problem, is_zero, numeric, q_symbols

T = sp.Symbol("t", real=True)
DIGITS = 60
EXACT_FLOOR = 1e-30  # λ_{i,h} below this × max count as 0 (60-digit arithmetic; polynomials give exact 0)


@dataclass(frozen=True)
class Theorem1:
    """c and λ_i at a_o; ``negative`` lists the agents (0-based) with λ_i < 0."""

    c: sp.Expr
    lam: tuple[sp.Expr, ...]
    negative: tuple[int, ...]

    @property
    def monotone_ok(self) -> bool:
        return not self.negative

    def lam_float(self) -> list[float]:
        return [float(numeric(x) or math.nan) for x in self.lam]


@dataclass(frozen=True)
class Remainder:
    """Leading order of R(a_o + t·d) in t for each direction d; None means no term up to ``horizon``."""

    directions: tuple[tuple[int, ...], ...]
    orders: tuple[int | None, ...]
    horizon: int
    exact: bool  # F affine in Q: R ≡ 0

    @property
    def order(self) -> int | None:
        """The smallest order over all directions (the order of R in |a − a_o|)."""
        known = [o for o in self.orders if o is not None]
        return min(known) if known else None

    @property
    def is_little_o_of_square(self) -> bool:
        return self.exact or self.order is None or self.order > 2

    def label(self) -> str:
        if self.exact:
            return "exact (R ≡ 0)"
        return f"> {self.horizon}" if self.order is None else str(self.order)


@dataclass(frozen=True)
class Theorem2:
    """λ_{i,h} for h = 1..H (rows: agents), their partial sums and the decay of each agent's sequence."""

    center: tuple[sp.Expr, ...]
    lam_h: tuple[tuple[float, ...], ...]  # (n, H)
    partial_sums: tuple[float, ...]  # Σ_{h≤H} λ_{i,h}
    gaps: tuple[float, ...]  # |Σ_h λ_{i,h} − λ_i|
    decay: tuple[Decay, ...]

    @property
    def max_gap(self) -> float:
        return max(self.gaps)


def theorem1(problem: Problem) -> Theorem1:
    """λ_i = ∂F/∂Q^i and c at Q(a_o); flags λ_i < 0 (F not monotone there)."""
    at = dict(zip(problem.q, problem.q0))
    lam = tuple(sp.diff(problem.F, qi).subs(at) for qi in problem.q)
    c = sp.sympify(problem.F.subs(at) - sum(l * v for l, v in zip(lam, problem.q0)))
    negative = tuple(i for i, l in enumerate(lam) if (v := numeric(l)) is not None and v < -mpmath.mpf(10) ** -30)
    return Theorem1(c, lam, negative)


def remainder_expr(problem: Problem, t1: Theorem1) -> sp.Expr:
    """R(a) = F(Q(a)) − c − Σ λ_i Q^i(a) as a sympy expression in a1..an."""
    q_of_a = dict(zip(problem.q, problem.utilities))
    return problem.F.xreplace(q_of_a) - t1.c - sum(l * u for l, u in zip(t1.lam, problem.utilities))


def default_directions(n: int) -> tuple[tuple[int, ...], ...]:
    """Every axis, the diagonal and one generic direction, so no cancellation hides the order."""
    axes = tuple(tuple(int(i == j) for j in range(n)) for i in range(n))
    generic = tuple((-1) ** j * (j + 1) for j in range(n))
    return axes + (tuple(1 for _ in range(n)), generic)


def remainder_order(
    problem: Problem, directions: Sequence[Sequence[int]] | None = None, horizon: int = 6
) -> Remainder:
    """Leading order in t of R(a_o + t·d), exactly.

    Rather than a (slow) sympy series of the composite, this mirrors the proof: the t-series of each
    ΔQ^i(t) = Q^i(a_o + t d_i) − Q^i(a_o) is cheap, and R(t) = Σ_{m≥2} 1/α! ∂^α F(Q(a_o)) ΔQ(t)^α over
    multi-indices |α| = m. Only orders m ≤ horizon / (smallest peak order) can reach t^horizon.
    """
    dirs = tuple(tuple(d) for d in (directions or default_directions(problem.n)))
    for d in dirs:
        if len(d) != problem.n:
            raise ValueError(f"direction {d} has {len(d)} entries; need one per agent ({problem.n})")
    at = dict(zip(problem.q, problem.q0))
    qs = problem.q
    second = [sp.diff(problem.F, a, b) for a, b in itertools.combinations_with_replacement(qs, 2)]
    if all(d2 == 0 for d2 in second):
        return Remainder(dirs, tuple(None for _ in dirs), horizon, exact=True)
    peak = min((p for p in problem.peak_orders if p is not None), default=horizon + 1)
    max_m = max(2, horizon // peak)
    taylor = _taylor_coefficients(problem.F, qs, at, max_m)  # {α: ∂^α F / α! at Q(a_o)}
    # ΔQ^i(a_o + t·d) is the series of ΔQ^i(a_o + t) with t → d_i·t: one sympy series per agent
    unit = [
        sp.series(u.subs(a, a0 + T), T, 0, horizon + 1).removeO() - q0
        for u, a, a0, q0 in zip(problem.utilities, problem.a, problem.a_o, problem.q0)
    ]
    orders = tuple(_leading_order([sp.expand(x.subs(T, di * T)) for x, di in zip(unit, d)], taylor, horizon) for d in dirs)
    return Remainder(dirs, orders, horizon, exact=False)


def _taylor_coefficients(
    F: sp.Expr, qs: tuple[sp.Symbol, ...], at: dict[sp.Symbol, sp.Expr], max_m: int
) -> dict[tuple[int, ...], sp.Expr]:
    """∂^α F(Q(a_o)) / α! (60 digits) for 2 ≤ |α| ≤ max_m, keyed by the exponent tuple α."""
    out: dict[tuple[int, ...], sp.Expr] = {}
    for m in range(2, max_m + 1):
        for combo in itertools.combinations_with_replacement(range(len(qs)), m):
            alpha = tuple(combo.count(i) for i in range(len(qs)))
            deriv = sp.diff(F, *[qs[i] for i in combo]).subs(at)
            # 60-digit numbers, not exact expressions: expanding exact log/exp values is what made this slow
            out[alpha] = sp.N(deriv / math.prod(math.factorial(k) for k in alpha), DIGITS)
    return out


def _leading_order(dq: list[sp.Expr], taylor: dict[tuple[int, ...], sp.Expr], horizon: int) -> int | None:
    """Lowest power of t in Σ_α coef_α Π_i ΔQ^i(t)^α_i (ΔQ as t-polynomials), or None up to ``horizon``."""
    series = sp.expand(sum(coef * sp.Mul(*[x**k for x, k in zip(dq, alpha)]) for alpha, coef in taylor.items()))
    for k in range(1, horizon + 1):
        if not is_zero(series.coeff(T, k)):
            return k
    return None


def remainder_along(problem: Problem, t1: Theorem1, direction: Sequence[float], ts: Sequence[float]) -> list[float]:
    """|R(a_o + t·d)| at 60 digits (double precision would drown R ~ t⁴ in rounding for small t)."""
    return true_remainder(problem, t1.c, t1.lam, direction, ts)


def true_remainder(
    problem: Problem, c: sp.Expr | float, lam: Sequence[sp.Expr | float], direction: Sequence[float], ts: Sequence[float]
) -> list[float]:
    """|F(Q(a)) − c − Σ λ_i Q^i(a)| at a = a_o + t·d, 60 digits, for *given* c and λ (a wrong one shows up here)."""
    if len(lam) != problem.n:
        raise ValueError(f"λ has {len(lam)} entries; need one per agent ({problem.n})")
    F = sp.lambdify(problem.q, problem.F, "mpmath")
    Qs = [sp.lambdify(a, u, "mpmath") for a, u in zip(problem.a, problem.utilities)]
    with mpmath.workdps(DIGITS):
        c_m = mpmath.mpf(str(sp.N(sp.sympify(c), DIGITS)))
        lam_m = [mpmath.mpf(str(sp.N(sp.sympify(x), DIGITS))) for x in lam]
        a0 = [mpmath.mpf(str(sp.N(x, DIGITS))) for x in problem.a_o]
        out = []
        for t in ts:
            q = [Q(x + mpmath.mpf(t) * di) for Q, x, di in zip(Qs, a0, direction)]
            f, lin = F(*q), mpmath.fsum(l * qi for l, qi in zip(lam_m, q))
            r = abs(f - c_m - lin)
            # 60-digit rounding of an exactly cancelling R (affine F) is reported as the exact 0 it is
            out.append(0.0 if r <= mpmath.mpf(10) ** (10 - DIGITS) * (1 + abs(f) + abs(c_m) + abs(lin)) else float(r))
        return out


def lambda_by_numeric_diff(problem: Problem) -> list[float]:
    """∂F/∂Q^i at Q(a_o) by mpmath's numeric differentiation of F (not sympy.diff): an independent λ."""
    F = sp.lambdify(problem.q, problem.F, "mpmath")
    with mpmath.workdps(DIGITS):
        q0 = [mpmath.mpf(str(sp.N(x, DIGITS))) for x in problem.q0]
        out = []
        for i in range(problem.n):
            g = lambda x, i=i: F(*[x if j == i else q0[j] for j in range(problem.n)])  # noqa: E731
            out.append(float(mpmath.diff(g, q0[i])))
        return out


def theorem2(problem: Problem, t1: Theorem1, max_order: int = 20, center: Sequence[float] | None = None) -> Theorem2:
    """λ_{i,h}, h = 1..max_order, from the Taylor expansion of F around ``center`` (default Q = 0)."""
    z = tuple(sp.sympify(x) for x in (center if center is not None else [0] * problem.n))
    if len(z) != problem.n:
        raise ValueError(f"center has {len(z)} entries; need one per agent ({problem.n})")
    at_z = dict(zip(problem.q, z))
    delta = [q0 - zi for q0, zi in zip(problem.q0, z)]
    tau = sp.Symbol("tau")
    rows: list[tuple[float, ...]] = []
    for i, qi in enumerate(problem.q):
        grad_i = sp.diff(problem.F, qi)
        if numeric(grad_i.subs(at_z)) is None:
            raise ValueError(
                f"Theorem 2 expands F around Q = {z}, but ∂F/∂q{i + 1} is not finite there; pass center=<point> "
                "where F is analytic (the segment from it to Q(a_o) must avoid singularities)"
            )
        g = sp.lambdify(tau, grad_i.xreplace({q: zq + tau * dq for q, zq, dq in zip(problem.q, z, delta)}), "mpmath")
        with mpmath.workdps(DIGITS):
            rows.append(tuple(float(c) for c in mpmath.taylor(g, 0, max_order - 1)))
    lam = t1.lam_float()
    sums = tuple(float(math.fsum(r)) for r in rows)
    gaps = tuple(abs(s - l) for s, l in zip(sums, lam))
    return Theorem2(z, tuple(rows), sums, gaps, tuple(classify_decay(r, EXACT_FLOOR) for r in rows))


def affine_in_q(F: sp.Expr, n: int) -> bool:
    """True when every second derivative of F in q vanishes (VDN-like): then λ_{i,h} = 0 for h ≥ 2."""
    qs = q_symbols(n)
    return all(sp.diff(F, a, b) == 0 for a, b in itertools.combinations_with_replacement(qs, 2))
