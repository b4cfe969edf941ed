"""The battle view as matplotlib figures: one frame of a replay with the model's view, and its animation.

Shared by the explorer's run viewer (one frame per slider step, a GIF to download) and
``python -m decomp.battle`` (the same GIF for papers and talks), so both show the same picture:
the map with allies coloured by λ_i(s_t) and sized by health, each agent's Q^i over its actions
(unavailable ones hatched, the action taken in blue), Q_tot against the discounted return-to-go, and
λ_i over the episode with deaths marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import animation  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from decomp.analysis.battle import Battle, BattleView  # noqa: E402
from decomp.envs.smax_plus.terrain import CLIFF, VOID, Terrain, map_terrain  # noqa: E402

LAMBDA_CMAP = "viridis"
CHOSEN, AVAILABLE, ENEMY, ALLY = "#1f3fff", "#9a9a9a", "#d62728", "#1f77b4"
AGENT_COLORS = plt.get_cmap("tab10").colors


def lambda_norm(view: BattleView | None) -> Normalize | None:
    """One colour scale for λ_i over the whole episode, so colours compare across steps (None: no λ)."""
    if view is None or not view.has_lambda:
        return None
    return Normalize(0.0, max(float(view.lam.max()), 1e-9))


def square(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The view box grown to a square around its centre, so a battle along one axis is not a thin strip."""
    x0, x1, y0, y1 = bounds
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - half, cx + half, cy - half, cy + half


TERRAIN_COLORS = {CLIFF: (0.55, 0.42, 0.30, 0.55), VOID: (0.35, 0.35, 0.35, 0.45)}  # ground: not drawn


def draw_terrain(ax: Axes, battle: Battle) -> None:
    """The map's cliffs and void under the units, where the replay's map has terrain (SMAX+'s 2c_vs_64zg)."""
    name = battle.view.meta.get("map_name") if battle.view is not None else None
    ground = map_terrain(str(name)) if name else None
    if ground is not None:
        draw_ground(ax, ground)


def draw_ground(ax: Axes, ground: Terrain) -> None:
    """A terrain's cliff and void cells, under whatever is drawn next (ground stays transparent)."""
    rgba = np.zeros((*ground.shape, 4))  # (H, W, 4) transparent ground
    for kind, color in TERRAIN_COLORS.items():
        rgba[ground.cells == kind] = color
    h, w = ground.shape
    ax.imshow(rgba, origin="lower", extent=(0, w, 0, h), interpolation="nearest", zorder=0)
    ax.text(0.01, 0.01, "brown: cliff (colossi walk it) · grey: no unit", transform=ax.transAxes, fontsize=7,
            alpha=0.8)


def draw_map(ax: Axes, battle: Battle, frame: int, norm: Normalize | None) -> None:
    """Units at ``frame``: allies coloured by λ_i(s_t) (when defined), every unit sized by its health."""
    draw_terrain(ax, battle)
    view, full = battle.view, battle.full_health()
    decision = frame if view is not None and frame < view.decisions else None
    lam = view.lam[decision] if view is not None and decision is not None and norm is not None else None
    for side, pos, health, scale in (("a", battle.ally_pos[frame], battle.ally_health[frame], full[0]),
                                     ("e", battle.enemy_pos[frame], battle.enemy_health[frame], full[1])):
        alive = health > 0  # (U,)
        if side == "a" and lam is not None:
            color = plt.get_cmap(LAMBDA_CMAP)(norm(lam))  # type: ignore[misc]  # (N, 4)
        else:
            color = np.array([matplotlib.colors.to_rgba(ALLY if side == "a" else ENEMY)] * len(health))
        ax.scatter(pos[alive, 0], pos[alive, 1], s=40 + 260 * health[alive] / scale, c=color[alive],
                   edgecolors=ALLY if side == "a" else "black", linewidths=1.5 if side == "a" else 0.8)
        ax.scatter(pos[~alive, 0], pos[~alive, 1], marker="x", c=ALLY if side == "a" else ENEMY, s=50, alpha=0.6)
        for j in range(len(pos)):
            label = f"{side}{j}" + (f" λ={lam[j]:.3g}" if side == "a" and lam is not None and alive[j] else "")
            ax.annotate(label, pos[j], fontsize=7, xytext=(5, 4), textcoords="offset points")
    x0, x1, y0, y1 = square(battle.bounds())
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    if norm is not None:
        ax.figure.colorbar(ScalarMappable(norm, LAMBDA_CMAP), ax=ax, shrink=0.8, label="λ_i(s_t) of allies")
    end = "" if decision is not None else " (end)"
    ax.set_title(f"step {frame}{end} · allies (blue ring) coloured by λ_i · size = health", fontsize=9)


