"""Figures written into run folders: payoff vs learned Q_tot heatmaps, learning curves."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def annotated_heatmap(ax, table: np.ndarray, title: str, mark: Sequence[tuple[int, int]] = (),
                      star: tuple[int, int] | None = None) -> None:
    """A 2-D table with its numbers; boxes on ``mark`` cells (optima), a star on ``star`` (greedy)."""
    im = ax.imshow(table, cmap="viridis")
    for (r, c), v in np.ndenumerate(table):
        ax.text(c, r, f"{v:.1f}", ha="center", va="center", color="w" if v < table.mean() else "k", fontsize=9)
    for r, c in mark:
        ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="red", lw=2.5))
    if star is not None:
        ax.plot(star[1], star[0] - 0.32, marker="*", color="orange", ms=14, mec="k")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("agent 2 action")
    ax.set_ylabel("agent 1 action")
    ax.set_xticks(range(table.shape[1]))
    ax.set_yticks(range(table.shape[0]))
    plt.colorbar(im, ax=ax, fraction=0.046)


def _as_2d(table: np.ndarray) -> np.ndarray:
    """n-agent tables are shown as (agent 1) × (agents 2..n flattened)."""
    return table.reshape(table.shape[0], -1)


def matrix_heatmap(path: Path, payoff: np.ndarray, q_tot: np.ndarray, greedy: tuple[int, ...], title: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    optima = [tuple(int(x) for x in np.unravel_index(i, _as_2d(payoff).shape))
              for i in np.flatnonzero(_as_2d(payoff) == payoff.max())]
    flat_greedy = np.unravel_index(np.ravel_multi_index(greedy, payoff.shape), _as_2d(payoff).shape)
    annotated_heatmap(axes[0], _as_2d(payoff), "payoff (red box: optimum)", optima)
    annotated_heatmap(axes[1], _as_2d(q_tot), "learned Q_tot (★: greedy joint action)", optima,
                      (int(flat_greedy[0]), int(flat_greedy[1])))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def learning_curves(path: Path, history: dict[str, list[tuple[int, float]]], title: str) -> None:
    """Win rate, return and loss against env steps, one panel each."""
    # eval/ema_* only exist with ema_decay > 0 (the weights' moving average, next to the online weights)
    panels = [("win rate", ["eval/win_rate", "eval/ema_win_rate", "charts/win_rate"]),
              ("return", ["eval/return", "eval/ema_return", "charts/episode_return"]),
              ("loss", ["losses/td", "losses/total"])]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (label, keys) in zip(axes, panels):
        for key in keys:
            if history.get(key):
                steps, vals = zip(*history[key])
                ax.plot(steps, vals, label=key, marker="o" if key.startswith("eval/") else None, ms=3)
        ax.set_xlabel("env steps")
        ax.set_title(label)
        if label == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def seed_curves(path: Path, curves: dict[int, Sequence[tuple[int, float]]], title: str) -> None:
    """One line per seed (its periodic greedy win rate) and their median where all seeds were evaluated."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for seed, points in sorted(curves.items()):
        if points:
            steps, vals = zip(*points)
            ax.plot(steps, vals, lw=1, alpha=0.6, label=f"seed {seed}")
    common = sorted(set.intersection(*(set(dict(p)) for p in curves.values()))) if curves else []
    if common and len(curves) > 1:
        median = [float(np.median([dict(p)[s] for p in curves.values()])) for s in common]
        ax.plot(common, median, color="k", lw=2.2, label="median")
    ax.set_xlabel("env steps")
    ax.set_ylabel("greedy win rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
