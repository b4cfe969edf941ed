"""SMAX+ mechanics, one test each, in plain JAX on one tiny hand-placed scenario.

The scenario has every new unit type on both sides, so one compiled world step (and one compiled full
step) serves every test: 5 allies (medivac, baneling, colossus, spine crawler, marine) vs 6 enemies
(marine, 2 zerglings, spine crawler, medivac, zergling). One enemy more than allies, so the allied
medivac has a target slot (5) that names an enemy unit, as on MMM2. Units a test does not use stand
apart on the top row.
"""

from __future__ import annotations

import numpy as np
import pytest

from decomp.envs.jaxmarl_import import import_jaxmarl

import_jaxmarl()  # jaxmarl's import chatter silenced once, before the modules below import it

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jaxmarl.environments.smax.heuristic_enemy import HeuristicPolicyState  # noqa: E402
from jaxmarl.environments.smax.smax_env import State  # noqa: E402

from decomp.envs.smax_plus.env import TABLE, SmaxPlus  # noqa: E402
from decomp.envs.smax_plus.heuristic import plus_heuristic  # noqa: E402
from decomp.envs.smax_plus.maps import Group, PlusMap  # noqa: E402
from decomp.envs.smax_plus.units import BANELING_SPLASH, HEAL_PER_SECOND  # noqa: E402

MEDIVAC, BANELING, COLOSSUS, SPINE, MARINE = 0, 1, 2, 3, 4  # ally unit indices
E_MARINE, E_LING1, E_LING2, E_SPINE, E_MEDIVAC, E_LING3 = 5, 6, 7, 8, 9, 10  # enemy unit indices
U, N_MOVE, STOP = 11, 5, 4
TINY = PlusMap("tiny", (
    Group(0, "medivac", 1, (0, 0)), Group(0, "baneling", 1, (0, 0)), Group(0, "colossus", 1, (0, 0)),
    Group(0, "spine_crawler", 1, (0, 0)), Group(0, "marine", 1, (0, 0)),
    Group(1, "marine", 1, (0, 0)), Group(1, "zergling", 2, (0, 0)), Group(1, "spine_crawler", 1, (0, 0)),
    Group(1, "medivac", 1, (0, 0)), Group(1, "zergling", 1, (0, 0))), "one of each new type per side")


@pytest.fixture(scope="module")
def env() -> SmaxPlus:
    return SmaxPlus(TINY)


def max_health(env: SmaxPlus) -> np.ndarray:
    return np.asarray(env.unit_type_health)[np.asarray(env.plus_map.layout(TABLE)[0])]


def make_state(env: SmaxPlus, placed: dict[int, tuple[float, float]], health: dict[int, float] | None = None) -> State:
    """Units at ``placed`` positions, every other unit parked 2.8 apart on the top row; full health unless given."""
    pos = np.array([[1.5 + 2.8 * i, 30.0] for i in range(U)], np.float32)  # (U, 2)
    for i, xy in placed.items():
        pos[i] = xy
    hp = max_health(env).astype(np.float32)
    for i, h in (health or {}).items():
        hp[i] = h
    return State(unit_positions=jnp.asarray(pos), unit_alive=jnp.asarray(hp > 0), unit_teams=jnp.asarray(
                 [0.0] * 5 + [1.0] * 6, jnp.float32), unit_health=jnp.asarray(hp), unit_types=jnp.asarray(
                 env.plus_map.layout(TABLE)[0]), unit_weapon_cooldowns=jnp.zeros(U, jnp.float32),
                 prev_movement_actions=jnp.zeros((U, 2), jnp.float32), prev_attack_actions=jnp.zeros(U, jnp.int32),
                 step=jnp.int32(0), done=jnp.bool_(False))


def world_step(env: SmaxPlus, state: State, orders: dict[int, int]) -> np.ndarray:
    """One world step with ``orders`` (unit -> action; others stop); returns health (U,)."""
    actions = np.full(U, STOP, np.int32)
    for i, a in orders.items():
        actions[i] = a
    move, attack = env._decode_discrete_actions(jnp.asarray(actions))
    return np.asarray(env._world_step(jax.random.PRNGKey(0), state, (move, attack)).unit_health)


