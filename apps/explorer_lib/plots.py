"""Matplotlib figures for the lab and the run viewer (plotting only: no training, no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless server: never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from explorer_lib.validate import action_labels  # noqa: E402

CMAP = "RdYlGn"
GREEDY_COLOR = "#1f3fff"
OPT_COLOR = "#111111"


def flatten_table(table: np.ndarray) -> np.ndarray:
    """n-agent table -> 2-D: rows are agent 1's actions, columns the joint actions of agents 2..n."""
    t = np.asarray(table, dtype=float)
    return t.reshape(t.shape[0], -1)


def flat_cell(action: Sequence[int], shape: Sequence[int]) -> tuple[int, int]:
    """Where joint action ``action`` lands in :func:`flatten_table`'s grid."""
    if len(shape) == 1:
        return int(action[0]), 0
    col = int(np.ravel_multi_index(tuple(int(a) for a in action[1:]), tuple(shape[1:])))
    return int(action[0]), col


def column_labels(shape: Sequence[int]) -> list[str]:
    """Labels of the flattened columns: 'B' for 2 agents, 'B,A' for agents 2..n."""
    if len(shape) <= 2:
        return action_labels(shape[-1])
    idx = np.indices(tuple(shape[1:])).reshape(len(shape) - 1, -1).T
    return [",".join(action_labels(max(shape))[a] for a in row) for row in idx]


