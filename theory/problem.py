"""Validated input of the symbolic checks: Q_tot = F(s, Q^1..Q^n) and utilities Q^i(a^i) with a max at a_o.

Theorems 1 and 2 only hold for a smooth F and utilities that peak at a_o, so every malformed input
is refused here, once, with a ValueError saying what was wrong and what is allowed. The rest of the
theory module can then assume a clean :class:`Problem`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import mpmath
import sympy as sp

STATE = sp.Symbol("s", real=True)
MAX_LOCAL_MAX_ORDER = 8  # derivatives of Q^i checked at a_o to classify it as a max
_NONSMOOTH = (sp.Abs, sp.sign, sp.Heaviside, sp.floor, sp.ceiling, sp.frac, sp.Max, sp.Min, sp.Piecewise)


def q_symbols(n: int) -> tuple[sp.Symbol, ...]:
    """The canonical utility symbols q1..qn that F is written in."""
    return tuple(sp.Symbol(f"q{i + 1}", real=True) for i in range(n))


def action_symbols(n: int) -> tuple[sp.Symbol, ...]:
    """The canonical scalar action symbols a1..an (one per agent)."""
    return tuple(sp.Symbol(f"a{i + 1}", real=True) for i in range(n))


@dataclass(frozen=True)
class Problem:
    """A checked instance: F in q1..qn (state already substituted), Q^i in a_i, a_o a local max of every Q^i.

    ``peak_orders[i]`` is the order of the first non-zero derivative of Q^i at a_o (2 for a
    non-degenerate max), so Q^i(a) − Q^i(a_o) = O(|a − a_o|^peak_order); None for a flat utility.
    """

    F: sp.Expr
    utilities: tuple[sp.Expr, ...]
    a_o: tuple[sp.Expr, ...]
    q0: tuple[sp.Expr, ...]  # Q^i(a_o)
    peak_orders: tuple[int | None, ...]
    state: sp.Expr | None = None

    @property
    def n(self) -> int:
        return len(self.utilities)

    @property
    def q(self) -> tuple[sp.Symbol, ...]:
        return q_symbols(self.n)

    @property
    def a(self) -> tuple[sp.Symbol, ...]:
        return action_symbols(self.n)


def numeric(x: sp.Expr, digits: int = 50) -> mpmath.mpf | None:
    """A real number evaluated to ``digits`` digits, or None if x is nan / infinite / complex."""
    try:
        val = sp.N(sp.sympify(x), digits)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if val.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or not val.is_number:
        return None
    if val.is_real is False or (val.is_real is None and abs(sp.im(val)) > sp.Float(10) ** (-digits // 2)):
        return None
    return mpmath.mpf(str(sp.re(val)))


def is_zero(x: sp.Expr, tol_exp: int = 30) -> bool:
    """Exact zero test with a numeric fallback (sympy cannot always simplify transcendental zeros)."""
    x = sp.sympify(x)
    if x.is_zero:
        return True
    val = numeric(x)
    return val is not None and abs(val) < mpmath.mpf(10) ** (-tol_exp)


def make_problem(
    F: sp.Expr | str,
    utilities: Sequence[sp.Expr | str],
    a_o: Sequence[float | sp.Expr],
    state: float | sp.Expr | None = None,
) -> Problem:
    """Check and canonicalise (F, Q^1..Q^n, a_o, s); raise ValueError on anything Theorem 1 cannot take."""
    n = len(utilities)
    if n < 1:
        raise ValueError("need at least one utility Q^i(a_i); got an empty list")
    if len(a_o) != n:
        raise ValueError(
            f"mismatched agent counts: {n} utilities Q^1..Q^{n} but a_o has {len(a_o)} entries; "
            "give one optimal action per agent"
        )
    F_expr = _canonical_F(sp.sympify(F), n, state)
    utils = tuple(_canonical_utility(sp.sympify(u), i) for i, u in enumerate(utilities))
    a_syms = action_symbols(n)
    ao = tuple(sp.nsimplify(x) if isinstance(x, float) else sp.sympify(x) for x in a_o)
    peaks = tuple(_check_local_max(u, a_syms[i], ao[i], i) for i, u in enumerate(utils))
    q0 = tuple(sp.sympify(u.subs(a_syms[i], ao[i])) for i, u in enumerate(utils))
    _check_smooth(F_expr, q0)
    return Problem(F_expr, utils, ao, q0, peaks, None if state is None else sp.sympify(state))


def _canonical_F(F: sp.Expr, n: int, state: float | sp.Expr | None) -> sp.Expr:
    """Rename F's symbols to the canonical q1..qn / s and substitute the state value."""
    allowed = ", ".join(f"q{i + 1}" for i in range(n)) + ", s"
    qs = q_symbols(n)
    subs: dict[sp.Symbol, sp.Expr] = {}
    for sym in F.free_symbols:
        match = re.fullmatch(r"q(\d+)", sym.name)
        if match:
            idx = int(match.group(1))
            if not 1 <= idx <= n:
                raise ValueError(
                    f"mismatched agent counts: F uses {sym.name} but only {n} utilities Q^1..Q^{n} were given; "
                    f"pass one utility per q_i symbol in F (allowed symbols: {allowed})"
                )
            subs[sym] = qs[idx - 1]
        elif sym.name == "s":
            if state is None:
                raise ValueError("F depends on the state s; pass state=<number> to evaluate Theorem 1 at that state")
            subs[sym] = sp.sympify(state)
        else:
            raise ValueError(f"F has an unknown symbol {sym.name!r}; F may only use {allowed}")
    return F.xreplace(subs)


