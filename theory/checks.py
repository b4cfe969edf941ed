"""The theory checks as plain functions: each compares a computed quantity with an independent one.

Every function takes the quantity under test (c, λ, λ_{i,h}) as an argument, so a wrong value can be
injected (see :mod:`theory.mutations`) and must make the check FAIL. What each one compares with:

  check_lambda_exact     sympy λ_i = ∂F/∂Q^i      vs mpmath numeric differentiation of F (60 digits)
  check_remainder_exact  given c, λ               -> true R(a_o + t·d) at 60 digits; its fitted order in t
                                                     vs the order predicted from F's Taylor series alone
  check_ray_exact        given c, λ               -> |R|/|a − a_o|² must fall monotonically to ≤ 1e-4
  check_series_sum       Σ_h λ_{i,h} (Taylor series around Q = z) vs the given λ_i
  check_decay            decay class of λ_{i,h}   vs the class F's analytic type implies
  check_mixer_lambda     λ of a mixer             vs central finite differences of F in float64
                                                     (and the mixer's closed form, if it has one)
  check_mixer_remainder  given c, λ               -> true R along rays ΔQ = −t²·d (quadratic peaks);
                                                     its fitted order must be ≥ 3.5 (a wrong λ gives 2,
                                                     a wrong c gives 0)
  check_attention        Qatten's Σ_h w_h λ_{i,h} vs the given λ_i

What none of them can show: that λ_i ≥ 0 or IGM hold away from the tested point / state, or that
Theorem 2's decay holds for F outside the examples. ``SCOPE`` says, per check, what it can and cannot
show; the report prints it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import sympy as sp
import torch

from theory.decay import Decay
from theory.problem import Problem
from theory.symbolic import Remainder, default_directions, lambda_by_numeric_diff, remainder_order, true_remainder

# ---- stated tolerances ------------------------------------------------------------------------------
LAM_EXACT_RTOL = 1e-12  # sympy λ vs mpmath.diff (both ≥ 30 good digits; the float conversion limits)
ORDER_ATOL = 0.25  # measured remainder order vs the predicted integer order
EXACT_TS = (1e-2, 10**-2.5, 1e-3, 10**-3.5, 1e-4)  # t along each ray, symbolic side
EXACT_ZERO = 1e-40  # |R| below this (relative) counts as R ≡ 0 at 60 digits
RAY_TS = tuple(10.0 ** -k for k in np.arange(0.5, 3.01, 0.25))  # distances t along the plotted ray
RAY_FINAL = 1e-4  # |R|/t² at the smallest t must be below this
SERIES_RTOL = 1e-6  # |Σ_h λ_{i,h} − λ_i| ≤ SERIES_RTOL · max(1, max|λ|)
FD_RTOL = 1e-5  # |λ − λ_fd| ≤ FD_RTOL · max(1, max|λ|): FD error ~1e-10, ELU's C¹ kink ~step
CLOSED_RTOL = 1e-10  # autograd λ vs a mixer's closed-form local_weights / Qatten's head weights
MIXER_TS = tuple(10.0 ** -k for k in np.arange(0.5, 2.51, 0.25))  # t along the mixer rays
MIXER_MIN_ORDER = 3.5  # Theorem 1 needs > 2; a smooth mixer gives 4
MIXER_NOISE = 1e-13  # |R| below this × (1 + |F| + |c| + Σ|λ_i Q^i|) is float64 rounding


SCOPE: tuple[tuple[str, str, str], ...] = (  # (check, can show, cannot show)
    ("λ_i = numeric ∂F/∂Q^i / finite-difference",
     "λ is the gradient of F at Q(a_o): catches λ × 2, λ + 10 % (tolerance 1e-12 exact, 1e-5 float64)",
     "anything about c or the remainder; FD is only first-order accurate at an ELU kink"),
    ("measured remainder order",
     "the true R for the given c, λ falls like t^4 (c wrong: t^0, λ wrong: t^2), per direction",
     "behaviour beyond the sampled rays and t ∈ [1e-4, 1e-2] (exact) / [3e-3, 0.3] (mixers)"),
    ("predicted remainder order",
     "the order F's own derivatives imply (4, or R ≡ 0 for affine F), without c or λ",
     "whether the computed c, λ are right (that is the measured order's job)"),
    ("|R|/|a−a_o|² → 0 along a ray",
     "Theorem 1's o(|a − a_o|²) on one ray, down to |a − a_o| ≈ 1e-3",
     "other rays; the order (see the measured order)"),
    ("Σ_h λ_(i,h) = λ_i",
     "Theorem 2's series sums to λ (tolerance 1e-6·max(1,|λ|)); catches a wrong λ for analytic F",
     "anything when F is not analytic on the segment (QMIX's ELU): reported as XFAIL, not hidden"),
    ("λ_(i,h) decay",
     "the decay class (finite / faster than geometric / geometric) from ≥ 12 orders, ±2 s.e. on γ",
     "the class from fewer orders (then 'inconclusive'); it does not use c or λ"),
    ("λ_i ≥ 0, IGM, non-monotone detected",
     "the sign of λ and the argmax of the joint table at this state",
     "a wrongly scaled λ (λ × 2 keeps its sign); other states"),
    ("Σ_heads w_h λ_(i,h) = λ_i (Qatten)",
     "Qatten's explicit head weights equal its gradient (linear Qatten)",
     "anything for nonlinear Qatten, whose keys see Q (not checked there)"),
)


NOT_DEFINED = "NOT DEFINED"


@dataclass(frozen=True)
class Check:
    """One PASS/FAIL line. ``waived`` names a theorem premise that does not hold (e.g. F not analytic):
    the check still runs and is reported, but a failure is expected and does not fail the run.

    ``undefined`` says why the checked quantity does not exist for this target (λ_i of QTRAN's joint
    network): nothing was compared, so the line is NOT DEFINED — never a pass (``ok`` is False) and not a
    failure either. Build it with :meth:`not_defined`; a check that is true by construction must not exist.
    """

    name: str
    ok: bool
    detail: str = ""
    waived: str = ""
    undefined: str = ""

    def __post_init__(self) -> None:
        if self.undefined and self.ok:
            raise ValueError(f"check {self.name!r}: a check whose quantity is not defined cannot pass")

    @classmethod
    def not_defined(cls, name: str, reason: str) -> "Check":
        """The explicit NOT DEFINED line for a target where the check cannot run (``reason`` says why)."""
        if not reason:
            raise ValueError(f"check {name!r}: NOT DEFINED needs a reason")
        return cls(name, False, reason, undefined=reason)

    @property
    def status(self) -> str:
        if self.undefined:
            return NOT_DEFINED
        return "PASS" if self.ok else ("XFAIL" if self.waived else "FAIL")

    @property
    def counts_as_failure(self) -> bool:
        return not self.ok and not self.waived and not self.undefined


@dataclass(frozen=True)
class OrderFit:
    """Fitted order of |R(t)| ~ t^p per direction; ``inf`` where R ≡ 0 to the working precision."""

    directions: tuple[tuple[float, ...], ...]
    slopes: tuple[float, ...]

    @property
    def order(self) -> float:
        return min(self.slopes)

    def label(self) -> str:
        return " ".join("≡0" if math.isinf(s) else f"{s:.2f}" for s in self.slopes)


def fit_order(ts: Sequence[float], r_abs: Sequence[float], zero: float, last: int = 4) -> float:
    """Slope of log|R| vs log t over the ``last`` smallest t with |R| > zero (inf if < 2 such points)."""
    t, r = np.asarray(ts, dtype=np.float64), np.asarray(r_abs, dtype=np.float64)  # (T,)
    order = np.argsort(t)
    t, r = t[order], r[order]
    keep = np.nonzero(r > zero)[0][:last]
    if keep.size < 2:
        return math.inf
    return float(np.polyfit(np.log(t[keep]), np.log(r[keep]), 1)[0])


def _scale(lam: Sequence[float]) -> float:
    return max(1.0, max(abs(float(x)) for x in lam))


def _fmt(xs: Sequence[float]) -> str:
    return "(" + ", ".join(f"{float(x):.4g}" for x in xs) + ")"


# ---- symbolic side ----------------------------------------------------------------------------------
def check_lambda_exact(problem: Problem, lam: Sequence[sp.Expr | float], name: str = "") -> Check:
    """λ against mpmath's numeric derivative of F at Q(a_o) (no sympy.diff involved)."""
    ref = lambda_by_numeric_diff(problem)
    got = [float(sp.N(sp.sympify(x), 30)) for x in lam]
    gap = max(abs(a - b) for a, b in zip(got, ref))
    return Check(f"{name}: λ_i = numeric ∂F/∂Q^i (mpmath.diff)", gap <= LAM_EXACT_RTOL * _scale(ref),
                 f"gap {gap:.1e}, tol {LAM_EXACT_RTOL:.0e}·max(1,|λ|)")


