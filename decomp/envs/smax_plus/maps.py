"""The five SMAC maps SMAX lacks, with SMAC's unit counts and a start layout like SMAC's.

Unit counts follow SMAC (oxwhirl/smac ``smac_maps.py``), and so does the allies' order: SMAC sorts its
agents by unit type id, and numbers its map types' units colossus < stalker < zealot, marauder <
marine < medivac, baneling < zergling (``StarCraft2Env._init_ally_unit_types``). The layouts follow
the group positions of SMAClite's map files (uoe-agents/smaclite, ``smaclite/env/maps/smaclite_maps/``)
on SMAX's 32 x 32 square, open except on 2c_vs_64zg, which has SMAClite's RAVINE terrain: a wall between
the colossi and the zerglings that the zerglings must go round and the colossi walk over
(decomp/envs/smax_plus/terrain.py, docs/smax_plus.md). Each unit starts at its group's centre plus
uniform noise of ``± spread`` per axis, as SMAX scatters its own (± 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from decomp.envs.smax_plus.units import UnitTable


@dataclass(frozen=True)
class Group:
    """``count`` units of one type of one team around ``centre``."""

    team: int  # 0 = allies (the agents), 1 = enemies (the heuristic)
    unit: str
    count: int
    centre: tuple[float, float]
    spread: float = 2.0


@dataclass(frozen=True)
class PlusMap:
    """One SMAX+ map: its groups, allies' groups first (SMAX orders units allies first)."""

    name: str
    groups: tuple[Group, ...]
    summary: str
    terrain: str | None = None  # a name in decomp/envs/smax_plus/terrain.py's TERRAINS; None = SMAX's open square

    @property
    def n_allies(self) -> int:
        return sum(g.count for g in self.groups if g.team == 0)

    @property
    def n_enemies(self) -> int:
        return sum(g.count for g in self.groups if g.team == 1)

    def layout(self, table: UnitTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unit types (U,) uint8, start centres (U, 2), spread (U,)), allies first, in group order."""
        ordered = sorted(self.groups, key=lambda g: g.team)  # stable: group order within a team
        types = np.concatenate([np.full(g.count, table.type_id(g.unit)) for g in ordered]).astype(np.uint8)
        centres = np.concatenate([np.tile(np.asarray(g.centre, np.float32), (g.count, 1)) for g in ordered])
        spread = np.concatenate([np.full(g.count, g.spread, np.float32) for g in ordered])
        return types, centres, spread


PLUS_MAPS: dict[str, PlusMap] = {m.name: m for m in (
    PlusMap("2s_vs_1sc", (
        Group(0, "stalker", 1, (11.0, 10.5), 1.0),
        Group(0, "stalker", 1, (17.0, 10.5), 1.0),
        Group(1, "spine_crawler", 1, (14.0, 20.0), 0.0),  # rooted: always the same spot, out of range at start
    ), "2 Stalkers vs 1 Spine Crawler"),
    PlusMap("1c3s5z", (
        Group(0, "colossus", 1, (6.0, 16.0), 1.0),
        Group(0, "stalker", 3, (8.0, 16.0)),
        Group(0, "zealot", 5, (10.0, 16.0)),
        Group(1, "colossus", 1, (26.0, 16.0), 1.0),
        Group(1, "stalker", 3, (24.0, 16.0)),
        Group(1, "zealot", 5, (22.0, 16.0)),
    ), "1 Colossus, 3 Stalkers, 5 Zealots on each side"),
    PlusMap("bane_vs_bane", (
        Group(0, "baneling", 4, (16.0, 8.0), 1.5),  # banelings behind the zerglings, as in SMAClite's layout
        Group(0, "zergling", 20, (16.0, 11.0), 3.0),
        Group(1, "baneling", 4, (16.0, 24.0), 1.5),
        Group(1, "zergling", 20, (16.0, 21.0), 3.0),
    ), "20 Zerglings + 4 Banelings on each side"),
    PlusMap("2c_vs_64zg", (
        Group(0, "colossus", 2, (16.0, 16.0), 1.5),  # above the ravine (terrain.py), as in SMAClite's map
        Group(1, "zergling", 64, (16.0, 9.0), 2.5),  # below it: ~7 away, the colossi's range
    ), "2 Colossi vs 64 Zerglings", terrain="ravine"),
    PlusMap("MMM2", (
        Group(0, "marauder", 2, (9.0, 16.0)),
        Group(0, "marine", 7, (9.0, 16.0)),
        Group(0, "medivac", 1, (6.0, 16.0), 1.0),
        Group(1, "medivac", 1, (26.0, 16.0), 1.0),  # first enemy: see heal slots in mechanics.py
        Group(1, "marauder", 3, (23.0, 16.0)),
        Group(1, "marine", 8, (23.0, 16.0)),
    ), "1 Medivac, 2 Marauders, 7 Marines vs 1 Medivac, 3 Marauders, 8 Marines"),
)}


def plus_map(name: str) -> PlusMap:
    if name not in PLUS_MAPS:
        raise ValueError(f"unknown SMAX+ map {name!r}; SMAX+ provides: {', '.join(PLUS_MAPS)}")
    return PLUS_MAPS[name]