def _canonical_utility(u: sp.Expr, i: int) -> sp.Expr:
    """Rename Q^i's single free symbol (whatever its name) to the canonical a_i."""
    free = sorted(u.free_symbols, key=lambda s: s.name)
    if len(free) > 1:
        names = ", ".join(s.name for s in free)
        raise ValueError(
            f"Q^{i + 1} depends on several symbols ({names}); each utility must be a function of its own "
            "scalar action only"
        )
    return u.xreplace({free[0]: action_symbols(i + 1)[i]}) if free else u


def _check_local_max(u: sp.Expr, a: sp.Symbol, a0: sp.Expr, i: int) -> int | None:
    """Order of the first non-zero derivative of Q^i at a_o; refuse anything that is not a local max."""
    where = f"Q^{i + 1} at a_o[{i}] = {a0}"
    deriv = u
    for k in range(1, MAX_LOCAL_MAX_ORDER + 1):
        deriv = sp.diff(deriv, a)
        val = numeric(deriv.subs(a, a0))
        if val is None:
            raise ValueError(f"{where}: d^{k}Q/da^{k} is not a finite real number; the utility must be smooth at a_o")
        if abs(val) < mpmath.mpf(10) ** -30:
            continue
        if k == 1:
            raise ValueError(
                f"a_o is not a local max of agent {i + 1}'s utility: dQ^{i + 1}/da = {sp.N(val, 6)} ≠ 0 at "
                f"a_o[{i}] = {a0}; a_o must be the argmax of each Q^i (first derivative 0, second ≤ 0)"
            )
        if k % 2 == 1:
            raise ValueError(
                f"a_o is not a local max of agent {i + 1}'s utility: {where} is an inflection point "
                f"(first non-zero derivative has odd order {k}); a_o must be the argmax of each Q^i"
            )
        if val > 0:
            raise ValueError(
                f"a_o is not a local max of agent {i + 1}'s utility: {where} is a local minimum "
                f"(d^{k}Q/da^{k} = {sp.N(val, 6)} > 0); a_o must be the argmax of each Q^i (second derivative ≤ 0)"
            )
        return k
    return None  # flat to high order: treated as a (non-strict) max


def _check_smooth(F: sp.Expr, q0: tuple[sp.Expr, ...]) -> None:
    """F must be C² at Q(a_o): no kink of |·|, sign, max, ... there, finite gradient and Hessian."""
    qs = q_symbols(len(q0))
    at = dict(zip(qs, q0))
    point = "(" + ", ".join(str(v) for v in q0) + ")"
    for atom in F.atoms(*_NONSMOOTH):
        kink = _kink_at(atom, at)
        if kink:
            raise ValueError(
                f"F is not differentiable at Q(a_o) = {point}: {atom} has a kink there ({kink}). Theorems 1-2 "
                "need F smooth (C²) at Q(a_o); use a smooth surrogate (e.g. sqrt(x**2 + eps) for Abs, softplus "
                "for Max) or a different a_o"
            )
    for i, qi in enumerate(qs):
        d1 = sp.diff(F, qi)
        if numeric(d1.subs(at)) is None:
            raise ValueError(
                f"F is not differentiable at Q(a_o) = {point}: ∂F/∂q{i + 1} = {sp.N(d1.subs(at), 6)} there "
                "(not a finite real number); Theorem 1 needs F smooth at Q(a_o)"
            )
        for j in range(i, len(qs)):
            d2 = sp.diff(d1, qs[j]).subs(at)
            if numeric(d2) is None:
                raise ValueError(
                    f"F is not twice differentiable at Q(a_o) = {point}: ∂²F/∂q{i + 1}∂q{j + 1} = {sp.N(d2, 6)} "
                    "there; Theorem 1's o(|a − a_o|²) remainder needs F to be C² at Q(a_o)"
                )


def _kink_at(atom: sp.Expr, at: dict[sp.Symbol, sp.Expr]) -> str:
    """Describe why a non-smooth atom is non-differentiable at the point, or '' if it is smooth there."""
    if isinstance(atom, (sp.Abs, sp.sign, sp.Heaviside)):
        arg = atom.args[0]
        return f"{arg} = 0" if is_zero(arg.subs(at)) else ""
    if isinstance(atom, (sp.floor, sp.ceiling, sp.frac)):
        val = numeric(atom.args[0].subs(at))
        return f"{atom.args[0]} is an integer" if val is not None and val == mpmath.nint(val) else ""
    if isinstance(atom, (sp.Max, sp.Min)):
        vals = sorted((numeric(arg.subs(at)) or mpmath.mpf(0) for arg in atom.args), reverse=isinstance(atom, sp.Max))
        return "two arguments tie" if len(vals) > 1 and abs(vals[0] - vals[1]) < mpmath.mpf(10) ** -30 else ""
    if isinstance(atom, sp.Piecewise):
        for _, cond in atom.args:
            for rel in cond.atoms(sp.core.relational.Relational):
                if is_zero((rel.lhs - rel.rhs).subs(at)):
                    return f"on the boundary {rel}"
    return ""
