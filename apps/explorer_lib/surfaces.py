"""Q_tot as a function of two agents' utilities at the game's state, with the joint actions on it.

This is where a user *sees* the representational limit: VDN's surface is a plane, QMIX's is
monotone in both axes, and the payoff points that lie off the surface are what the mixer cannot fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from decomp.training.matrix_lab import MatrixRun  # noqa: E402
from explorer_lib.plots import CMAP  # noqa: E402
from explorer_lib.validate import action_labels  # noqa: E402


@dataclass
class Surface:
    agents: tuple[int, int]  # which two agents vary
    q_i: np.ndarray  # (G,) grid of Q^i values
    q_j: np.ndarray  # (G,)
    z: np.ndarray  # (G, G) Q_tot[q_j index, q_i index] (meshgrid "xy" order, for contour plots)
    points: pd.DataFrame  # one row per (a^i, a^j): utilities, Q_tot there and the payoff


def mix_values(run: MatrixRun, qs: np.ndarray) -> np.ndarray | None:
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


def greedy_utilities(run: MatrixRun) -> np.ndarray:
    """Each agent's utility at its greedy action: where the other agents are held in a slice."""
    return np.array([float(np.asarray(q)[a]) for q, a in zip(run.agent_qs, run.greedy)])


def compute_surface(run: MatrixRun, i: int = 0, j: int = 1, grid: int = 61, margin: float = 0.25) -> Surface | None:
    """Q_tot over a box around agents i and j's utilities (others at greedy); None if not a mixer of Q^i."""
    if i == j:
        raise ValueError("choose two different agents for the surface axes")
    qi_vals = np.asarray(run.agent_qs[i], dtype=float)
    qj_vals = np.asarray(run.agent_qs[j], dtype=float)

    def axis(v: np.ndarray) -> np.ndarray:
        lo, hi = float(v.min()), float(v.max())
        pad = max(margin * (hi - lo), 0.5)
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
    labels_i, labels_j = action_labels(len(qi_vals)), action_labels(len(qj_vals))
    for ai in range(len(qi_vals)):
        for aj in range(len(qj_vals)):
            joint = list(run.greedy)
            joint[i], joint[j] = ai, aj
            point = base.copy()
            point[i], point[j] = qi_vals[ai], qj_vals[aj]
            q_tot = float(mix_values(run, point[None])[0])  # type: ignore[index]
            payoff = float(np.asarray(run.payoff)[tuple(joint)])
            rows.append({
                "joint action": "(" + ", ".join(action_labels(max(run.payoff.shape))[a] for a in joint) + ")",
                f"a^{i + 1}": labels_i[ai], f"a^{j + 1}": labels_j[aj],
                f"Q^{i + 1}": qi_vals[ai], f"Q^{j + 1}": qj_vals[aj],
                "Q_tot": q_tot, "payoff": payoff, "payoff − Q_tot": payoff - q_tot,
            })
    return Surface((i, j), q_i, q_j, z, pd.DataFrame(rows))


def surface_figure(s: Surface, title: str) -> Figure:
    """Left: filled contours with the joint actions; right: the 3-D surface with payoff stems."""
    i, j = s.agents
    pts = s.points
    xi, xj = pts[f"Q^{i + 1}"].to_numpy(), pts[f"Q^{j + 1}"].to_numpy()
    qt, pay = pts["Q_tot"].to_numpy(), pts["payoff"].to_numpy()
    lo = float(min(s.z.min(), pay.min()))
    hi = float(max(s.z.max(), pay.max()))
    fig = plt.figure(figsize=(11, 4.4))
    ax = fig.add_subplot(1, 2, 1)
    cf = ax.contourf(s.q_i, s.q_j, s.z, levels=20, cmap=CMAP, vmin=lo, vmax=hi)
    cs = ax.contour(s.q_i, s.q_j, s.z, levels=10, colors="black", linewidths=0.4, alpha=0.6)
    ax.clabel(cs, fontsize=6, fmt="%.1f")
    ax.scatter(xi, xj, c=pay, cmap=CMAP, vmin=lo, vmax=hi, s=90, edgecolors="black", zorder=3)
    for a, b, p, q, lab_i, lab_j in zip(xi, xj, pay, qt, pts[f"a^{i + 1}"], pts[f"a^{j + 1}"]):
        ax.annotate(f"{lab_i}{lab_j}: r={p:g}\nQ_tot={q:.1f}", (a, b), fontsize=7, xytext=(5, 4),
                    textcoords="offset points", bbox={"boxstyle": "round", "fc": "white", "alpha": 0.7, "lw": 0})
    fig.colorbar(cf, ax=ax, label="Q_tot (dots: payoff)")
    ax.set_xlabel(f"Q^{i + 1}")
    ax.set_ylabel(f"Q^{j + 1}")
    ax.set_title(title, fontsize=10)

    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    gi, gj = np.meshgrid(s.q_i, s.q_j)
    ax3.plot_surface(gi, gj, s.z, cmap=CMAP, vmin=lo, vmax=hi, alpha=0.55, linewidth=0)
    ax3.scatter(xi, xj, qt, color="black", s=18, label="Q_tot at joint actions")
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
