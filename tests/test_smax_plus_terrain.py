"""SMAX+ terrain (decomp/envs/smax_plus/terrain.py): the ravine of 2c_vs_64zg, cells a unit may not enter
in the world step, the collision push, the start layout and the move masks, and the scripted player's
grid paths round the wall. One small map on the ravine (a colossus and a zergling against two zerglings)
is compiled once for the module."""

from __future__ import annotations

import numpy as np
import pytest

from decomp.envs.jaxmarl_import import import_jaxmarl

import_jaxmarl()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jaxmarl.environments.smax.heuristic_enemy import get_heuristic_policy_initial_state  # noqa: E402

from decomp.envs.smax_plus.env import SmaxPlus  # noqa: E402
from decomp.envs.smax_plus.heuristic import plus_heuristic  # noqa: E402
from decomp.envs.smax_plus.maps import Group, PlusMap, plus_map  # noqa: E402
from decomp.envs.smax_plus.terrain import CLIFF, GROUND, VOID, Terrain, terrain  # noqa: E402

COLOSSUS, LING, FOE1, FOE2 = 0, 1, 2, 3
N, E, S, W, STOP = 0, 1, 2, 3, 4
SMALL = PlusMap("ravine_small", (
    Group(0, "colossus", 1, (16.0, 16.0), 1.0), Group(0, "zergling", 1, (20.0, 16.0), 1.0),
    Group(1, "zergling", 2, (16.0, 9.0), 1.0)), "a colossus and a zergling vs two zerglings", terrain="ravine")


@pytest.fixture(scope="module")
def env() -> SmaxPlus:
    return SmaxPlus(SMALL)


def cell_kinds(env: SmaxPlus, pos: np.ndarray) -> np.ndarray:
    cells = env.terrain.terrain.cells
    return cells[np.floor(pos[:, 1]).astype(int), np.floor(pos[:, 0]).astype(int)]


def test_the_ravine_is_a_band_split_by_a_cliff_with_two_ground_gaps() -> None:
    t = terrain("ravine")
    assert t.shape == (32, 32)
    assert (t.cells[:6] == VOID).all() and (t.cells[20:] == VOID).all()
    assert (t.cells[12, 4:28] == CLIFF).all()
    assert (t.cells[12, :4] == GROUND).all() and (t.cells[12, 28:] == GROUND).all()
    assert (t.cells[9:17, :] != VOID).all()
    dist = t.distances
    c = lambda x, y: y * 32 + x  # noqa: E731
    assert dist[0, c(16, 16), c(16, 9)] == 12 + 7 + 12  # a zergling goes round the nearer end (x = 28)
    assert dist[1, c(16, 16), c(16, 9)] == 7  # a colossus walks straight over
    assert dist[0, c(16, 12), c(16, 11)] == 1 and dist[0, c(16, 12), c(16, 13)] == 1  # a cliff is met from both sides
    with pytest.raises(ValueError, match="unknown cell characters"):
        Terrain.parse("bad", ["..", ".?"])


def test_units_never_stand_where_they_may_not_and_the_colossus_crosses_the_cliff(env: SmaxPlus) -> None:
    obs, state = env.reset(jax.random.PRNGKey(0))
    pos = np.array([[16.0, 11.5], [17.5, 11.5], [10.0, 6.3], [30.0, 10.0]], np.float32)
    state = state.replace(unit_positions=jnp.asarray(pos))
    step = jax.jit(env.step_env)
    # the colossus and the ally zergling walk north into the cliff, one enemy south into the void, one east
    for _ in range(6):
        obs, state, *_ = step(jax.random.PRNGKey(1), state, {"ally_0": N, "ally_1": N, "enemy_0": S, "enemy_1": E})
    now = np.asarray(state.unit_positions)
    assert now[COLOSSUS, 1] > 13.0  # over the cliff and on
    assert 11.0 < now[LING, 1] < 12.0 and now[FOE1, 1] >= 6.0  # stopped at the cliff's and the void's edge
    assert now[FOE2, 0] <= 32.0
    kinds = cell_kinds(env, now)
    assert kinds[COLOSSUS] != VOID and (kinds[1:] == GROUND).all()


def test_a_blocked_move_keeps_its_free_axis(env: SmaxPlus) -> None:
    before = jnp.asarray([[10.0, 11.8], [10.0, 11.8]])
    after = jnp.asarray([[10.5, 12.3], [10.5, 12.3]])  # north-east into the cliff
    types = jnp.asarray(np.asarray(env.plus_map.layout(env.table)[0])[[LING, COLOSSUS]])
    got = np.asarray(env.terrain.settle(before, after, types))
    np.testing.assert_allclose(got[0], [10.5, 11.8])  # the zergling slides east along the cliff
    np.testing.assert_allclose(got[1], [10.5, 12.3])  # the colossus walks on