def heatmap(
    table: np.ndarray,
    title: str,
    greedy: Sequence[int] | None = None,
    optima: Sequence[Sequence[int]] = (),
    vrange: tuple[float, float] | None = None,
    width: float | None = None,
    fmt: str = ".1f",
    cmap: str = CMAP,
) -> Figure:
    """Annotated heatmap; the greedy joint action is boxed and optimal joint actions starred."""
    shape = np.shape(table)
    grid = flatten_table(table)
    rows, cols = grid.shape
    w = width or max(2.8, 0.75 * cols + 1.0)
    fig, ax = plt.subplots(figsize=(w, 0.7 * rows + 1.1))
    lo, hi = vrange if vrange else (float(grid.min()), float(grid.max()))
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    ax.imshow(grid, cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
    for r in range(rows):
        for c in range(cols):
            v = grid[r, c]
            ax.text(c, r, f"{v:{fmt}}", ha="center", va="center", fontsize=9 if cols <= 6 else 7,
                    color="black", fontweight="bold" if abs(v) >= 0.5 * max(abs(lo), abs(hi)) else None)
    for opt in optima:
        r, c = flat_cell(opt, shape)
        ax.plot(c + 0.33, r - 0.3, marker="*", markersize=11, color=OPT_COLOR, markeredgecolor="white")
    if greedy is not None:
        r, c = flat_cell(greedy, shape)
        ax.add_patch(Rectangle((c - 0.47, r - 0.47), 0.94, 0.94, fill=False, lw=3, ec=GREEDY_COLOR))
    ax.set_xticks(range(cols), column_labels(shape), fontsize=8)
    ax.set_yticks(range(rows), action_labels(rows), fontsize=8)
    ax.set_xlabel("agent 2" if len(shape) == 2 else "agents 2..n", fontsize=8)
    ax.set_ylabel("agent 1", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def agent_q_bars(agent_qs: Sequence[np.ndarray], greedy: Sequence[int], title: str = "") -> Figure:
    """Each agent's utility Q^i(a^i); the greedy action's bar is highlighted."""
    n = len(agent_qs)
    fig, axes = plt.subplots(1, n, figsize=(max(2.8, 1.3 * n + 0.6), 1.9), sharey=True, squeeze=False)
    for i, (ax, q) in enumerate(zip(axes[0], agent_qs)):
        q = np.asarray(q, dtype=float)
        colors = ["#bbbbbb"] * len(q)
        colors[int(greedy[i])] = GREEDY_COLOR
        ax.bar(range(len(q)), q, color=colors)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xticks(range(len(q)), action_labels(len(q)), fontsize=7)
        ax.set_title(f"$Q^{i + 1}$", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average, same length as ``x`` (the first points average what exists)."""
    x = np.asarray(x, dtype=float)
    if window <= 1 or x.size == 0:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    out = np.empty_like(x)
    for t in range(x.size):
        lo = max(0, t + 1 - window)
        out[t] = (c[t + 1] - c[lo]) / (t + 1 - lo)
    return out


def loss_curves(losses: Mapping[str, Sequence[np.ndarray]]) -> Figure:
    """Mean (line) and min–max over seeds (band) of the smoothed training loss, per method."""
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    positive = True
    for name, per_seed in losses.items():
        arrs = [np.asarray(l, dtype=float) for l in per_seed if len(l)]
        if not arrs:
            continue
        n = min(len(a) for a in arrs)
        window = max(1, n // 50)
        stack = np.stack([smooth(a[:n], window) for a in arrs])
        x = np.arange(n)
        ax.plot(x, stack.mean(0), label=name, lw=1.5)
        ax.fill_between(x, stack.min(0), stack.max(0), alpha=0.2)
        positive &= bool((stack > 0).all())
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("training loss (smoothed)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_curves(series: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, ylabel: str = "") -> Figure:
    """Several (step, value) curves on one axis, e.g. every head's entropy."""
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name, lw=1.3)
    ax.set_xlabel("env steps")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if 1 < len(series) <= 12:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def replay_frame(
    ally_pos: np.ndarray, ally_health: np.ndarray, enemy_pos: np.ndarray, enemy_health: np.ndarray,
    step: int, bounds: tuple[float, float, float, float], full_health: tuple[float, float] = (1.0, 1.0),
) -> Figure:
    """Unit positions at one step; marker size follows health (relative to ``full_health`` of allies,
    enemies, so shrinking is visible over the episode); dead units are crosses."""
    fig, ax = plt.subplots(figsize=(5.0, 4.2))
    for pos, health, color, label, full in (
        (ally_pos, ally_health, "#1f77b4", "ally", full_health[0]),
        (enemy_pos, enemy_health, "#d62728", "enemy", full_health[1]),
    ):
        h = np.clip(np.asarray(health, dtype=float), 0.0, None)
        scale = max(float(full), 1e-9)
        alive = h > 0
        ax.scatter(pos[alive, 0], pos[alive, 1], s=40 + 260 * h[alive] / scale, c=color,
                   alpha=0.85, edgecolors="black", label=f"{label} ({int(alive.sum())} alive)")
        ax.scatter(pos[~alive, 0], pos[~alive, 1], marker="x", c=color, s=50, alpha=0.6)
        for j in range(len(pos)):
            ax.annotate(f"{label[0]}{j}", pos[j], fontsize=7, xytext=(4, 4), textcoords="offset points")
    x0, x1, y0, y1 = bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_title(f"step {step}", fontsize=10)
    ax.legend(fontsize=7, loc="upper right", markerscale=0.5)
    fig.tight_layout()
    return fig


def health_bars(ally_health: np.ndarray, enemy_health: np.ndarray) -> Figure:
    """Health of every unit at one step."""
    fig, ax = plt.subplots(figsize=(4.0, 2.6))
    labels = [f"a{j}" for j in range(len(ally_health))] + [f"e{j}" for j in range(len(enemy_health))]
    values = np.concatenate([ally_health, enemy_health]).astype(float)
    colors = ["#1f77b4"] * len(ally_health) + ["#d62728"] * len(enemy_health)
    ax.bar(labels, values, color=colors)
    ax.set_ylabel("health")
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def lambda_decay(lam_h: np.ndarray, title: str) -> Figure:
    """|λ_{i,h}| against the order h on a log scale, one line per agent (zeros drop off the plot)."""
    lam_h = np.asarray(lam_h, dtype=float)
    fig, ax = plt.subplots(figsize=(4.6, 2.9))
    h = np.arange(1, lam_h.shape[1] + 1)
    floor = 1e-16
    for i, row in enumerate(lam_h):
        mags = np.abs(row)
        keep = mags > floor * max(float(mags.max(initial=0.0)), 1e-300)
        ax.semilogy(h[keep], mags[keep], marker="o", ms=3, lw=1.2, label=f"agent {i + 1}")
    ax.set_xlabel("order h")
    ax.set_ylabel(r"$|\lambda_{i,h}|$")
    ax.set_xticks(h)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def error_vs_distance(dq: np.ndarray, err: np.ndarray) -> Figure:
    """|linearisation error| against |Q(a) − Q(a_o)| on log–log axes: Theorem 1 predicts slope ≈ 2."""
    fig, ax = plt.subplots(figsize=(4.6, 2.9))
    dq, err = np.asarray(dq, dtype=float).ravel(), np.abs(np.asarray(err, dtype=float)).ravel()
    keep = (dq > 1e-12) & (err > 1e-12)
    ax.scatter(dq[keep], err[keep], s=18, c="#444444")
    if keep.sum() >= 2:
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "error is 0 (affine in Q)", transform=ax.transAxes, ha="center")
    ax.set_xlabel(r"$|Q(a) - Q(a_o)|$")
    ax.set_ylabel(r"$|Q_{tot}$ − linearisation|")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metric_grid(series: Mapping[str, tuple[np.ndarray, np.ndarray]], per_row: int = 3) -> Figure:
    """One small panel per metric key (their scales differ too much to share an axis)."""
    keys = list(series)
    rows = max(1, -(-len(keys) // per_row))
    cols = min(per_row, max(1, len(keys)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.4 * rows), squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        x, y = series[key]
        ax.plot(x, y, lw=1.2, marker="o" if len(x) < 30 else None, ms=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("env steps", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
