"""The scripted player of SMAX+: jaxmarl's SMAX heuristic, taught the four new unit types.

jaxmarl's heuristic (attack the closest enemy in range, else walk towards a visible enemy or across
the map) is kept for every type and then overridden where a new type needs it, reading only the
unit's own observation, as jaxmarl's does:

* medivac: heal the most damaged healable teammate in reach; else fly to the most damaged visible one
  and stop once in reach (it never attacks);
* baneling: detonate when jaxmarl's rule would attack, else run at the nearest visible enemy (jaxmarl
  walks towards a random visible one);
* spine crawler: attack what is in range, else stop (it cannot move);
* on a map with terrain, a unit that walks goes by the shortest grid path (terrain.py) towards the
  closest enemy it sees, else towards where the other team started (SMAC's and SMAClite's scripted
  enemies attack-move there). jaxmarl walks straight at a random visible enemy, which would press
  zerglings against the ravine's wall, and else to its own start turned about the map's centre, which
  on the ravine lies in the void.

Observation layout (jaxmarl's ``unit_list``): the other units' blocks of ``len(unit_features)``
features — own team first, then the other team — then the unit's own features; a block is
[health fraction, dx, dy (over the observer's sight range), last move x, y, last target, cooldown,
type one-hot]; an all-zero block is a dead or unseen unit.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jaxmarl.environments.smax.heuristic_enemy import create_heuristic_policy

_MOVES = jnp.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])  # SMAX's actions 0-3: N, E, S, W


def _toward(delta: jax.Array) -> jax.Array:
    """The move action closest in direction to ``delta`` (2,)."""
    return jnp.argmax(_MOVES @ delta)


Act = Callable[[jax.Array, Any, jax.Array, jax.Array], tuple[jax.Array, Any]]  # (key, state, obs, place)


Foe = Callable[[jax.Array], tuple[jax.Array, jax.Array]]  # obs -> (a foe is seen, its offset (2,) / sight range)


def _closest_foe(env: Any, team: int) -> Foe:
    """``obs -> (seen, offset)`` of the closest visible foe, read from a ``team`` unit's observation blocks."""
    f = len(env.unit_features)
    n_mates = (env.num_allies if team == 0 else env.num_enemies) - 1
    n_foes = env.num_enemies if team == 0 else env.num_allies

    def closest(obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        foes = obs[n_mates * f : (n_mates + n_foes) * f].reshape(n_foes, f)  # (M, F)
        dist = jnp.where(foes[:, 0] > 0, jnp.linalg.norm(foes[:, 1:3], axis=-1), jnp.inf)  # (M,)
        return jnp.isfinite(dist.min()), foes[jnp.argmin(dist), 1:3]

    return closest


def _path_move(env: Any, team: int, closest_foe: Foe) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    """``(obs, unit type, sight) -> move``: one grid step along the shortest path (terrain_rules.py) to the
    closest seen foe, else to where the foes started; only called on a map with terrain."""
    n_own = len(env.own_features)
    scale = jnp.array([env.map_width, env.map_height], dtype=jnp.float32)
    their_start = env.start_centre(1 - team)  # (2,)

    def move(obs: jax.Array, kind: jax.Array, sight: jax.Array) -> jax.Array:
        own = obs[-n_own + 1 : -n_own + 3] * scale  # (2,) own position (SMAX observes it over the map size)
        seen, offset = closest_foe(obs)
        target = jnp.where(seen, own + offset * sight, their_start)  # (2,)
        return env.terrain.path_move(own, target, kind)

    return move


def plus_heuristic(env: Any, team: int, shoot: bool = True, attack_mode: str = "closest") -> Act:
    """``act(key, policy_state, obs, place) -> (action, policy_state)`` for one unit of ``team``.

    ``place`` is the unit's index in its own team's view order (allies: its ally index; enemies: counted
    from the last enemy), which maps a teammate's observation block to a medivac's target slot.
    """
    base = create_heuristic_policy(env, team, shoot=shoot, attack_mode=attack_mode)
    f, bits, n_move = len(env.unit_features), env.unit_type_bits, env.num_movement_actions
    n_mates = (env.num_allies if team == 0 else env.num_enemies) - 1
    n_foes = env.num_enemies if team == 0 else env.num_allies
    ids, healable = env.type_ids, env.healable
    stop = n_move - 1
    closest_foe = _closest_foe(env, team)
    path_move = _path_move(env, team, closest_foe)

    def medivac(obs: jax.Array, sight: jax.Array, reach: jax.Array, place: jax.Array) -> jax.Array:
        if n_mates == 0:  # a team of one: nobody to heal
            return jnp.int32(stop)
        mates = obs[: n_mates * f].reshape(n_mates, f)  # (K, F)
        health, dist = mates[:, 0], jnp.linalg.norm(mates[:, 1:3], axis=-1) * sight  # (K,), (K,)
        slot = jnp.arange(n_mates) + (jnp.arange(n_mates) >= place)  # (K,) skip the medivac's own slot
        care = (health > 0) & (healable @ mates[:, 7:].T > 0) & (slot < n_foes)  # (K,) seen, healable, addressable
        need = care & (health < 1.0) & (dist < reach)
        heal = n_move + slot[jnp.argmin(jnp.where(need, health, 2.0))]
        go = jnp.argmin(jnp.where(care, health + 1e-3 * dist, 3.0))  # most damaged seen; nearest among equals
        move = jnp.where(care[go] & (dist[go] > reach * 0.5), _toward(mates[go, 1:3]), stop)
        return jnp.where(jnp.any(need), heal, move)

    def baneling_move(obs: jax.Array) -> jax.Array:
        seen, offset = closest_foe(obs)
        return jnp.where(seen, _toward(offset), stop)

    def act(key: jax.Array, state: Any, obs: jax.Array, place: jax.Array) -> tuple[jax.Array, Any]:
        action, state = base(key, state, obs)
        kind = jnp.argmax(obs[-bits:])  # own type from the own-feature one-hot
        attacks = action >= n_move
        sight, reach = env.unit_type_sight_ranges[kind], env.unit_type_attack_ranges[kind]
        action = jnp.where(kind == ids["medivac"], medivac(obs, sight, reach, place), action)
        action = jnp.where((kind == ids["baneling"]) & ~attacks, baneling_move(obs), action)
        action = jnp.where((kind == ids["spine_crawler"]) & ~attacks, stop, action)
        if env.terrain is not None:  # a map with terrain: walking units go by the grid path
            walks = action < stop
            action = jnp.where(walks, path_move(obs, kind, sight), action)
        return action.astype(jnp.int32), state

    return act
