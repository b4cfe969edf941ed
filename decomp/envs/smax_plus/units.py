"""The ten unit types of SMAX+: SMAX's six exactly as jaxmarl defines them, then the four it lacks.

Why read SMAX's six from jaxmarl's constructor defaults instead of writing them here: a jaxmarl
upgrade that retunes a marine then retunes it on the SMAX+ maps too, and SMAX+ never disagrees
with SMAX about a unit both have.

The four new types follow SMAX's simplifications: health and shields summed, armour ignored, one
damage number per attack, ranges measured centre to centre (SMAX gives melee units 2.0). Source:
StarCraft II's published unit data (Liquipedia's Legacy of the Void unit pages, "faster" game speed,
the clock of SMAX's own speeds and cooldowns), cross-checked with SMAClite's unit files
(uoe-agents/smaclite, smaclite/env/units/smaclite_units/*.json):

=============  ======  =====  =====  ======  ========  =====  =====================================
type           health  speed  range  damage  cooldown  radius notes
=============  ======  =====  =====  ======  ========  =====  =====================================
colossus       200+150 3.15   7      2x15    1.07      1.0    10 (+5 light) per beam, 2 beams;
                                                               line splash 2.8 wide (SMAClite)
medivac        150     3.5    4      --      --        0.75   heals 12.6 HP/s, biological only
baneling       30      3.5    melee  35      --        0.375  16 (+19 light); splash radius 2.2
spine crawler  300     0      7      25      1.32      1.0    rooted; 2x2 footprint
=============  ======  =====  =====  ======  ========  =====  =====================================

Damage bonuses: SMAX keeps one number per unit, so the bonus that applies to what the unit meets
on its SMAC maps is counted (colossus and baneling: light zerglings and zealots); the spine
crawler's +5 against armoured is not (as SMAX leaves out the stalker's own +5 against armoured).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

# name, shorthand, velocity, damage, attack range, sight range, radius, health, weapon cooldown, healable
# (healable = biological and not a structure: what a medivac may heal). The medivac's damage and
# cooldown are unused (it heals continuously); the cooldown must be > 0 because SMAX's observations
# divide by it. The baneling's cooldown is unused too (it detonates once).
NEW_TYPES: tuple[tuple[Any, ...], ...] = (
    ("colossus", "C", 3.15, 30.0, 7.0, 10.0, 1.0, 350.0, 1.07, False),
    ("medivac", "V", 3.5, 0.0, 4.0, 11.0, 0.75, 150.0, 1.0, False),
    ("baneling", "b", 3.5, 35.0, 2.0, 8.0, 0.375, 30.0, 1.0, True),
    ("spine_crawler", "S", 0.0, 25.0, 7.0, 11.0, 1.0, 300.0, 1.32, False),
)
# SMAX's six in SC2 terms: marine, marauder, zealot, zergling, hydralisk are biological; the stalker is not.
SMAX_HEALABLE = {"marine": True, "marauder": True, "stalker": False, "zealot": True, "zergling": True,
                 "hydralisk": True}

HEAL_PER_SECOND = 12.6  # medivac heal rate (SC2, faster speed); SMAClite uses 9 (normal speed)
BANELING_SPLASH = 2.2  # radius of a baneling's explosion; a unit is hit when its edge is inside
BEAM_HALF_WIDTH = 1.4  # colossus line splash: 2.8 wide across the line of fire (SMAClite's LASER_BEAM)
BEAM_HALF_DEPTH = 0.15  # ... and 0.3 deep along it

# SMAX constructor argument -> column of the table (order of NEW_TYPES' tuples after the name)
_SMAX_COLUMNS = ("unit_type_shorthands", "unit_type_velocities", "unit_type_attacks", "unit_type_attack_ranges",
                 "unit_type_sight_ranges", "unit_type_radiuses", "unit_type_health", "unit_type_weapon_cooldowns")


@dataclass(frozen=True)
class UnitTable:
    """Per-type columns of all ten types, in SMAX's type order then the new ones."""

    names: tuple[str, ...]
    columns: dict[str, tuple[Any, ...]]  # SMAX constructor argument -> one value per type
    healable: np.ndarray  # (T,) bool

    def type_id(self, name: str) -> int:
        if name not in self.names:
            raise ValueError(f"unknown unit type {name!r}; SMAX+ has: {', '.join(self.names)}")
        return self.names.index(name)

    def smax_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of jaxmarl's ``SMAX`` that install these types (jnp arrays where SMAX has them)."""
        import jax.numpy as jnp  # noqa: PLC0415

        out: dict[str, Any] = {"unit_type_names": list(self.names),
                               "unit_type_shorthands": list(self.columns["unit_type_shorthands"])}
        for key in _SMAX_COLUMNS[1:]:
            out[key] = jnp.asarray(self.columns[key], dtype=jnp.float32)
        return out


def _smax_defaults() -> dict[str, Any]:
    from jaxmarl.environments.smax.smax_env import SMAX  # noqa: PLC0415

    params = inspect.signature(SMAX.__init__).parameters
    return {k: params[k].default for k in ("unit_type_names", *_SMAX_COLUMNS)}


def build_table() -> UnitTable:
    """SMAX's six types (read from jaxmarl) followed by :data:`NEW_TYPES`."""
    base = _smax_defaults()
    names = tuple(base["unit_type_names"]) + tuple(t[0] for t in NEW_TYPES)
    columns = {}
    for k, key in enumerate(_SMAX_COLUMNS):
        old = base[key]
        old = list(old) if key == "unit_type_shorthands" else [float(x) for x in np.asarray(old)]
        columns[key] = tuple(old) + tuple(t[k + 1] for t in NEW_TYPES)
    healable = np.array([SMAX_HEALABLE.get(n, False) for n in base["unit_type_names"]]
                        + [t[-1] for t in NEW_TYPES], dtype=bool)
    return UnitTable(names, columns, healable)
