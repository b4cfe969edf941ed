"""SMAX+: jaxmarl's SMAX with ten unit types and the mechanics of the four new ones, by subclassing.

What is overridden, and only that (everything else — observations, rewards, SMAX's own attacks,
collisions, cooldowns, the heuristic's targeting — is jaxmarl's code, so its upgrades apply here):

* ``reset``: SMAX's reset, then the map's start layout (decomp/envs/smax_plus/maps.py);
* ``_world_step``: spine crawlers' movement is zeroed, medivacs' and banelings' target actions are kept
  from SMAX's attack (they do not shoot), then SMAX's world step runs and the new mechanics'
  effects (decomp/envs/smax_plus/mechanics.py) are applied on top, all from the same pre-step state;
* ``_push_units_away``: SMAX's collision push, with rooted units put back where they stood;
* ``get_avail_actions``: a rooted unit cannot move; a medivac's target slots point at teammates.

On a map with terrain (decomp/envs/smax_plus/terrain.py) the world step, the collision push and the
start layout keep every unit on cells it may enter, and moves into other cells are not available.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxmarl.environments.smax.heuristic_enemy_smax_env import HeuristicEnemySMAX
from jaxmarl.environments.smax.smax_env import SMAX, Scenario

import decomp.envs.smax_plus.mechanics as mech
from decomp.envs.smax_plus.maps import PlusMap
from decomp.envs.smax_plus.terrain import terrain
from decomp.envs.smax_plus.terrain_rules import TerrainRules
from decomp.envs.smax_plus.units import BANELING_SPLASH, HEAL_PER_SECOND, UnitTable, build_table

TABLE = build_table()


def scenario_of(plus: PlusMap, table: UnitTable = TABLE) -> Scenario:
    """The map as jaxmarl's ``Scenario`` (unit types allies first; no SMACv2 generation)."""
    types, _, _ = plus.layout(table)
    return Scenario(jnp.asarray(types, jnp.uint8), plus.n_allies, plus.n_enemies, False, False)


