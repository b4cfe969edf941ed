"""The two figures of ``python -m theory.check --plot DIR``: λ_(i,h) decay and the remainder's order."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: the CLI and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from theory.suite import ExampleResult  # noqa: E402

DECAY_PNG = "theory_lambda_decay.png"
REMAINDER_PNG = "theory_remainder.png"


def plot_lambda_decay(results: Sequence[ExampleResult], path: Path) -> Path:
    """max_i |λ_(i,h)| vs h (log scale) for every example whose series does not stop at h = 1."""
    fig, ax = plt.subplots(figsize=(8.5, 5.4))
    for r in results:
        mags = np.abs(np.array(r.t2.lam_h)).max(0)  # (H,)
        h = np.arange(1, len(mags) + 1)
        keep = mags > 1e-30 * mags.max()  # the symbolic side's EXACT_FLOOR
        if keep.sum() <= 1:
            continue  # affine F: only λ_(i,1) is non-zero
        ax.semilogy(h[keep], mags[keep], "o-", ms=4, label=f"{r.example.name}: {r.t2.decay[0].label()}")
    ax.set_xlabel("order h of the Taylor term of F (around Q = 0)")
    ax.set_ylabel("max_i |λ_(i,h)|")
    ax.set_title("Theorem 2: λ_i = Σ_h λ_(i,h) — decay of the order-h contributions")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6.5, loc="lower left")
    return _save(fig, path / DECAY_PNG)


def plot_remainder(results: Sequence[ExampleResult], path: Path) -> Path:
    """|R(a_o + t·d)| vs |a − a_o| (log–log) with the fitted slope, against the t² bound of Theorem 1."""
    fig, ax = plt.subplots(figsize=(8.5, 5.4))
    t_all: list[float] = []
    for r in results:
        ts, rs = np.array(r.ts), np.array(r.r_abs)
        if not (rs > 0).any():
            continue  # affine F: R ≡ 0
        slope = "—" if r.slope is None else f"{r.slope:.2f}"
        measured = "—" if r.measured is None or r.measured.order == float("inf") else f"{r.measured.order:.2f}"
        ax.loglog(ts, rs, "o-", ms=3, label=f"{r.example.name} (ray slope {slope}, measured order {measured}, predicted {r.rem.label()})")
        t_all += list(ts)
    if t_all:
        t = np.array(sorted(set(t_all)))
        ax.loglog(t, t**2, "k--", lw=1, label="|a − a_o|² (Theorem 1: R must fall faster)")
    ax.set_xlabel("|a − a_o| along a ray")
    ax.set_ylabel("|R(a)| = |Q_tot − (c + Σ λ_i Q^i)|")
    ax.set_title("Theorem 1: the remainder is o(|a − a_o|²) (order 4 for a nonlinear F)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6.5, loc="lower right")
    return _save(fig, path / REMAINDER_PNG)


def _save(fig: plt.Figure, file: Path) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(file, dpi=130)
    plt.close(fig)
    return file