def test_medivac_heals_a_damaged_ally_and_never_an_enemy(env: SmaxPlus) -> None:
    state = make_state(env, {MEDIVAC: (10, 10), MARINE: (11, 10), E_MARINE: (10, 11.5), E_MEDIVAC: (9, 11.5),
                             E_LING1: (8.5, 12)}, {MARINE: 20.0, E_MARINE: 20.0, E_LING1: 10.0, COLOSSUS: 100.0})
    full = max_health(env)
    tick = HEAL_PER_SECOND * float(env.time_per_step)
    healed = world_step(env, state, {MEDIVAC: N_MOVE + MARINE})  # slot j = ally j
    assert healed[MARINE] == pytest.approx(20.0 + tick)
    np.testing.assert_array_equal(np.delete(healed, MARINE), np.delete(np.asarray(state.unit_health), MARINE))
    # every slot, slot 5 = unit 5 (a damaged enemy marine in reach) too: no enemy ever gains health, none loses any
    for slot in range(env.num_ally_actions - N_MOVE):
        after = world_step(env, state, {MEDIVAC: N_MOVE + slot})
        np.testing.assert_array_equal(after[5:], np.asarray(state.unit_health)[5:])
    assert world_step(env, state, {MEDIVAC: N_MOVE + COLOSSUS})[COLOSSUS] == 100.0  # mechanical: not healable
    # the enemy medivac heals its own zergling (team 1's slot j = unit U - 1 - j), never an ally
    enemy_heal = world_step(env, state, {E_MEDIVAC: N_MOVE + (U - 1 - E_LING1)})
    assert enemy_heal[E_LING1] == pytest.approx(10.0 + tick) and enemy_heal[MARINE] == 20.0
    # capped at full health; a dead unit is not revived
    topped = make_state(env, {MEDIVAC: (10, 10), MARINE: (11, 10)}, {MARINE: full[MARINE] - 0.1})
    assert world_step(env, topped, {MEDIVAC: N_MOVE + MARINE})[MARINE] == pytest.approx(full[MARINE])
    dead = make_state(env, {MEDIVAC: (10, 10), MARINE: (11, 10)}, {MARINE: 0.0})
    assert world_step(env, dead, {MEDIVAC: N_MOVE + MARINE})[MARINE] == 0.0
    # out of reach (4): no heal
    away = make_state(env, {MEDIVAC: (10, 10), MARINE: (14.5, 10)}, {MARINE: 20.0})
    assert world_step(env, away, {MEDIVAC: N_MOVE + MARINE})[MARINE] == 20.0


def test_detonating_baneling_hurts_every_enemy_inside_its_radius_none_outside_and_dies(env: SmaxPlus) -> None:
    bane = np.array([10.0, 10.0])
    reach = BANELING_SPLASH + 0.375  # a zergling is hit when its edge is inside the splash radius
    placed = {BANELING: tuple(bane), E_LING1: (11.5, 10),  # the target, within reach (2)
              E_MARINE: (10, 10 + reach - 0.05),  # inside (marine radius 0.375 too)
              E_LING2: (10 - reach - 0.05, 10),  # just outside
              MARINE: (10, 9)}  # an ally beside it: SC2 banelings do not hurt their own side
    state = make_state(env, placed)
    before = np.asarray(state.unit_health)
    after = world_step(env, state, {BANELING: N_MOVE + (E_LING1 - 5)})  # team 0's slot j = enemy j
    damage = float(env.unit_type_attacks[TABLE.type_id("baneling")])
    assert after[BANELING] == 0.0  # it dies
    assert after[E_LING1] == max(before[E_LING1] - damage, 0.0) and after[E_MARINE] == before[E_MARINE] - damage
    assert after[E_LING2] == before[E_LING2] and after[MARINE] == before[MARINE]
    untouched = [i for i in range(U) if i not in (BANELING, E_LING1, E_MARINE)]
    np.testing.assert_array_equal(after[untouched], before[untouched])
    # out of reach: no detonation, the baneling lives, nobody is hurt
    far = make_state(env, {**placed, E_LING1: (13.5, 10), E_MARINE: (10, 14)})
    np.testing.assert_array_equal(world_step(env, far, {BANELING: N_MOVE + (E_LING1 - 5)}), np.asarray(far.unit_health))


def test_colossus_beam_hurts_units_beside_its_target(env: SmaxPlus) -> None:
    placed = {COLOSSUS: (10, 10), E_LING1: (16, 10),  # the target, 6 away (range 7), line of fire along x
              E_LING2: (16, 11.2),  # beside the target, across the line of fire: on the beam
              E_MARINE: (16, 13),  # too far along the beam (1.4 + radius 0.375 < 3)
              E_MEDIVAC: (17.5, 10),  # behind the target, off the beam's depth
              MARINE: (16, 9)}  # an ally beside the target: not hurt
    state = make_state(env, placed)
    before = np.asarray(state.unit_health)
    after = world_step(env, state, {COLOSSUS: N_MOVE + (E_LING1 - 5)})
    damage = float(env.unit_type_attacks[TABLE.type_id("colossus")])
    assert after[E_LING1] == max(before[E_LING1] - damage, 0.0)  # SMAX's own attack on the target
    assert after[E_LING2] == max(before[E_LING2] - damage, 0.0) and after[E_LING2] < before[E_LING2]
    for i in (E_MARINE, E_MEDIVAC, MARINE):
        assert after[i] == before[i], i
    # without the attack nobody is hurt: the splash comes from the attack only
    np.testing.assert_array_equal(world_step(env, state, {}), before)