class SmaxPlus(SMAX):
    """Both teams' units of one SMAX+ map (jaxmarl's two-team SMAX with the overrides above)."""

    def __init__(self, plus: PlusMap, table: UnitTable = TABLE, **kwargs: Any) -> None:
        super().__init__(scenario=scenario_of(plus, table), **table.smax_kwargs(), **kwargs)
        self.plus_map = plus
        self.table = table
        types, centres, spread = plus.layout(table)
        self._start_centres = jnp.asarray(centres)  # (U, 2)
        self._start_spread = jnp.asarray(spread)[:, None]  # (U, 1)
        self.healable = jnp.asarray(table.healable)  # (T,)
        ids = {n: table.type_id(n) for n in ("colossus", "medivac", "baneling", "spine_crawler")}
        self.type_ids = ids
        # per-unit flags: a unit keeps its type for the whole episode (no SMACv2 type generation here)
        self._is = {n: jnp.asarray(types == i) for n, i in ids.items()}  # name -> (U,) bool
        self._rooted = jnp.asarray(np.asarray(table.columns["unit_type_velocities"])[types] == 0.0)  # (U,)
        self._heal_amount = HEAL_PER_SECOND * float(self.time_per_step)
        self.terrain: TerrainRules | None = None
        if plus.terrain is not None:
            if np.any(types == ids["medivac"]):
                raise ValueError(f"{plus.name}: terrain with air units (medivac) is not modelled")
            walkers = np.array([n == "colossus" for n in table.names])  # SC2's Cliff Walk
            self.terrain = TerrainRules(terrain(plus.terrain), walkers)

    # -- start layout -------------------------------------------------------------------------------
    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key: jax.Array) -> tuple[dict[str, jax.Array], Any]:
        key, pos_key = jax.random.split(key)
        _, state = super().reset(key)
        noise = jax.random.uniform(pos_key, self._start_centres.shape, minval=-1.0, maxval=1.0)  # (U, 2)
        start = self._start_centres + noise * self._start_spread  # (U, 2)
        if self.terrain is not None:  # settled from the group's centre: noise kept only on axes it may take
            start = self.terrain.settle(self._start_centres, start, state.unit_types)
        state = self._push_units_away(state.replace(unit_positions=start))
        obs = self.get_obs(state)
        obs["world_state"] = jax.lax.stop_gradient(self.get_world_state(state))
        return obs, state

    def start_centre(self, team: int) -> jax.Array:
        """(2,) the mean of one team's start centres (where SMAC's scripted enemies attack-move to)."""
        n = self.num_allies
        return jnp.mean(self._start_centres[:n] if team == 0 else self._start_centres[n:], axis=0)

    # -- mechanics ----------------------------------------------------------------------------------
    @partial(jax.jit, static_argnums=(0,))
    def _world_step(self, key: jax.Array, state: Any, actions: tuple[jax.Array, jax.Array]) -> Any:
        movement, attack = actions  # (U, 2), (U,)
        movement = jnp.where(self._rooted[:, None], 0.0, movement)
        no_shot = self._is["medivac"] | self._is["baneling"]  # their target actions are not SMAX attacks
        after = super()._world_step(key, state, (movement, jnp.where(no_shot, 0, attack)))
        return self._apply_effects(state, self._on_terrain(state, after), attack)

    def _on_terrain(self, before: Any, after: Any) -> Any:
        """``after`` with each unit's move undone on the axes that would put it where it may not stand."""
        if self.terrain is None:
            return after
        return after.replace(unit_positions=self.terrain.settle(before.unit_positions, after.unit_positions,
                                                                before.unit_types))

    def _apply_effects(self, before: Any, after: Any, attack: jax.Array) -> Any:
        """Heals, detonations and beam splash read ``before`` (as SMAX's attacks do) and change ``after``."""
        types = before.unit_types
        n_move, radii = self.num_movement_actions, self.unit_type_radiuses[types]  # radii (U,)
        reach, damage = self.unit_type_attack_ranges[types], self.unit_type_attacks[types]  # (U,), (U,)
        common = (before, attack, self.num_allies, n_move)
        blast, boom = mech.detonations(*common, self._is["baneling"], reach, damage, radii, BANELING_SPLASH)
        beam = mech.beam_splash(*common, self._is["colossus"], reach, damage, radii)
        health = jnp.maximum(after.unit_health - blast - beam, 0.0)  # (U,)
        healed = mech.heals(*common, self._is["medivac"], self.healable, reach, self._heal_amount)
        health = jnp.where(health > 0, jnp.minimum(health + healed, self.unit_type_health[types]), 0.0)
        return after.replace(unit_health=jnp.where(boom, 0.0, health))

    def _push_units_away(self, state: Any, firmness: float = 1.0) -> Any:
        pushed = super()._push_units_away(state, firmness)
        keep = jnp.where(self._rooted[:, None], state.unit_positions, pushed.unit_positions)  # (U, 2)
        return self._on_terrain(state, pushed.replace(unit_positions=keep))

    # -- action masks -------------------------------------------------------------------------------
    @partial(jax.jit, static_argnums=(0,))
    def get_avail_actions(self, state: Any) -> dict[str, jax.Array]:
        base = super().get_avail_actions(state)
        n_a = self.num_allies
        allies = self._team_masks(state, jnp.stack([base[a] for a in self.agents[:n_a]]), 0)  # (N, A)
        enemies = self._team_masks(state, jnp.stack([base[a] for a in self.agents[n_a:]]), 1)  # (M, A')
        return {a: (allies[i] if i < n_a else enemies[i - n_a]) for i, a in enumerate(self.agents)}

    def _team_masks(self, state: Any, masks: jax.Array, team: int) -> jax.Array:
        """masks (K, A) of one team's units -> rooted units lose their moves, medivacs' slots name teammates."""
        n_move, u = self.num_movement_actions, self.num_agents
        idx = jnp.arange(self.num_allies) if team == 0 else jnp.arange(self.num_allies, u)  # (K,) unit indices
        slots = jnp.arange(masks.shape[1] - n_move)  # (S,)
        mates = slots if team == 0 else u - 1 - slots  # (S,) the teammate each slot names
        ok_mate = (mates >= 0) & (mates < u)
        mates = jnp.clip(mates, 0, u - 1)
        gap = jnp.linalg.norm(state.unit_positions[idx][:, None] - state.unit_positions[mates][None], axis=-1)  # (K, S)
        heal_ok = (ok_mate & (state.unit_teams[mates] == team) & state.unit_alive[mates]
                   & self.healable[state.unit_types[mates]])[None, :]
        heal_ok = heal_ok & (mates[None, :] != idx[:, None]) & state.unit_alive[idx][:, None]
        heal_ok = heal_ok & (gap < self.unit_type_attack_ranges[state.unit_types[idx]][:, None])  # (K, S)
        targets = jnp.where(self._is["medivac"][idx][:, None], heal_ok.astype(masks.dtype), masks[:, n_move:])
        moves = jnp.where(self._rooted[idx][:, None], 0, masks[:, : n_move - 1]).astype(masks.dtype)
        if self.terrain is not None:
            ahead = self.terrain.move_mask(state.unit_positions[idx], state.unit_types[idx])  # (K, 4)
            moves = jnp.where(ahead, moves, 0).astype(masks.dtype)
        return jnp.concatenate([moves, masks[:, n_move - 1 : n_move], targets], axis=1)


class SmaxPlusHeuristicEnemy(HeuristicEnemySMAX):
    """The allies are the agents; the enemies play decomp's SMAX+ heuristic (heuristic.py), like
    jaxmarl's ``HeuristicEnemySMAX`` does with its own heuristic on SMAX."""

    def __init__(self, plus: PlusMap, enemy_shoots: bool = True, attack_mode: str = "closest", **kwargs: Any) -> None:
        from decomp.envs.smax_plus.heuristic import plus_heuristic  # noqa: PLC0415

        # jaxmarl's wrapper builds a plain SMAX from these arguments (same sizes and spaces as SMAX+) ...
        super().__init__(enemy_shoots, attack_mode, scenario=scenario_of(plus), **TABLE.smax_kwargs(), **kwargs)
        # ... whose engine we swap for SMAX+'s, and whose heuristic for one that knows the new types
        self._env = SmaxPlus(plus, **kwargs)
        self.heuristic_policy = plus_heuristic(self._env, 1, shoot=enemy_shoots, attack_mode=attack_mode)

    @property
    def engine(self) -> "SmaxPlus":
        """The SMAX+ world both teams act in (what a scripted ally player needs, e.g. the heuristic)."""
        return self._env

    def get_enemy_actions(self, key: jax.Array, policy_state: Any, enemy_obs: jax.Array) -> tuple[dict[str, Any], Any]:
        keys = jax.random.split(key, num=self.num_enemies)
        places = self.num_enemies - 1 - jnp.arange(self.num_enemies)  # each enemy's place in its own team's view
        actions, policy_state = jax.vmap(self.heuristic_policy)(keys, policy_state, enemy_obs, places)
        return {agent: actions[i] for i, agent in enumerate(self.enemy_agents)}, policy_state
