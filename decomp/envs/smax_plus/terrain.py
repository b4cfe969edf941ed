"""Terrain for SMAX+ maps that need it: ground, cliffs only a colossus walks, and void no unit enters.

Why: SMAX's world is an open square, but SMAC's 2c_vs_64zg is a terrain problem — the zerglings must
go round a ravine that the colossi cross (SC2's Cliff Walk), so the colossi can shoot them on the way
and step over the cliff when they arrive. On the open square the zerglings reach the colossi in ~18 steps
and no policy wins (docs/smax_plus.md). One cell per map unit; rows are written top (high y) first.

What terrain does, and only that:

* a unit never ends a world step in a cell it may not enter: a blocked move keeps its free axis (it
  slides along a wall) or, if neither axis is free, the unit stays (collision pushes likewise);
* a move action is available only when the cell one unit ahead may be entered (SMAC's check);
* the scripted player walks by the shortest grid path (4-connected, through cells its unit may enter)
  instead of straight at its target, so zerglings go round the ravine as SC2's path-finding does.

Sight and attacks are not blocked (SC2's high ground hides units from below; not modelled).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np

GROUND, CLIFF, VOID = 0, 1, 2
_CHARS = {".": GROUND, "C": CLIFF, "X": VOID}
_MOVES = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]])  # SMAX's move actions 0-3: N, E, S, W (cells)
_FAR = np.int16(10_000)  # "unreachable" in the distance tables

# The ravine of 2c_vs_64zg, after SMAClite's RAVINE terrain (uoe-agents/smaclite,
# smaclite/env/terrain/smaclite_terrain/ravine.slt): a 32-wide band from y = 6 to 19 with clipped
# corners, split at y = 12 by a wall from x = 4 to 27 that ground units go round. SMAClite makes the
# wall impassable to all; here it is a cliff, which SC2's colossus walks over.
RAVINE = (
    *["X" * 32] * 12,                          # y = 31 .. 20
    "XXX" + "." * 26 + "XXX",                  # y = 19
    "XX" + "." * 28 + "XX",                    # y = 18
    "X" + "." * 30 + "X",                      # y = 17
    *["." * 32] * 4,                           # y = 16 .. 13
    "...." + "C" * 24 + "....",                # y = 12: the ravine
    *["." * 32] * 3,                           # y = 11 .. 9
    "X" + "." * 30 + "X",                      # y = 8
    "XX" + "." * 28 + "XX",                    # y = 7
    "XXX" + "." * 26 + "XXX",                  # y = 6
    *["X" * 32] * 6,                           # y = 5 .. 0
)
TERRAINS = {"ravine": RAVINE}


@dataclass(frozen=True)
class Terrain:
    """A map's cells (H, W) of GROUND / CLIFF / VOID, indexed [y, x]; cell (x, y) spans [x, x+1) x [y, y+1)."""

    name: str
    cells: np.ndarray  # (H, W) uint8

    @classmethod
    def parse(cls, name: str, rows: tuple[str, ...] | list[str]) -> "Terrain":
        widths = {len(r) for r in rows}
        if len(widths) != 1:
            raise ValueError(f"terrain {name!r}: rows of different widths {sorted(widths)}")
        bad = sorted({c for r in rows for c in r} - set(_CHARS))
        if bad:
            raise ValueError(f"terrain {name!r}: unknown cell characters {bad}; allowed: . (ground) C (cliff) X (void)")
        cells = np.array([[_CHARS[c] for c in r] for r in reversed(rows)], dtype=np.uint8)  # row 0 = y 0
        return cls(name, cells)

    @property
    def shape(self) -> tuple[int, int]:
        return self.cells.shape  # type: ignore[return-value]

    def enterable(self, cliff_walker: bool) -> np.ndarray:
        """(H, W) bool: the cells a unit of this kind may stand in."""
        return self.cells == GROUND if not cliff_walker else self.cells != VOID

    def may_stand(self, x: float, y: float, cliff_walker: bool) -> bool:
        h, w = self.shape
        return 0 <= x < w and 0 <= y < h and bool(self.enterable(cliff_walker)[int(y), int(x)])

    @cached_property
    def distances(self) -> np.ndarray:
        """(2, H*W, H*W) int16: grid steps from cell c to cell t, [cliff_walker, t, c], for a unit that may
        enter only its kinds of cell; a target it may not enter is reached at the enterable cells nearest to
        it (a colossus on the cliff is approached by the zerglings on either side). _FAR where there is no way."""
        return np.stack([self._distance_table(self.enterable(k)) for k in (False, True)])

    def _distance_table(self, ok: np.ndarray) -> np.ndarray:
        from scipy.sparse import coo_matrix  # noqa: PLC0415
        from scipy.sparse.csgraph import shortest_path  # noqa: PLC0415

        h, w = ok.shape
        n = h * w
        ys, xs = np.nonzero(ok)
        src, dst = [], []
        for dx, dy in _MOVES:  # edges between 4-neighbours that may both be entered
            nx, ny = xs + dx, ys + dy
            inside = (nx >= 0) & (nx < w) & (ny >= 0) & (ny < h)
            keep = inside & ok[np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)]
            src.append(ys[keep] * w + xs[keep])
            dst.append(ny[keep] * w + nx[keep])
        s, d = np.concatenate(src), np.concatenate(dst)
        graph = coo_matrix((np.ones(len(s)), (s, d)), shape=(n, n)).tocsr()
        dist = shortest_path(graph, unweighted=True, directed=False)  # (n, n) inf between cut-off cells
        # a target cell that may not be entered is approached at the enterable cells nearest to it (all of
        # them: a cliff is reached from either side), one step short of it
        flat_ok = ok.reshape(-1)
        cells = np.flatnonzero(flat_ok)  # (K,)
        cy, cx = np.divmod(cells, w)
        for t in np.flatnonzero(~flat_ok):
            ty, tx = divmod(int(t), w)
            gap = (cx - tx) ** 2 + (cy - ty) ** 2  # (K,)
            dist[t] = 1 + np.min(dist[cells[gap == gap.min()]], axis=0)
            dist[t, t] = 0
        return np.where(np.isfinite(dist), np.minimum(dist, _FAR), _FAR).astype(np.int16)