def test_spine_crawler_never_moves(env: SmaxPlus) -> None:
    """Full env steps (8 world steps each, collisions included): ordered to move, and shoved by units."""
    state = make_state(env, {SPINE: (10, 10), MARINE: (10.6, 10), E_SPINE: (20, 10), E_LING1: (20, 10.5)})
    start = np.asarray(state.unit_positions)
    step = jax.jit(env.step_env)
    key = jax.random.PRNGKey(3)
    for t in range(4):
        key, sub = jax.random.split(key)
        moves = {a: jnp.int32(t % 4) for a in env.agents}  # everybody, spine crawlers too, told to walk
        _, state, _, _, _ = step(sub, state, moves)
        pos = np.asarray(state.unit_positions)
        np.testing.assert_array_equal(pos[[SPINE, E_SPINE]], start[[SPINE, E_SPINE]])
    assert not np.allclose(pos[MARINE], start[MARINE])  # the others did move


def test_obs_state_sizes_and_masks_of_every_new_type(env: SmaxPlus) -> None:
    n_types = len(TABLE.names)
    assert n_types == 10 and TABLE.names[6:] == ("colossus", "medivac", "baneling", "spine_crawler")
    unit, own = 7 + n_types, 4 + n_types
    assert env.obs_size == unit * 4 + unit * 6 + own and env.state_size == (own + 2) * U
    assert (env.num_ally_actions, env.num_enemy_actions) == (N_MOVE + 6, N_MOVE + 5)
    state = make_state(env, {MEDIVAC: (10, 10), MARINE: (11, 10), COLOSSUS: (9, 10), BANELING: (10, 11),
                             E_LING1: (11.5, 11), E_LING2: (15.5, 10), E_MARINE: (10.5, 8.5)}, {E_MARINE: 20.0})
    obs = env.get_obs(state)
    world = np.asarray(env.get_world_state(state))
    assert world.shape == (env.state_size,) and all(obs[a].shape == (env.obs_size,) for a in env.agents)
    types = np.asarray(state.unit_types)
    blocks = world[: own * U].reshape(U, own)
    np.testing.assert_array_equal(blocks[:, 4:].argmax(-1), types)  # one-hot of all ten types
    np.testing.assert_array_equal(world[own * U + U:], types)  # the type column at the end
    avail = {a: np.asarray(m) for a, m in env.get_avail_actions(state).items()}
    # medivac: slots name allies — only healable (biological), alive, in reach (4), not itself; slot 5 names
    # unit 5, the damaged enemy marine 1.6 away: never available
    np.testing.assert_array_equal(avail["ally_0"][N_MOVE:], [0, 1, 0, 0, 1, 0])  # baneling, marine
    # baneling and colossus: enemies in range (2 and 7); spine crawler: no moves on either side
    np.testing.assert_array_equal(avail["ally_1"][N_MOVE:], [0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(avail["ally_2"][N_MOVE:], [1, 1, 1, 0, 0, 0])
    for agent in ("ally_3", "enemy_3"):
        np.testing.assert_array_equal(avail[agent][:N_MOVE], [0, 0, 0, 0, 1])
    assert avail["ally_1"][:N_MOVE].all() and avail["ally_0"][:N_MOVE].all()  # the others move


def test_heuristic_heals_the_most_damaged_runs_banelings_at_the_nearest_and_roots_spines(env: SmaxPlus) -> None:
    """plus_heuristic for team 1 reads each unit's own observation, as jaxmarl's heuristic does."""
    state = make_state(env, {E_MEDIVAC: (20, 10), E_MARINE: (21, 10), E_LING1: (19, 11), E_LING2: (19, 9),
                             E_SPINE: (24, 24), BANELING: (5, 5), MARINE: (26, 21)},
                       {E_MARINE: 5.0, E_LING1: 10.0, E_LING2: 34.0})
    enemy, ally = jax.jit(plus_heuristic(env, 1)), jax.jit(plus_heuristic(env, 0))

    def play(fn: object, state: State, unit: int, place: int) -> int:
        start = HeuristicPolicyState(default_target=jnp.zeros(2), last_attacked_enemy=jnp.int32(-1))
        action, _ = fn(jax.random.PRNGKey(0), start, env.get_obs_unit_list(state)[env.agents[unit]], jnp.int32(place))
        return int(action)

    # the enemy medivac (place 1: second from the last enemy) heals the most damaged healable teammate in
    # reach that a slot can name: zergling 1 (10 / 35 health; team 1's slot U - 1 - unit), not the marine
    # (5 / 45), unit 5, which team 1's 5 slots cannot name (as MMM2's enemy medivac cannot name unit 11)
    assert play(enemy, state, E_MEDIVAC, U - 1 - E_MEDIVAC) == N_MOVE + (U - 1 - E_LING1)
    # the spine crawler attacks the marine 3.6 away (range 7); with nobody in range it stops
    assert play(enemy, state, E_SPINE, U - 1 - E_SPINE) >= N_MOVE
    far = make_state(env, {E_SPINE: (24, 24), MARINE: (5, 28), BANELING: (5, 5)})
    assert play(enemy, far, E_SPINE, U - 1 - E_SPINE) == STOP
    # an allied baneling (team 0) with zerglings 3 (north) and 4.5 (south) away, both seen, runs at the nearest
    near = make_state(env, {BANELING: (10, 10), E_LING1: (10, 13), E_LING2: (10, 5.5)})
    assert play(ally, near, BANELING, BANELING) == 0  # N