def test_moves_into_a_cell_the_unit_may_not_enter_are_not_available(env: SmaxPlus) -> None:
    _, state = env.reset(jax.random.PRNGKey(0))
    pos = np.array([[16.0, 11.5], [16.0, 11.5], [16.0, 6.5], [0.5, 12.5]], np.float32)
    avail = env.get_avail_actions(state.replace(unit_positions=jnp.asarray(pos)))
    assert avail["ally_0"][N] == 1 and avail["ally_1"][N] == 0  # the colossus may climb, the zergling not
    assert avail["ally_1"][E] == avail["ally_1"][W] == avail["ally_1"][S] == 1
    assert avail["enemy_0"][S] == 0 and avail["enemy_0"][N] == 1  # the void below the band
    assert avail["enemy_1"][W] == 0 and avail["enemy_1"][N] == 1  # the map's edge; the gap at x < 4 is ground
    assert all(avail[a][STOP] == 1 for a in avail)


def test_the_start_layout_keeps_every_unit_where_it_may_stand() -> None:
    big = SmaxPlus(plus_map("2c_vs_64zg"))
    reset = jax.jit(jax.vmap(big.reset))
    _, states = reset(jax.random.split(jax.random.PRNGKey(3), 16))
    pos = np.asarray(states.unit_positions).reshape(-1, 2)  # (16 * 66, 2)
    kinds = cell_kinds(big, pos).reshape(16, 66)
    assert (kinds[:, :2] != VOID).all() and (kinds[:, 2:] == GROUND).all()
    assert (np.asarray(states.unit_positions)[:, 2:, 1] < 12).all()  # the zerglings start below the ravine


def test_the_scripted_zerglings_go_round_the_ravine_to_the_colossus(env: SmaxPlus) -> None:
    """The heuristic's path step points round the wall, and played out, an enemy zergling reaches the colossus."""
    lings = jnp.asarray(np.asarray(env.plus_map.layout(env.table)[0])[LING])
    cells, step_of = env.terrain.terrain.cells, {N: (0, 1), E: (1, 0), S: (0, -1), W: (-1, 0)}
    x, y, walked = 16, 9, 0
    while (x, y) != (16, 16) and walked < 40:  # follow the path step by step, one cell at a time
        dx, dy = step_of[int(env.terrain.path_move(jnp.asarray([x + 0.5, y + 0.5]), jnp.asarray([16.5, 16.5]), lings))]
        x, y, walked = x + dx, y + dy, walked + 1
        assert cells[y, x] == GROUND
    assert (x, y, walked) == (16, 16, 31)  # the shortest way round
    policy = jax.vmap(plus_heuristic(env, 1))
    _, state = env.reset(jax.random.PRNGKey(0))
    pos = np.array([[16.0, 16.0], [26.0, 19.0], [16.0, 9.0], [17.0, 8.0]], np.float32)
    state = state.replace(unit_positions=jnp.asarray(pos))
    brain = jax.tree.map(lambda *x: jnp.stack(x), *([get_heuristic_policy_initial_state()] * 2))
    step = jax.jit(env.step_env)
    reached, seen = False, []
    for t in range(40):
        obs = env.get_obs(state)
        acts, brain = policy(jax.random.split(jax.random.PRNGKey(t), 2), brain,
                             jnp.stack([obs["enemy_0"], obs["enemy_1"]]), jnp.arange(1, -1, -1))
        obs, state, *_ = step(jax.random.PRNGKey(t), state, {"ally_0": STOP, "ally_1": STOP, "enemy_0": acts[0],
                                                             "enemy_1": acts[1]})
        now = np.asarray(state.unit_positions)
        seen.append(cell_kinds(env, now[2:]))
        reached |= bool(np.min(np.linalg.norm(now[2:] - now[COLOSSUS], axis=-1)) < 2.5)
    assert (np.array(seen) == GROUND).all()
    assert reached


def test_terrain_with_a_medivac_is_refused() -> None:
    flying = PlusMap("air", (Group(0, "medivac", 1, (16.0, 16.0)), Group(1, "zergling", 1, (16.0, 9.0))), "",
                     terrain="ravine")
    with pytest.raises(ValueError, match="air units"):
        SmaxPlus(flying)
