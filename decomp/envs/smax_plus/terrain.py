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

This module is the grid (numpy: a battle plot draws it without jax); terrain_rules.py applies it in JAX.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

GROUND, CLIFF, VOID = 0, 1, 2
_CHARS = {".": GROUND, "C": CLIFF, "X": VOID}
MOVES = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]])  # SMAX's move actions 0-3: N, E, S, W (cells)
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
        for dx, dy in MOVES:  # edges between 4-neighbours that may both be entered
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


def map_terrain(map_name: str) -> Terrain | None:
    """The terrain of a SMAX+ map by name; None for an open map or a map that is not SMAX+'s."""
    from decomp.envs.smax_plus.maps import PLUS_MAPS  # noqa: PLC0415

    plus = PLUS_MAPS.get(map_name)
    return terrain(plus.terrain) if plus is not None and plus.terrain is not None else None
