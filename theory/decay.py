"""How fast a coefficient sequence λ_{i,1}, λ_{i,2}, ... decays: finite, faster than geometric, or geometric.

Theorem 2 claims λ_{i,h} decays "super-exponentially" in h. Ratios |λ_{h+1}/λ_h| are too noisy for
that (coefficients change sign and can vanish at alternate orders), so we fit the envelope
e_h = max(|λ_h|, |λ_{h+1}|) with

    log e_h ≈ α + β·h + γ·h·log h.

A geometric sequence C·ρ^h has γ = 0 (ρ = e^β); a factorial one x^h/h! has log ≈ h·log x − h·log h + h,
so γ ≈ −1. We call the decay faster than geometric when γ < −1/2 (the residual curvature of a
log-linear fit is what γ measures). Used by both the symbolic and the numeric side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

FINITE_TOL = 1e-14  # relative size below which a coefficient counts as exactly 0
SUPER_GAMMA = -0.5


@dataclass(frozen=True)
class Decay:
    kind: str  # "finite" | "faster than geometric" | "geometric" | "too short"
    gamma: float  # h·log h coefficient of the fit (≈ −1 factorial, ≈ 0 geometric)
    rate: float  # geometric rate e^β of a plain log-linear fit (per order)
    ratios: tuple[float, ...]  # |λ_{h+1}| / |λ_h| (nan where λ_h = 0)
    zero_from: int | None = None  # first order from which every λ_h is (numerically) 0

    @property
    def faster_than_geometric(self) -> bool:
        return self.kind in ("finite", "faster than geometric")

    def label(self) -> str:
        if self.kind == "geometric":
            return f"geometric (rate {self.rate:.2g}/order, γ={self.gamma:+.2f})"
        if self.kind == "faster than geometric":
            return f"faster than geometric (γ={self.gamma:+.2f})"
        if self.kind == "finite":
            return f"finite (0 for h ≥ {self.zero_from})"
        return self.kind


def classify_decay(coeffs: Sequence[float], floor: float = FINITE_TOL) -> Decay:
    """Classify |coeffs[h-1]| = |λ_h| for h = 1..H (see the module docstring for the rule).

    Coefficients below ``floor`` × the largest one count as 0 (numeric estimates have a noise floor).
    Fewer than 4 non-zero orders after the first means the sequence is finite (as far as we can tell).
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
    if keep.sum() < 4:
        if zero_from <= len(mags):
            return Decay("finite", float("-inf"), 0.0, ratios, zero_from)
        return Decay("too short", float("nan"), float("nan"), ratios)
    y, hk = np.log(env[keep]), h[keep]
    gamma = float(np.linalg.lstsq(np.stack([np.ones_like(hk), hk, hk * np.log(hk)], 1), y, rcond=None)[0][2])
    beta = float(np.polyfit(hk, y, 1)[0])
    kind = "faster than geometric" if gamma < SUPER_GAMMA else "geometric"
    return Decay(kind, gamma, float(np.exp(beta)), ratios, zero_from if zero_from <= len(mags) else None)