def terrain(name: str) -> Terrain:
    if name not in TERRAINS:
        raise ValueError(f"unknown terrain {name!r}; SMAX+ has: {', '.join(TERRAINS)}")
    return Terrain.parse(name, TERRAINS[name])


class TerrainRules:
    """The terrain's three rules (module docstring) as vectorised JAX functions of the units' arrays."""

    def __init__(self, ground: Terrain, cliff_walker_types: np.ndarray) -> None:
        self.terrain = ground
        h, w = ground.shape
        self._hw = (h, w)
        self._ok = jnp.asarray(np.stack([ground.enterable(False), ground.enterable(True)]))  # (2, H, W)
        self._walker = jnp.asarray(cliff_walker_types)  # (T,) bool: which unit types walk cliffs
        self._dist = jnp.asarray(ground.distances)  # (2, H*W, H*W) int16
        self._moves = jnp.asarray(_MOVES, jnp.float32)  # (4, 2)

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
        nx = jnp.clip(x + _MOVES[:, 0], 0, w - 1)
        ny = jnp.clip(y + _MOVES[:, 1], 0, h - 1)
        steps = table[ny * w + nx].astype(jnp.float32)  # (4,)
        # among equally short ways, the one most in line with the target: a unit moves ~2 cells per env step,
        # and a fixed order of ties would zig-zag it (N, S, N, ...) across a diagonal
        aim = target - pos
        cos = self._moves @ aim / jnp.maximum(jnp.linalg.norm(aim), 1e-6)  # (4,) in [-1, 1]
        return jnp.argmin(steps - 0.5 * cos).astype(jnp.int32)