def draw_q_bars(axes: Sequence[Axes], view: BattleView, decision: int) -> None:
    """Each agent's Q^i(a) at ``decision``: the action taken in blue, unavailable actions hatched."""
    names = view.action_names()
    what = "logits" if view.meta.get("agent_outputs") == "logits" else "Q"
    for i, ax in enumerate(axes):
        q, avail, taken = view.q[decision, i], view.avail[decision, i], int(view.actions[decision, i])
        colors = [CHOSEN if a == taken else AVAILABLE if avail[a] else "white" for a in range(len(q))]
        bars = ax.bar(range(len(q)), q, color=colors, edgecolor="#666666", linewidth=0.5)
        for a in np.flatnonzero(~avail):
            bars[a].set_hatch("////")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xticks(range(len(q)), names, fontsize=6, rotation=90)
        ax.tick_params(axis="y", labelsize=6)
        lam = f", λ={view.lam[decision, i]:.3g}" if np.isfinite(view.lam[decision, i]) else ""
        ax.set_title(f"a{i}: {what}^{i} → {names[taken]}{lam}", fontsize=7)


def draw_values(ax: Axes, view: BattleView, decision: int) -> None:
    """Q_tot of the joint action taken against the discounted return-to-go it estimates."""
    t = np.arange(view.decisions)
    if np.isfinite(view.q_tot).any():
        ax.plot(t, view.q_tot, color="#2ca02c", lw=1.5, label="Q_tot(s_t, u_t)")
    ax.plot(t, view.return_to_go(), color="black", lw=1.2, ls="--", label=f"return-to-go (γ={view.meta.get('gamma', 0.99)})")
    ax.axvline(decision, color="#888888", lw=0.8)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="best")
    ax.set_title("value of the joint action", fontsize=9)


def draw_lambdas(ax: Axes, battle: Battle, decision: int) -> None:
    """λ_i over the episode, one line per ally; × where an ally dies."""
    view = battle.view
    assert view is not None
    t = np.arange(view.decisions)
    if not view.has_lambda:
        ax.text(0.5, 0.5, "λ_i not defined for this method", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_axis_off()
        return
    deaths = battle.death_frames()
    for i in range(view.lam.shape[1]):
        color = AGENT_COLORS[i % len(AGENT_COLORS)]
        ax.plot(t, view.lam[:, i], color=color, lw=1.2, label=f"a{i}")
        if 0 <= deaths[i]:
            d = min(int(deaths[i]), view.decisions - 1)
            ax.plot([d], [view.lam[d, i]], marker="x", color=color, ms=9, mew=2)
    ax.axvline(decision, color="#888888", lw=0.8)
    ax.set_xlabel("step (× = death)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, ncol=2, loc="best")
    ax.set_title(view.meta.get("lam_label") or "λ_i", fontsize=9)


def battle_figure(battle: Battle, frame: int, fig: Figure | None = None) -> Figure:
    """The whole battle view at ``frame`` (0 .. steps−1); ``fig`` is cleared and reused (animation)."""
    view = battle.view
    if view is None:
        raise ValueError("this replay has no model view (written before it existed); record it again with "
                         "python -m decomp.evaluate run=<folder> replay=true")
    if not 0 <= frame < battle.steps:
        raise ValueError(f"frame {frame} is outside the replay's 0..{battle.steps - 1}")
    n = view.q.shape[1]
    fig = fig or plt.figure(figsize=(max(12.0, 2.3 * n), 7.4))
    fig.clear()  # a fixed grid, not a layout engine: the animation redraws it once per frame
    grid = fig.add_gridspec(2, 1, height_ratios=[1.55, 1.0], hspace=0.42, left=0.05, right=0.98, top=0.95, bottom=0.09)
    top = grid[0].subgridspec(1, 3, width_ratios=[1.35, 1.0, 1.0], wspace=0.28)
    ax_map, ax_val, ax_lam = (fig.add_subplot(top[k]) for k in range(3))
    bars = grid[1].subgridspec(1, n, wspace=0.12).subplots(sharey=True)
    decision = min(frame, view.decisions - 1)
    draw_map(ax_map, battle, frame, lambda_norm(view))
    draw_values(ax_val, view, decision)
    draw_lambdas(ax_lam, battle, decision)
    draw_q_bars(np.atleast_1d(bars), view, decision)
    if frame >= view.decisions:
        fig.text(0.5, 0.4, "episode over: " + ("won" if view.meta.get("won") else "not won") +
                        f"; the last decision (step {decision}) is shown", fontsize=8, ha="center")
    return fig


def save_animation(battle: Battle, out: Path, fps: float = 4.0, dpi: int = 60,
                   frames: Sequence[int] | None = None) -> Path:
    """The battle view over ``frames`` (default: every frame) as a GIF (pillow) or an MP4 (needs ffmpeg)."""
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{out}: the animation is written as .gif or .mp4, not {suffix or 'no suffix'!r}")
    if suffix == ".mp4" and not animation.writers.is_available("ffmpeg"):
        raise ValueError(f"{out}: MP4 needs ffmpeg on the PATH (not found); write a .gif instead")
    if fps <= 0 or dpi < 10:
        raise ValueError(f"fps must be > 0 and dpi >= 10, got fps={fps}, dpi={dpi}")
    order = list(range(battle.steps) if frames is None else frames)
    fig = battle_figure(battle, order[0])
    writer = animation.PillowWriter(fps=fps) if suffix == ".gif" else animation.FFMpegWriter(fps=fps)
    anim = animation.FuncAnimation(fig, lambda f: battle_figure(battle, f, fig) and [], frames=order, blit=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        anim.save(str(out), writer=writer, dpi=dpi)
    finally:
        plt.close(fig)
    return out
