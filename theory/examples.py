"""A small library of mixing functions F and utilities Q^i for the symbolic checks.

Families (all in the canonical symbols q1..qn, optionally s):
  vdn, weighted_linear      affine: Theorem 1 is exact, λ_{i,h} = 0 for h ≥ 2
  log_sum_exp               monotone, analytic but not entire: λ_{i,h} decays geometrically
  qmix_like                 Σ_k w2_k softplus(Σ_i W1_ik q_i + b_k) + v, positive weights (smooth QMIX)
  exp_sum                   Σ_k v_k exp(Σ_i u_ik q_i), positive weights: entire, factorial decay
  state_log_sum_exp         temperature β(s) = 1 + s²: a state-dependent F
  bilinear                  q1·q2 + q3: not monotone once some Q^j(a_o) < 0 (the check must catch it)
  sin_cos                   Σ q_i + ½ sin(q1 + q2) + ⅓ cos(q2 − q3): entire, monotone (λ_i ≥ 1/6)
  exp_product               Π_i (1 + w_i exp(u_i q_i)): entire, monotone
  softplus_nested           softplus(softplus(q1 + q2) + q3/2): analytic, not entire (geometric decay)
Theorem 2's decay is expected "faster than geometric" for entire F, "geometric" for F with a complex
singularity (rate set by its distance), "finite" for polynomials; ``Example.decay`` states which.
``random_monotone`` draws a member of a monotone family with random positive rational weights.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import sympy as sp

from theory.problem import STATE, action_symbols, q_symbols

Rat = sp.Rational


@dataclass(frozen=True)
class Example:
    """One F with utilities; ``monotone`` / ``entire`` / ``order`` are what the checks expect."""

    name: str
    description: str
    F: sp.Expr
    utilities: tuple[sp.Expr, ...]
    a_o: tuple[sp.Expr, ...]
    state: sp.Expr | None = None
    monotone: bool = True  # expected sign of every λ_i
    entire: bool = False  # F entire in Q: λ_{i,h} must decay faster than geometrically
    order: int | None = 4  # expected remainder order (None: F affine, R ≡ 0)
    polynomial: bool = False  # F polynomial in Q: λ_{i,h} = 0 beyond its degree

    @property
    def decay(self) -> str:
        """The decay class Theorem 2's λ_{i,h} must show (independent of the computed numbers)."""
        if self.order is None or self.polynomial:
            return "finite"
        return "faster than geometric" if self.entire else "geometric"

    def kwargs(self) -> dict[str, Any]:
        return {"F": self.F, "utilities": self.utilities, "a_o": self.a_o, "state": self.state}


# ---- mixing functions ---------------------------------------------------------------------------
def softplus(x: sp.Expr) -> sp.Expr:
    """log(1 + eˣ): a smooth stand-in for QMIX's ELU (ELU is not C² at 0, softplus is analytic)."""
    return sp.log(1 + sp.exp(x))


def vdn(n: int) -> sp.Expr:
    return sp.Add(*q_symbols(n))


def weighted_linear(weights: Sequence[sp.Expr], bias: sp.Expr = 0) -> sp.Expr:
    return bias + sp.Add(*[w * q for w, q in zip(weights, q_symbols(len(weights)))])


def log_sum_exp(weights: Sequence[sp.Expr], beta: sp.Expr = 1) -> sp.Expr:
    """(1/β) log Σ_i w_i exp(β q_i): monotone for w_i > 0, β > 0 (a soft max over agents)."""
    qs = q_symbols(len(weights))
    return sp.log(sp.Add(*[w * sp.exp(beta * q) for w, q in zip(weights, qs)])) / beta


def qmix_like(W1: Sequence[Sequence[sp.Expr]], b1: Sequence[sp.Expr], w2: Sequence[sp.Expr], v: sp.Expr = 0) -> sp.Expr:
    """A QMIX-shaped two-layer net, W1 (n, E) and w2 (E,) positive, softplus hidden units."""
    qs = q_symbols(len(W1))
    hidden = [softplus(sp.Add(*[W1[i][k] * qs[i] for i in range(len(qs))]) + b1[k]) for k in range(len(w2))]
    return v + sp.Add(*[w * h for w, h in zip(w2, hidden)])