def measure_remainder_exact(
    problem: Problem, c: sp.Expr | float, lam: Sequence[sp.Expr | float],
    directions: Sequence[Sequence[int]] | None = None,
) -> OrderFit:
    """Order in t of the TRUE remainder F(Q(a_o + t·d)) − c − Σ λ_i Q^i, per direction, at 60 digits."""
    dirs = tuple(tuple(d) for d in (directions or default_directions(problem.n)))
    zero = EXACT_ZERO * (1.0 + abs(float(sp.N(sp.sympify(c)))) + sum(abs(float(sp.N(sp.sympify(x)))) for x in lam))
    slopes = tuple(fit_order(EXACT_TS, true_remainder(problem, c, lam, d, EXACT_TS), zero, last=len(EXACT_TS)) for d in dirs)
    return OrderFit(tuple(tuple(float(x) for x in d) for d in dirs), slopes)


def check_remainder_exact(
    problem: Problem, c: sp.Expr | float, lam: Sequence[sp.Expr | float], name: str = "",
    predicted: Remainder | None = None,
) -> tuple[Check, OrderFit]:
    """Measured order of the true remainder vs the order F's own Taylor series predicts (and > 2)."""
    pred = predicted or remainder_order(problem)
    fit = measure_remainder_exact(problem, c, lam, pred.directions)
    if pred.exact:
        ok = all(math.isinf(s) for s in fit.slopes)
        want = "R ≡ 0"
    else:
        ok = all(
            (math.isinf(s) or s >= pred.horizon - ORDER_ATOL) if p is None else abs(s - p) <= ORDER_ATOL
            for s, p in zip(fit.slopes, pred.orders)
        ) and fit.order > 2
        want = " ".join("·" if p is None else str(p) for p in pred.orders)
    return Check(f"{name}: measured remainder order = predicted (> 2)", ok,
                 f"measured {fit.label()} vs predicted {want} (±{ORDER_ATOL})"), fit


