"""SMAX+: the five SMAC maps SMAX lacks (2s_vs_1sc, 1c3s5z, bane_vs_bane, 2c_vs_64zg, MMM2), built on
jaxmarl's SMAX with four more unit types (colossus, medivac, baneling, spine crawler). An approximation
of SMAC, never SMAC itself: names, logs and reports say "SMAX+". docs/smax_plus.md says what differs.

Kept import-light (no jax, no jaxmarl) so that naming a map costs nothing; :func:`make_env` imports
the engine.
"""

from __future__ import annotations

from typing import Any

PLUS_MAP_NAMES = ("2s_vs_1sc", "1c3s5z", "bane_vs_bane", "2c_vs_64zg", "MMM2")
LABEL = "SMAX+"


def is_plus_map(map_name: str) -> bool:
    """Whether ``map_name`` is one of SMAX+'s maps (not one of SMAX's own)."""
    return map_name in PLUS_MAP_NAMES


def make_env(map_name: str, **kwargs: Any) -> Any:
    """The map as a jaxmarl-style heuristic-enemy env (what ``jaxmarl.make("HeuristicEnemySMAX")`` is for SMAX)."""
    from decomp.envs.jaxmarl_import import import_jaxmarl  # noqa: PLC0415

    import_jaxmarl()  # jaxmarl's import chatter silenced, as for SMAX
    from decomp.envs.smax_plus.env import SmaxPlusHeuristicEnemy  # noqa: PLC0415
    from decomp.envs.smax_plus.maps import plus_map  # noqa: PLC0415

    return SmaxPlusHeuristicEnemy(plus_map(map_name), **kwargs)
