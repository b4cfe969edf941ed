"""The SMAC report's learning-curve figures (decomp/cli/report_smac.py): greedy win rate per map, and for
SMAX+ maps the greedy return against the random policy's, each as mean over seeds with the seeds' range."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from decomp.analysis.paper_smac import paper_label
from decomp.analysis.sweep_runs import RunRecord, Sweep
from decomp.envs.smax_plus import LABEL as PLUS_LABEL, is_plus_map

Curve = Callable[[RunRecord], tuple[tuple[int, float], ...]]


def curve_figure(sweep: Sweep, mp: str, methods: list[str], path: Path) -> bool:
    """Greedy win rate vs env steps per method on one map: mean over seeds, band = range (min to max) of the seeds."""
    return _band_figure(sweep, mp, methods, path, lambda r: r.curve, "greedy win rate", random_line=False)


def return_figure(sweep: Sweep, mp: str, methods: list[str], path: Path) -> bool:
    """Greedy return vs env steps per method on one map (mean over seeds, band = range), with the random
    policy's return (the mean of the runs' own measurements) as a dashed line."""
    return _band_figure(sweep, mp, methods, path, lambda r: r.return_curve, "greedy return", random_line=True)


def band_runs(sweep: Sweep, mp: str, method: str, curve_of: Curve) -> tuple[list[RunRecord], bool]:
    """The runs one method's line is drawn from, and whether they are finished: its finished runs with a curve,
    else (none finished yet) its unfinished ones.

    Why: the line is the mean at the evaluation steps every run reached, so one run still training would
    cut the finished seeds' curves short at its own step.
    """
    runs = [r for r in sweep.runs if r.map_name == mp and r.method == method and curve_of(r)]
    done = [r for r in runs if r.finished]
    return (done, True) if done else (runs, False)


def _band_figure(sweep: Sweep, mp: str, methods: list[str], path: Path, curve_of: Curve, ylabel: str,
                 random_line: bool) -> bool:
    """One line per method (mean over its finished seeds at the evaluation steps every one reached: see
    :func:`band_runs`) and the range as a band; False, and no file, when no method has a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    drawn = False
    for m in methods:
        runs, finished = band_runs(sweep, mp, m, curve_of)
        curves = [dict(curve_of(r)) for r in runs]
        steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
        if not steps:
            continue
        table = np.array([[c[s] for s in steps] for c in curves])  # (seeds, points)
        label = f"{paper_label(m)} (n={len(curves)}{'' if finished else ', unfinished'})"
        (line,) = ax.plot(steps, table.mean(axis=0), label=label, marker="o", ms=2.5,
                          linestyle="-" if finished else ":")
        ax.fill_between(steps, table.min(axis=0), table.max(axis=0), color=line.get_color(), alpha=0.2)
        randoms = [r.random_return for r in runs if r.random_return is not None]
        if random_line and randoms:
            ax.axhline(float(np.mean(randoms)), color=line.get_color(), linestyle="--", linewidth=1,
                       label=f"{paper_label(m)} runs' random policy (ε = 1)")
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set(xlabel="env steps", ylabel=ylabel, title=f"{PLUS_LABEL if is_plus_map(mp) else 'SMAX'} {mp}")
    if not random_line:
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8 if not random_line else 7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
