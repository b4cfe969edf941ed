"""The scripted SMAClite player of benchmarks/smaclite_compare.py, on a stand-in env (SMAClite is not installed here)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from smaclite_compare import own_range_targets, scripted_actions  # noqa: E402


def _unit(x: float, y: float, hp: float = 10, max_hp: float = 10, healer: bool = False) -> SimpleNamespace:
    kind = SimpleNamespace(name="HEALING" if healer else "DAMAGE")
    return SimpleNamespace(pos=np.array([x, y]), hp=hp, max_hp=max_hp, combat_type=kind)


def _env(agents: dict, enemies: dict, avail: list[list[int]]) -> SimpleNamespace:
    return SimpleNamespace(n_agents=len(avail), agents=agents, enemies=enemies, get_avail_actions=lambda: avail)


def test_attacks_the_closest_enemy_in_range_else_walks_towards_the_closest() -> None:
    agents = {0: _unit(0, 0), 1: _unit(10, 0)}
    enemies = {0: _unit(3, 0), 1: _unit(1, 1), 2: _unit(10, 5)}
    avail = [[0, 1, 1, 1, 1, 1, 1, 1, 0],   # agent 0: enemies 0 and 1 in range; 1 is closer
             [0, 1, 1, 1, 1, 1, 0, 0, 0]]   # agent 1: none in range; closest is enemy 2, to the north
    assert scripted_actions(_env(agents, enemies, avail)) == [6 + 1, 2]


def test_a_medivac_heals_the_most_damaged_ally_in_reach_never_itself_and_dead_agents_noop() -> None:
    agents = {0: _unit(0, 0, healer=True, hp=5), 1: _unit(1, 0, hp=9), 2: _unit(0, 1, hp=3)}
    avail = [[0, 1, 1, 1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1, 0, 0, 0], [0, 1, 1, 1, 1, 1, 0, 0, 0],
             [1, 0, 0, 0, 0, 0, 0, 0, 0]]
    actions = scripted_actions(_env(agents, {0: _unit(9, 9)}, avail))
    assert actions[0] == 6 + 2 and actions[3] == 0


def test_own_range_targets_offers_only_what_the_unit_can_hit_from_where_it_stands() -> None:
    """SMAX's rule in SMAClite's hook: inside the unit's own attack range (edge to edge), alive, else not."""
    def unit(x: float, reach: float, hp: float = 10) -> SimpleNamespace:
        me = SimpleNamespace(pos=np.array([x, 0.0]), hp=hp, radius=0.375)
        me.has_within_attack_range = lambda t: bool(np.linalg.norm(t.pos - me.pos) <= reach + me.radius + t.radius)
        return me

    env = SimpleNamespace()
    own_range_targets(env)
    can = env._SMACliteEnv__can_target
    zergling = unit(0.0, 0.1)
    assert can(zergling, unit(0.8, 0.1)) == 1 and can(zergling, unit(0.9, 0.1)) == 0  # SMAC's rule: both (≤ 6)
    assert can(zergling, unit(0.5, 0.1, hp=0)) == 0 and can(unit(0.0, 0.1, hp=0), unit(0.5, 0.1)) == 0
    assert can(zergling, unit(5.0, 0.1), distance=0.1) == 0  # the distance SMAClite passes is not used