def exp_sum(U: Sequence[Sequence[sp.Expr]], v: Sequence[sp.Expr]) -> sp.Expr:
    """Σ_k v_k exp(Σ_i U_ik q_i): monotone for positive weights and entire in Q."""
    qs = q_symbols(len(U))
    return sp.Add(*[v[k] * sp.exp(sp.Add(*[U[i][k] * qs[i] for i in range(len(qs))])) for k in range(len(v))])


def state_log_sum_exp(n: int) -> sp.Expr:
    """Log-sum-exp whose temperature depends on the state: β(s) = 1 + s²."""
    beta = 1 + STATE**2
    return sp.log(sp.Add(*[sp.exp(beta * q) for q in q_symbols(n)])) / beta


def bilinear() -> sp.Expr:
    """q1·q2 + q3: ∂F/∂q1 = q2 < 0 wherever Q^2 < 0 — a non-monotone (non-cooperative) mixer."""
    q1, q2, q3 = q_symbols(3)
    return q1 * q2 + q3


def sin_cos(n: int = 3) -> sp.Expr:
    """Σ_i q_i + ½ sin(q1 + q2) + ⅓ cos(q2 − q3): entire; ∂F/∂q_i ≥ 1 − ½ − ⅓ > 0, so monotone."""
    q1, q2, q3 = q_symbols(3)
    return vdn(3) + sp.sin(q1 + q2) / 2 + sp.cos(q2 - q3) / 3


def exp_product(w: Sequence[sp.Expr], u: Sequence[sp.Expr]) -> sp.Expr:
    """Π_i (1 + w_i exp(u_i q_i)): a product of increasing positive factors — entire and monotone."""
    return sp.Mul(*[1 + wi * sp.exp(ui * q) for wi, ui, q in zip(w, u, q_symbols(len(w)))])


def softplus_nested() -> sp.Expr:
    """softplus(softplus(q1 + q2) + q3/2): monotone, analytic on the reals, poles off the real axis."""
    q1, q2, q3 = q_symbols(3)
    return softplus(softplus(q1 + q2) + q3 / 2)


# ---- utilities ---------------------------------------------------------------------------------
def peaked_utilities(
    peaks: Sequence[sp.Expr], a_o: Sequence[sp.Expr], curv: Sequence[sp.Expr] | None = None
) -> tuple[sp.Expr, ...]:
    """Q^i(a) = peak_i − k_i (a − a_o)² + (a − a_o)³/3 (agent 1), cos bump (last agent): local max at a_o."""
    n = len(peaks)
    a = action_symbols(n)
    k = curv or [1 + Rat(i, 2) for i in range(n)]
    out = []
    for i in range(n):
        x = a[i] - a_o[i]
        if i == n - 1 and n > 1:
            out.append(peaks[i] - k[i] * x**2 / 2 + sp.cos(x) - 1)  # non-polynomial utility
        else:
            out.append(peaks[i] - k[i] * x**2 + (x**3 / 3 if i == 0 else 0))
    return tuple(out)


def _example(name: str, desc: str, F: sp.Expr, peaks: Sequence[sp.Expr], **kw: Any) -> Example:
    a_o = tuple(Rat(i, 2) for i in range(len(peaks)))
    return Example(name, desc, F, peaked_utilities(peaks, a_o), a_o, **kw)


def suite() -> list[Example]:
    """The examples ``python -m theory.check`` runs (kept small so the check takes seconds)."""
    peaks3 = (Rat(1, 2), Rat(3, 4), Rat(-1, 3))
    W1 = [[Rat(1, 2), Rat(1, 3), 1], [1, Rat(1, 4), Rat(2, 3)], [Rat(1, 5), 1, Rat(1, 2)]]
    return [
        _example("vdn", "Σ_i q_i", vdn(3), peaks3, order=None, entire=True),
        _example("weighted", "2 q1 + q2/2 + 3 q3 + 1", weighted_linear([2, Rat(1, 2), 3], 1), peaks3, order=None, entire=True),
        _example("logsumexp", "log Σ_i w_i exp(q_i)", log_sum_exp([1, 2, Rat(1, 2)]), peaks3),
        _example("qmix_softplus", "Σ_k w2_k softplus(Σ_i W1_ik q_i + b_k)", qmix_like(W1, [Rat(1, 10), -Rat(1, 5), 0], [1, Rat(1, 2), Rat(3, 2)]), peaks3),
        _example("exp_sum", "Σ_k v_k exp(Σ_i U_ik q_i) (entire)", exp_sum(W1, [Rat(1, 2), 1, Rat(1, 3)]), peaks3, entire=True),
        _example("lse_state(s=0)", "log Σ exp(β(s) q_i)/β(s), β = 1 + s²", state_log_sum_exp(3), peaks3, state=0),
        _example("lse_state(s=1/2)", "same F at another state", state_log_sum_exp(3), peaks3, state=Rat(1, 2)),
        _example("bilinear", "q1·q2 + q3 with Q^2(a_o) < 0", bilinear(), (Rat(1, 2), Rat(-3, 4), Rat(1, 3)), monotone=False, entire=True, polynomial=True),
        _example("sin_cos", "Σ q_i + sin(q1+q2)/2 + cos(q2−q3)/3 (entire)", sin_cos(), peaks3, entire=True),
        _example("exp_product", "Π_i (1 + w_i exp(u_i q_i)) (entire)", exp_product([1, Rat(1, 2), 2], [Rat(1, 2), 1, Rat(1, 3)]), peaks3, entire=True),
        _example("softplus_nested", "softplus(softplus(q1 + q2) + q3/2)", softplus_nested(), peaks3),
    ]


