"""Q_tot as a function of two agents' utilities at the game's state, with the joint actions on it.

This is where a user *sees* the representational limit: VDN's surface is a plane, QMIX's is
monotone in both axes, and the payoff points that lie off the surface are what the mixer cannot fit.
The same surface is drawn at a state of a SMAX battle (``decomp.analysis.battle_state``), which has
no payoff: there the dots are coloured by Q_tot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from explorer_lib.plots import CMAP  # noqa: E402
from explorer_lib.validate import action_labels  # noqa: E402


@dataclass
class Surface:
    agents: tuple[int, int]  # which two agents vary
    q_i: np.ndarray  # (G,) grid of Q^i values
    q_j: np.ndarray  # (G,)
    z: np.ndarray  # (G, G) Q_tot[q_j index, q_i index] (meshgrid "xy" order, for contour plots)
    points: pd.DataFrame  # one row per (a^i, a^j): utilities, Q_tot there and the payoff (if there is one)


class SurfaceSource(Protocol):
    """What a surface needs: a matrix-game run (MatrixRun) or a battle state (BattleState)."""

    agent_qs: list[np.ndarray]  # per agent (k_i,)
    greedy: tuple[int, ...]  # per agent: the entry the others are held at
    payoff: np.ndarray | None  # (k_1, ..., k_n) or None (no payoff: a battle state)

    def mix(self, qs: np.ndarray) -> np.ndarray | None: ...


def mix_values(run: SurfaceSource, qs: np.ndarray) -> np.ndarray | None:
    """``run.mix`` with the trailing singleton squeezed, so the result has qs's batch shape."""
    out = run.mix(np.asarray(qs, dtype=np.float32))
    if out is None:
        return None
    out = np.asarray(out, dtype=float)
    if out.shape == (*qs.shape[:-1], 1):
        out = out[..., 0]
    if out.shape != qs.shape[:-1]:
        raise ValueError(f"MatrixRun.mix returned shape {out.shape} for utilities of shape {qs.shape}")
    return out


def greedy_utilities(run: SurfaceSource) -> np.ndarray:
    """Each agent's utility at its greedy action: where the other agents are held in a slice."""
    return np.array([float(np.asarray(q)[a]) for q, a in zip(run.agent_qs, run.greedy)])


def compute_surface(run: SurfaceSource, i: int = 0, j: int = 1, grid: int = 61, margin: float = 0.25,
                    labels: Sequence[Sequence[str]] | None = None, min_pad: float = 0.5) -> Surface | None:
    """Q_tot over a box around agents i and j's utilities (others at greedy); None if not a mixer of Q^i.
    ``labels``: each agent's action names (default A, B, C, … for a matrix game); ``min_pad``: the least
    margin around the utilities (matrix payoffs are units apart, a battle's Q^i can be hundredths)."""
    if i == j:
        raise ValueError("choose two different agents for the surface axes")
    qi_vals = np.asarray(run.agent_qs[i], dtype=float)
    qj_vals = np.asarray(run.agent_qs[j], dtype=float)

    def axis(v: np.ndarray) -> np.ndarray:
        lo, hi = float(v.min()), float(v.max())
        pad = max(margin * (hi - lo), min_pad)
        return np.linspace(lo - pad, hi + pad, grid)

    q_i, q_j = axis(qi_vals), axis(qj_vals)
    base = greedy_utilities(run)
    gi, gj = np.meshgrid(q_i, q_j)  # (G, G), rows follow q_j
    qs = np.broadcast_to(base, (*gi.shape, len(base))).copy()
    qs[..., i], qs[..., j] = gi, gj
    z = mix_values(run, qs)
    if z is None:
        return None
    rows = []
    names = [list(x) for x in labels] if labels is not None else [action_labels(len(q)) for q in run.agent_qs]
    labels_i, labels_j = names[i], names[j]
    for ai in range(len(qi_vals)):
        for aj in range(len(qj_vals)):
            joint = list(run.greedy)
            joint[i], joint[j] = ai, aj
            point = base.copy()
            point[i], point[j] = qi_vals[ai], qj_vals[aj]
            q_tot = float(mix_values(run, point[None])[0])  # type: ignore[index]
            row = {"joint action": "(" + ", ".join(names[k][a] for k, a in enumerate(joint)) + ")",
                   f"a^{i + 1}": labels_i[ai], f"a^{j + 1}": labels_j[aj],
                   f"Q^{i + 1}": qi_vals[ai], f"Q^{j + 1}": qj_vals[aj], "Q_tot": q_tot}
            if run.payoff is not None:
                payoff = float(np.asarray(run.payoff)[tuple(joint)])
                row.update({"payoff": payoff, "payoff − Q_tot": payoff - q_tot})
            rows.append(row)
    return Surface((i, j), q_i, q_j, z, pd.DataFrame(rows))


