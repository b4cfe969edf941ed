"""Read a run's ``replay.npz`` back: the battle, and the model's view of it when the replay carries one.

One reader for every consumer (the explorer's replay and battle view, the battle-state surface and
``python -m decomp.battle``), so a malformed file gets the same specific message everywhere. The
layout is written by ``decomp/rollout/replay_export.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BATTLE_ARRAYS = {"ally_pos": 3, "ally_health": 2, "enemy_pos": 3, "enemy_health": 2}  # name -> ndim
VIEW_ARRAYS = {"obs": 3, "state": 2, "feats": 3, "avail": 3, "actions": 2, "reward": 1, "q": 3, "q_tot": 1, "lam": 2}
HEAD_ARRAYS = {"head_lam": 3, "head_w": 2}


class BattleFileError(ValueError):
    """A replay.npz that cannot be read or whose arrays do not fit together."""


def regenerate_hint(run: Path | str) -> str:
    """The command that records a run's replay with the model's view from its saved weights."""
    return f"python -m decomp.evaluate run={run} replay=true"


@dataclass
class BattleView:
    """The model's inputs and values at each of the episode's T decisions (replay_export.py)."""

    obs: np.ndarray  # (T, N, O) what each agent saw
    state: np.ndarray  # (T, S) what the mixer saw
    feats: np.ndarray  # (T, N, F) per-agent features (Qatten's keys)
    avail: np.ndarray  # (T, N, A) bool
    actions: np.ndarray  # (T, N) int, the greedy actions taken
    reward: np.ndarray  # (T,) in the trained scale
    q: np.ndarray  # (T, N, A) the agents' outputs Q^i (logits for a policy-gradient method)
    q_tot: np.ndarray  # (T,) Q_tot of the joint action taken (NaN: none)
    lam: np.ndarray  # (T, N) λ_i (NaN: not defined, meta["no_lambda"] says why)
    meta: dict[str, Any]
    head_lam: np.ndarray | None = None  # (T, H, N) Qatten's λ_(i,h)
    head_w: np.ndarray | None = None  # (T, H) Qatten's head weights w_h

    @property
    def decisions(self) -> int:
        return int(self.actions.shape[0])

    @property
    def has_lambda(self) -> bool:
        return bool(np.isfinite(self.lam).all())

    def action_names(self) -> list[str]:
        names = [str(a) for a in self.meta.get("action_names") or []]
        return names if len(names) == self.q.shape[-1] else [str(a) for a in range(self.q.shape[-1])]

    def return_to_go(self) -> np.ndarray:
        """G_t = Σ_{k ≥ t} γ^{k−t} r_k (T,): what Q_tot(s_t, u_t) estimates for this greedy episode."""
        gamma = float(self.meta.get("gamma", 0.99))
        r = self.reward.astype(float)  # (T,)
        powers = gamma ** np.arange(len(r))  # (T,)
        tail = np.cumsum((r * powers)[::-1])[::-1]  # (T,) Σ_{k ≥ t} γ^k r_k
        return tail / powers


@dataclass
class Battle:
    ally_pos: np.ndarray  # (T+1, N, 2) frames: before each decision, then the end of the episode
    ally_health: np.ndarray  # (T+1, N) fraction of starting health
    enemy_pos: np.ndarray  # (T+1, M, 2)
    enemy_health: np.ndarray  # (T+1, M)
    view: BattleView | None = field(default=None)  # None: a replay written before the model's view existed

    @property
    def steps(self) -> int:
        return int(self.ally_pos.shape[0])

    def full_health(self) -> tuple[float, float]:
        """Largest health seen for allies and enemies: the reference for marker sizes."""
        return (max(float(self.ally_health.max(initial=0.0)), 1e-9), max(float(self.enemy_health.max(initial=0.0)), 1e-9))

    def bounds(self, pad: float = 1.0) -> tuple[float, float, float, float]:
        """A fixed view box over the whole episode, so units do not jump when the axes rescale."""
        pts = np.concatenate([self.ally_pos.reshape(-1, 2), self.enemy_pos.reshape(-1, 2)])
        return (float(pts[:, 0].min()) - pad, float(pts[:, 0].max()) + pad,
                float(pts[:, 1].min()) - pad, float(pts[:, 1].max()) + pad)

    def death_frames(self) -> np.ndarray:
        """(N,) the first frame at which each ally is dead, -1 for those alive at the end."""
        dead = self.ally_health <= 0  # (T+1, N)
        return np.where(dead.any(0), dead.argmax(0), -1)


def read_battle(f: Path) -> Battle | None:
    """``f`` (a replay.npz) as a :class:`Battle`; None if absent, :class:`BattleFileError` if malformed."""
    if not f.is_file():
        return None
    try:
        with np.load(f) as data:
            arrays = {k: np.asarray(data[k]) for k in (*BATTLE_ARRAYS, *VIEW_ARRAYS, *HEAD_ARRAYS, "meta") if k in data}
    except (OSError, ValueError, EOFError) as err:
        raise BattleFileError(f"{f} is not a readable .npz file: {err}") from None
    _check(f, arrays, BATTLE_ARRAYS)
    t, n, m = arrays["ally_pos"].shape[0], arrays["ally_pos"].shape[1], arrays["enemy_pos"].shape[1]
    _check_shapes(f, arrays, {"ally_pos": (t, n, 2), "ally_health": (t, n), "enemy_pos": (t, m, 2), "enemy_health": (t, m)})
    if t < 1:
        raise BattleFileError(f"{f}: the episode has no steps.")
    battle = Battle(*(arrays[k].astype(float) for k in BATTLE_ARRAYS))
    if "meta" in arrays:
        battle.view = _read_view(f, arrays, t, n)
    return battle


def _read_view(f: Path, arrays: dict[str, np.ndarray], frames: int, n: int) -> BattleView:
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as err:
        raise BattleFileError(f"{f}: meta is not JSON ({err}); {regenerate_hint(f.parent)} rewrites it") from None
    if "mixer" in meta and "method" not in meta:  # recorded before mixer= became method=
        meta["method"] = meta.pop("mixer")
    _check(f, arrays, VIEW_ARRAYS)
    t, a = frames - 1, arrays["q"].shape[-1]
    expected = {"obs": (t, n, arrays["obs"].shape[-1]), "state": (t, arrays["state"].shape[-1]),
                "feats": (t, n, arrays["feats"].shape[-1]), "avail": (t, n, a), "actions": (t, n), "reward": (t,),
                "q": (t, n, a), "q_tot": (t,), "lam": (t, n)}
    if "head_lam" in arrays or "head_w" in arrays:
        _check(f, arrays, HEAD_ARRAYS)
        h = arrays["head_w"].shape[-1]
        expected.update(head_lam=(t, h, n), head_w=(t, h))
    _check_shapes(f, arrays, expected, f" for {frames} frames (one decision fewer), {n} allies, {a} actions")
    view = {k: arrays[k].astype(float) for k in expected}
    view["avail"], view["actions"] = arrays["avail"].astype(bool), arrays["actions"].astype(int)
    return BattleView(**view, meta=meta)


def _check(f: Path, arrays: dict[str, np.ndarray], wanted: dict[str, int]) -> None:
    missing = [k for k in wanted if k not in arrays]
    if missing:
        raise BattleFileError(f"{f} lacks array(s) {', '.join(missing)}.")
    for k, nd in wanted.items():
        if arrays[k].ndim != nd:
            raise BattleFileError(f"{f}: {k} must have {nd} dimensions, got shape {arrays[k].shape}.")


def _check_shapes(f: Path, arrays: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]], why: str = "") -> None:
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise BattleFileError(f"{f}: {k} has shape {arrays[k].shape}, expected {shape}{why}.")
