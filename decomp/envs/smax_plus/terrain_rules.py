"""The terrain's rules (terrain.py) as vectorised JAX functions of the units' arrays, for SmaxPlus and its
scripted player: where a unit may stand, how a blocked move settles, which moves are available, and the
next step of the shortest grid path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from decomp.envs.smax_plus.terrain import MOVES, Terrain


class TerrainRules:
    """The three rules of terrain.py's docstring, for one map's grid; ``cliff_walker_types`` (T,) bool."""

    def __init__(self, ground: Terrain, cliff_walker_types: np.ndarray) -> None:
        self.terrain = ground
        h, w = ground.shape
        self._hw = (h, w)
        self._ok = jnp.asarray(np.stack([ground.enterable(False), ground.enterable(True)]))  # (2, H, W)
        self._walker = jnp.asarray(cliff_walker_types)  # (T,) bool: which unit types walk cliffs
        self._dist = jnp.asarray(ground.distances)  # (2, H*W, H*W) int16
        self._moves = jnp.asarray(MOVES, jnp.float32)  # (4, 2)

    def _cell(self, pos: jax.Array) -> tuple[jax.Array, jax.Array]:
        h, w = self._hw
        x = jnp.clip(jnp.floor(pos[..., 0]), 0, w - 1).astype(jnp.int32)
        y = jnp.clip(jnp.floor(pos[..., 1]), 0, h - 1).astype(jnp.int32)
        return x, y

    def may_stand(self, pos: jax.Array, types: jax.Array) -> jax.Array:
        """(...,) bool: whether a unit of ``types`` (...,) may stand at ``pos`` (..., 2)."""
        h, w = self._hw
        x, y = self._cell(pos)
        inside = (pos[..., 0] >= 0) & (pos[..., 0] < w) & (pos[..., 1] >= 0) & (pos[..., 1] < h)
        return inside & self._ok[self._walker[types].astype(jnp.int32), y, x]

    def settle(self, before: jax.Array, after: jax.Array, types: jax.Array) -> jax.Array:
        """(U, 2) positions after a move from ``before`` to ``after`` (U, 2): blocked axes undone."""
        slide_x = jnp.stack([after[:, 0], before[:, 1]], axis=-1)  # (U, 2) keep the x part of the move
        slide_y = jnp.stack([before[:, 0], after[:, 1]], axis=-1)  # (U, 2) keep the y part
        ok = lambda p: self.may_stand(p, types)[:, None]  # noqa: E731
        return jnp.where(ok(after), after, jnp.where(ok(slide_x), slide_x, jnp.where(ok(slide_y), slide_y, before)))

    def move_mask(self, pos: jax.Array, types: jax.Array) -> jax.Array:
        """(U, 4) bool: the moves N, E, S, W whose cell one unit ahead may be entered."""
        ahead = pos[:, None, :] + self._moves[None]  # (U, 4, 2)
        return self.may_stand(ahead, types[:, None])

    def path_move(self, pos: jax.Array, target: jax.Array, unit_type: jax.Array) -> jax.Array:
        """The move action (0-3) one grid step along the shortest path from ``pos`` (2,) to ``target`` (2,)."""
        h, w = self._hw
        x, y = self._cell(pos)
        tx, ty = self._cell(target)
        table = self._dist[self._walker[unit_type].astype(jnp.int32), ty * w + tx]  # (H*W,) steps to the target
        nx = jnp.clip(x + MOVES[:, 0], 0, w - 1)
        ny = jnp.clip(y + MOVES[:, 1], 0, h - 1)
        steps = table[ny * w + nx].astype(jnp.float32)  # (4,)
        # among equally short ways, the one most in line with the target: a unit moves ~2 cells per env step,
        # and a fixed order of ties would zig-zag it (N, S, N, ...) across a diagonal
        aim = target - pos
        cos = self._moves @ aim / jnp.maximum(jnp.linalg.norm(aim), 1e-6)  # (4,) in [-1, 1]
        return jnp.argmin(steps - 0.5 * cos).astype(jnp.int32)