ANNOTATE_MAX = 16  # joint actions labelled on the contour plot; more would hide the surface


def surface_figure(s: Surface, title: str) -> Figure:
    """Left: filled contours with the joint actions; right: the 3-D surface with payoff stems (dots and
    stems show the payoff when there is one; a battle state's dots are coloured by Q_tot)."""
    i, j = s.agents
    pts = s.points
    xi, xj = pts[f"Q^{i + 1}"].to_numpy(), pts[f"Q^{j + 1}"].to_numpy()
    qt = pts["Q_tot"].to_numpy()
    pay = pts["payoff"].to_numpy() if "payoff" in pts else None
    dots = qt if pay is None else pay
    lo = float(min(s.z.min(), dots.min()))
    hi = float(max(s.z.max(), dots.max()))
    fig = plt.figure(figsize=(11, 4.4))
    ax = fig.add_subplot(1, 2, 1)
    cf = ax.contourf(s.q_i, s.q_j, s.z, levels=20, cmap=CMAP, vmin=lo, vmax=hi)
    cs = ax.contour(s.q_i, s.q_j, s.z, levels=10, colors="black", linewidths=0.4, alpha=0.6)
    ax.clabel(cs, fontsize=6, fmt="%.1f")
    ax.scatter(xi, xj, c=dots, cmap=CMAP, vmin=lo, vmax=hi, s=90 if len(pts) <= ANNOTATE_MAX else 30,
               edgecolors="black", zorder=3)
    if len(pts) <= ANNOTATE_MAX:
        for k, (a, b, q, lab_i, lab_j) in enumerate(zip(xi, xj, qt, pts[f"a^{i + 1}"], pts[f"a^{j + 1}"])):
            reward = "" if pay is None else f": r={pay[k]:g}"
            ax.annotate(f"{lab_i}{lab_j}{reward}\nQ_tot={q:.1f}", (a, b), fontsize=7, xytext=(5, 4),
                        textcoords="offset points", bbox={"boxstyle": "round", "fc": "white", "alpha": 0.7, "lw": 0})
    fig.colorbar(cf, ax=ax, label="Q_tot" + (" (dots: payoff)" if pay is not None else ""))
    ax.set_xlabel(f"Q^{i + 1}")
    ax.set_ylabel(f"Q^{j + 1}")
    ax.set_title(title, fontsize=10)

    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    gi, gj = np.meshgrid(s.q_i, s.q_j)
    ax3.plot_surface(gi, gj, s.z, cmap=CMAP, vmin=lo, vmax=hi, alpha=0.55, linewidth=0)
    ax3.scatter(xi, xj, qt, color="black", s=18, label="Q_tot at joint actions")
    if pay is not None:
        ax3.scatter(xi, xj, pay, color="#d62728", marker="*", s=70, label="payoff")
        for a, b, q, p in zip(xi, xj, qt, pay):
            ax3.plot([a, a], [b, b], [q, p], color="#d62728", lw=1, ls="--")
    ax3.set_xlabel(f"Q^{i + 1}")
    ax3.set_ylabel(f"Q^{j + 1}")
    ax3.set_zlabel("Q_tot")
    ax3.legend(fontsize=7, loc="upper left")
    ax3.view_init(elev=25, azim=-125)
    fig.tight_layout()
    return fig