def ray_ratios(problem: Problem, c: sp.Expr | float, lam: Sequence[sp.Expr | float],
               ray: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(|a − a_o|, |R|) at RAY_TS along ``ray`` for the given c, λ."""
    r_abs = np.array(true_remainder(problem, c, lam, ray, RAY_TS))  # (T,)
    dist = np.array(RAY_TS) * math.sqrt(sum(d * d for d in ray))  # (T,)
    return dist, r_abs


def check_ray_exact(problem: Problem, c: sp.Expr | float, lam: Sequence[sp.Expr | float],
                    ray: Sequence[float], name: str = "") -> Check:
    """|R|/|a − a_o|² must not grow as t shrinks and must end below RAY_FINAL (Theorem 1's o(t²))."""
    dist, r_abs = ray_ratios(problem, c, lam, ray)
    ratios = r_abs / dist**2  # (T,)
    ok = bool(np.all(ratios[1:] <= ratios[:-1] * (1 + 1e-9)) and ratios[-1] < RAY_FINAL)
    return Check(f"{name}: |R|/|a−a_o|² → 0 along a ray", ok, f"{ratios[0]:.1e} → {ratios[-1]:.1e} (must end < {RAY_FINAL:.0e})")


# ---- both sides -------------------------------------------------------------------------------------
def check_series_sum(lam_h: np.ndarray, lam: Sequence[float], name: str = "", waived: str = "",
                     rtol: float = SERIES_RTOL) -> Check:
    """Σ_h λ_{i,h} (lam_h is (H, N): orders × agents) against the given λ_i (Theorem 2's identity)."""
    lam_np = np.asarray([float(x) for x in lam], dtype=np.float64)  # (N,)
    gap = float(np.abs(np.asarray(lam_h, dtype=np.float64).sum(0) - lam_np).max())
    tol = rtol * _scale(lam_np)
    return Check(f"{name}: Σ_h λ_(i,h) = λ_i", gap <= tol,
                 f"max gap {gap:.1e}, tol {tol:.0e} (H = {np.shape(lam_h)[0]})", "" if gap <= tol else waived)


def check_decay(decays: Sequence[Decay], expected: str, name: str = "") -> Check:
    """Every agent's λ_{i,h} must be conclusively of the class F's analytic type implies."""
    ok = all(d.kind == expected for d in decays)
    shown = decays[0].label() if ok else "; ".join(f"agent {i + 1}: {d.label()}" for i, d in enumerate(decays) if d.kind != expected)
    return Check(f"{name}: λ_(i,h) decay is {expected}", ok, shown)


# ---- mixers (F a float64 torch function at a fixed state) -------------------------------------------
BatchFn = Callable[[torch.Tensor], torch.Tensor]  # (B, N) -> (B,)


def lambda_fd(F: BatchFn, q0: np.ndarray) -> np.ndarray:
    """(N,) central finite differences of F at q0 in float64 (one batch of 2N points)."""
    q = torch.as_tensor(np.asarray(q0, dtype=np.float64))  # (N,)
    n = q.shape[0]
    step = 6e-6 * max(1.0, float(q.abs().max()))  # ≈ eps^(1/3): balances truncation and rounding
    eye = torch.eye(n, dtype=q.dtype) * step  # (N, N)
    with torch.no_grad():
        vals = F(torch.cat([q + eye, q - eye]))  # (2N,)
    return ((vals[:n] - vals[n:]) / (2 * step)).numpy()


def check_mixer_lambda(F: BatchFn, q0: np.ndarray, lam: np.ndarray, name: str = "",
                       closed: np.ndarray | None = None) -> tuple[Check, np.ndarray]:
    """λ against central finite differences (and the mixer's closed-form λ when it has one)."""
    fd = lambda_fd(F, q0)
    lam = np.asarray(lam, dtype=np.float64)
    gap = float(np.abs(lam - fd).max())
    ok = gap <= FD_RTOL * _scale(lam)
    detail = f"FD gap {gap:.1e}, tol {FD_RTOL:.0e}·max(1,|λ|)"
    if closed is not None:
        cgap = float(np.abs(lam - np.asarray(closed)).max())
        ok = ok and cgap <= CLOSED_RTOL * _scale(lam)
        detail += f"; closed-form gap {cgap:.1e}, tol {CLOSED_RTOL:.0e}"
    return Check(f"{name}: λ_i = finite-difference ∂F/∂Q^i", ok, detail), fd


def mixer_directions(n: int) -> tuple[tuple[float, ...], ...]:
    """Utilities only fall away from their max: every axis, all agents equally, and a generic mix."""
    axes = tuple(tuple(float(i == j) for j in range(n)) for i in range(n))
    return axes + (tuple(1.0 for _ in range(n)), tuple((j + 1) / n for j in range(n)))


def measure_mixer_remainder(F: BatchFn, q0: np.ndarray, c: float, lam: np.ndarray) -> tuple[OrderFit, np.ndarray]:
    """Order in t of R = F(Q) − c − λ·Q along Q = Q(a_o) − t²·d (a quadratic peak: |a − a_o| = t).

    Returns the fit and |R| as (D, T): directions × MIXER_TS.
    """
    q = np.asarray(q0, dtype=np.float64)  # (N,)
    lam = np.asarray(lam, dtype=np.float64)
    dirs = mixer_directions(len(q))
    D, t = np.array(dirs), np.array(MIXER_TS)  # (D, N), (T,)
    pts = q[None, None] - (t**2)[None, :, None] * D[:, None, :]  # (D, T, N)
    with torch.no_grad():
        f = F(torch.as_tensor(pts.reshape(-1, len(q)))).numpy().reshape(len(dirs), len(t))  # (D, T)
        f0 = float(F(torch.as_tensor(q[None]))[0])
    r = np.abs(f - c - pts @ lam)  # (D, T)
    zero = MIXER_NOISE * (1 + abs(f0) + abs(c) + float(np.abs(lam * q).sum()))
    return OrderFit(dirs, tuple(fit_order(t, row, zero) for row in r)), r


def check_mixer_remainder(F: BatchFn, q0: np.ndarray, c: float, lam: np.ndarray, name: str = "") -> tuple[Check, OrderFit]:
    """The true remainder's order along quadratic-peak rays must be ≥ MIXER_MIN_ORDER (≡ 0 also passes)."""
    fit, _ = measure_mixer_remainder(F, q0, c, lam)
    return Check(f"{name}: measured remainder order ≥ {MIXER_MIN_ORDER}", fit.order >= MIXER_MIN_ORDER,
                 f"orders {fit.label()} along {len(fit.slopes)} rays ΔQ = −t²d"), fit


def check_attention(attention_lam: np.ndarray, lam: np.ndarray, name: str = "") -> Check:
    """Qatten's explicit Σ_heads w_h λ_{i,h} against the given λ_i (identical for the linear Qatten)."""
    gap = float(np.abs(np.asarray(attention_lam) - np.asarray(lam)).max())
    return Check(f"{name}: Σ_heads w_h λ_(i,h) = λ_i", gap <= CLOSED_RTOL * _scale(lam), f"gap {gap:.1e}, tol {CLOSED_RTOL:.0e}")


def check_nonneg(lam: Sequence[float], name: str = "") -> Check:
    """λ_i ≥ 0 (a sign check: a rescaled λ keeps its sign, so it cannot catch λ × 2)."""
    return Check(f"{name}: λ_i ≥ 0", all(float(x) >= 0 for x in lam), f"λ = {_fmt(lam)}")