# ---- malformed inputs (must be refused) -----------------------------------------------------------
@dataclass(frozen=True)
class Malformed:
    name: str
    kwargs: dict[str, Any] = field(hash=False)
    match: str  # regex the ValueError message must match


def malformed() -> list[Malformed]:
    q1, q2 = q_symbols(2)
    a1, a2 = action_symbols(2)
    good = (1 - a1**2, 2 - a2**2)
    return [
        Malformed("Abs kink at Q(a_o)", {"F": sp.Abs(q1) + q2, "utilities": (-a1**2, 1 - a2**2), "a_o": (0, 0)}, "not differentiable"),
        Malformed("sqrt at 0 (∂F = zoo)", {"F": sp.sqrt(q1) + q2, "utilities": (-a1**2, 1 - a2**2), "a_o": (0, 0)}, "not differentiable"),
        Malformed("a_o not a max (slope)", {"F": q1 + q2, "utilities": (a1 - a1**2, good[1]), "a_o": (0, 0)}, "not a local max of agent 1"),
        Malformed("a_o a minimum", {"F": q1 + q2, "utilities": (good[0], a2**2), "a_o": (0, 0)}, "not a local max of agent 2"),
        Malformed("agent count (F has q3)", {"F": q1 + q2 + sp.Symbol("q3"), "utilities": good, "a_o": (0, 0)}, "mismatched agent counts"),
        Malformed("agent count (a_o)", {"F": q1 + q2, "utilities": good, "a_o": (0, 0, 0)}, "mismatched agent counts"),
        Malformed("unknown symbol", {"F": q1 + sp.Symbol("x"), "utilities": good, "a_o": (0, 0)}, "unknown symbol"),
        Malformed("state missing", {"F": q1 + STATE * q2, "utilities": good, "a_o": (0, 0)}, "depends on the state"),
    ]


# ---- random members of the monotone families (for property tests) ---------------------------------
def _pos(rng: random.Random) -> sp.Expr:
    return Rat(rng.randint(1, 20), rng.randint(1, 10))


FAMILIES: dict[str, Callable[[int, random.Random], sp.Expr]] = {
    "weighted_linear": lambda n, r: weighted_linear([_pos(r) for _ in range(n)], Rat(r.randint(-5, 5), 3)),
    "log_sum_exp": lambda n, r: log_sum_exp([_pos(r) for _ in range(n)], _pos(r)),
    "qmix_like": lambda n, r: qmix_like(
        [[_pos(r) for _ in range(2)] for _ in range(n)], [Rat(r.randint(-3, 3), 4) for _ in range(2)], [_pos(r) for _ in range(2)]
    ),
    "exp_sum": lambda n, r: exp_sum([[_pos(r) / 4 for _ in range(2)] for _ in range(n)], [_pos(r) for _ in range(2)]),
}


def random_monotone(family: str, n: int, seed: int) -> Example:
    """A random monotone F of ``family`` on n agents with random peaked utilities."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    rng = random.Random(seed)
    F = FAMILIES[family](n, rng)
    peaks = [Rat(rng.randint(-6, 6), 4) for _ in range(n)]
    a_o = tuple(Rat(rng.randint(-4, 4), 2) for _ in range(n))
    curv = [_pos(rng) for _ in range(n)]
    order = None if family == "weighted_linear" else 4
    return Example(f"{family}[{seed}]", family, F, peaked_utilities(peaks, a_o, curv), a_o, order=order)
