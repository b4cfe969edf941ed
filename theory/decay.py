"""How fast a coefficient sequence λ_{i,1}, λ_{i,2}, ... decays: finite, faster than geometric, geometric
or — when the data cannot tell — inconclusive.

Theorem 2 claims λ_{i,h} decays "super-exponentially" in h. Ratios |λ_{h+1}/λ_h| are too noisy for
that (coefficients change sign and can vanish at alternate orders), so we fit the envelope
e_h = max(|λ_h|, |λ_{h+1}|) by least squares with

    log e_h ≈ α + β·h + γ·h·log h.

A geometric sequence C·ρ^h has γ = 0; a factorial one x^h/h! has log ≈ h·log x − h·log h + h, so
γ ≈ −1. The boundary is γ = −1/2, and a verdict is only given when the data are clear of it:

  - faster than geometric: γ + 2·se(γ) < −1/2   (se from the fit's residuals)
  - geometric:             γ − 2·se(γ) > −1/2
  - inconclusive:          the ±2·se interval straddles −1/2, or fewer than MIN_ORDERS usable orders.

Why MIN_ORDERS = 12: with 7 orders a geometric sequence with log-normal noise (σ = 1) is called
factorial by the bare γ < −1/2 rule about 40 % of the time; with 13 orders and the ±2·se rule
the wrong verdict drops to ~1 % (most of the rest are "inconclusive"), with 17 orders to ≤ 0.2 %
(simulated while writing this module; see ``tests/test_theory.py::test_decay_noise_misclassification``).
A "finite" verdict also needs MIN_ORDERS computed orders, the tail of which are all 0, and an abrupt
cut: a sequence that slides gradually into the noise floor could be finite or factorial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

FINITE_TOL = 1e-14  # relative size below which a coefficient counts as exactly 0
SUPER_GAMMA = -0.5  # γ boundary between geometric (0) and factorial (−1)
MIN_ORDERS = 12  # usable orders needed for any verdict
Z_SCORE = 2.0  # width of the γ interval, in standard errors
ABRUPT = 1e3  # "finite" needs the last non-zero |λ_h| ≥ ABRUPT × floor (a cut, not a slide into the floor)


@dataclass(frozen=True)
class Decay:
    kind: str  # "finite" | "faster than geometric" | "geometric" | "inconclusive"
    gamma: float  # h·log h coefficient of the fit (≈ −1 factorial, ≈ 0 geometric)
    rate: float  # geometric rate e^β of a plain log-linear fit (per order)
    ratios: tuple[float, ...]  # |λ_{h+1}| / |λ_h| (nan where λ_h = 0)
    zero_from: int | None = None  # first order from which every λ_h is (numerically) 0
    gamma_se: float = math.nan  # standard error of γ
    n_orders: int = 0  # orders that entered the fit (or were computed, for "finite")
    why: str = ""  # for "inconclusive": what was missing
    floor: float = FINITE_TOL  # relative size under which λ_h counted as 0

    @property
    def faster_than_geometric(self) -> bool:
        return self.kind in ("finite", "faster than geometric")

    @property
    def conclusive(self) -> bool:
        return self.kind != "inconclusive"

    def label(self) -> str:
        if self.kind == "geometric":
            return f"geometric (rate {self.rate:.2g}/order, γ={self.gamma:+.2f}±{Z_SCORE * self.gamma_se:.2f}, {self.n_orders} orders)"
        if self.kind == "faster than geometric":
            return f"faster than geometric (γ={self.gamma:+.2f}±{Z_SCORE * self.gamma_se:.2f}, {self.n_orders} orders)"
        if self.kind == "finite":
            zero = "0" if self.floor <= FINITE_TOL else f"< {self.floor:.0e}·max (noise floor)"
            return f"finite ({zero} for h ≥ {self.zero_from}, {self.n_orders} orders)"
        return f"inconclusive ({self.why})"


def classify_decay(coeffs: Sequence[float], floor: float = FINITE_TOL, min_orders: int = MIN_ORDERS) -> Decay:
    """Classify |coeffs[h-1]| = |λ_h| for h = 1..H (see the module docstring for the rule).

    Coefficients below ``floor`` × the largest one count as 0 (numeric estimates have a noise floor),
    so a sequence that only drops under the floor is "finite to that floor" — say so in reports.
    """
    mags = np.abs(np.asarray(coeffs, dtype=np.float64))  # (H,)
    scale = max(float(mags.max(initial=0.0)), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = tuple(float(r) for r in mags[1:] / mags[:-1])
    nonzero = np.nonzero(mags > floor * scale)[0]
    zero_from = int(nonzero[-1]) + 2 if nonzero.size else 1  # orders are 1-based
    env = np.maximum(mags[:-1], mags[1:])  # (H-1,) envelope damps even/odd patterns
    h = np.arange(1, len(env) + 1, dtype=np.float64)
    keep = (env > floor * scale) & (h >= 2) & (h < zero_from)  # first order = linear term, not the tail
    n_keep = int(keep.sum())
    if zero_from <= len(mags) and n_keep < min_orders:
        if len(mags) < min_orders:
            return Decay("inconclusive", math.nan, math.nan, ratios, zero_from, n_orders=len(mags),
                         why=f"0 from h = {zero_from}, but only {len(mags)} < {min_orders} orders computed")
        last = float(mags[zero_from - 2])  # the last non-zero |λ_h|
        if last < ABRUPT * floor * scale:
            return Decay("inconclusive", math.nan, math.nan, ratios, zero_from, n_orders=n_keep, floor=floor,
                         why=f"|λ_h| sinks into the {floor:.0e} floor at h = {zero_from}: finite and fast decay look alike")
        return Decay("finite", float("-inf"), 0.0, ratios, zero_from, n_orders=len(mags), floor=floor)
    if n_keep < min_orders:
        return Decay("inconclusive", math.nan, math.nan, ratios, n_orders=n_keep,
                     why=f"{n_keep} usable orders < {min_orders}, of {len(mags)} computed")
    y, hk = np.log(env[keep]), h[keep]  # (K,)
    X = np.stack([np.ones_like(hk), hk, hk * np.log(hk)], 1)  # (K, 3)
    coef = np.linalg.lstsq(X, y, rcond=None)[0]  # (3,)
    resid = y - X @ coef  # (K,)
    sigma2 = float(resid @ resid) / (len(y) - 3)
    gamma, se = float(coef[2]), math.sqrt(sigma2 * float(np.linalg.inv(X.T @ X)[2, 2]))
    rate = float(np.exp(np.polyfit(hk, y, 1)[0]))
    zf = zero_from if zero_from <= len(mags) else None
    if gamma + Z_SCORE * se < SUPER_GAMMA:
        return Decay("faster than geometric", gamma, rate, ratios, zf, se, n_keep)
    if gamma - Z_SCORE * se > SUPER_GAMMA:
        return Decay("geometric", gamma, rate, ratios, zf, se, n_keep)
    return Decay("inconclusive", gamma, rate, ratios, zf, se, n_keep,
                 why=f"γ={gamma:+.2f}±{Z_SCORE * se:.2f} straddles {SUPER_GAMMA}")
