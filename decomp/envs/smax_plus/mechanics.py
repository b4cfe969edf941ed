"""The four new mechanics as pure, vectorised functions of the units' arrays (one world step each).

Each takes the state *before* the world step (what SMAX's own attacks read too) and returns what to add
to or remove from each unit, so the env applies all effects of one world step at once, like SMAX.
Shapes: U units (allies first), 2-d positions; actions are SMAX's decoded attack actions (U,) int, where
``a >= n_move`` is "target slot ``a - n_move``".

Target slots, as SMAX decodes attacks: team 0's slot j is enemy j (unit ``n_allies + j``); team 1's slot j
is ally ``n_allies - 1 - j`` (enemies see the allies in reverse). A medivac's slots point at its own team
instead (SMAC's medivac convention), in the same spirit: team 0's slot j is ally j, team 1's slot j is unit
``U - 1 - j``. Team 1 has only ``n_allies`` slots, so on MMM2 (12 enemies, 10 allies) the enemy medivac,
placed first, reaches 10 of its 11 teammates.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def attack_targets(actions: jax.Array, n_allies: int, n_move: int) -> jax.Array:
    """(U,) the unit each attack action points at, as SMAX decodes it; -1 where the action is no attack."""
    u = actions.shape[0]
    slot = actions - n_move  # (U,)
    team1 = jnp.arange(u) >= n_allies
    target = jnp.where(team1, n_allies - 1 - slot, n_allies + slot)
    return jnp.where(slot >= 0, target, -1)


def heal_targets(actions: jax.Array, n_allies: int, n_move: int) -> jax.Array:
    """(U,) the teammate each medivac target action points at (module docstring); -1 where none."""
    u = actions.shape[0]
    slot = actions - n_move  # (U,)
    team1 = jnp.arange(u) >= n_allies
    target = jnp.where(team1, u - 1 - slot, slot)
    return jnp.where(slot >= 0, target, -1)


def _pairs(state: Any, src: jax.Array, dst: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(distance (U,), both alive (U,)) between each unit and its ``dst`` (index clipped; -1 = none)."""
    safe = jnp.clip(dst, 0, src.shape[0] - 1)
    dist = jnp.linalg.norm(state.unit_positions[safe] - state.unit_positions[src], axis=-1)  # (U,)
    return dist, state.unit_alive[src] & state.unit_alive[safe] & (dst >= 0)


def heals(state: Any, actions: jax.Array, n_allies: int, n_move: int, is_medivac: jax.Array,
          healable: jax.Array, reach: jax.Array, amount: float) -> jax.Array:
    """(U,) health each unit receives from medivacs this world step (not capped at its maximum here).

    A heal lands when the medivac and its target are alive, on the same team, the target is healable
    (biological, not a structure) and not the medivac itself, and it is within the medivac's reach.
    """
    u = actions.shape[0]
    src = jnp.arange(u)
    dst = heal_targets(actions, n_allies, n_move)  # (U,)
    dist, alive = _pairs(state, src, dst)
    safe = jnp.clip(dst, 0, u - 1)
    same_team = state.unit_teams[safe] == state.unit_teams
    ok = is_medivac & alive & same_team & (dst != src) & healable[state.unit_types[safe]] & (dist < reach)
    return jnp.zeros((u,)).at[safe].add(jnp.where(ok, amount, 0.0))  # (U,) several medivacs may heal one unit


def detonations(state: Any, actions: jax.Array, n_allies: int, n_move: int, is_baneling: jax.Array,
                reach: jax.Array, damage: jax.Array, radii: jax.Array, splash: float) -> tuple[jax.Array, jax.Array]:
    """(damage taken (U,), detonated (U,)): banelings that attack explode.

    A baneling detonates when its attack is valid (alive target of the other team within reach, weapon
    ready); every living unit of the other team whose edge lies within ``splash`` of it takes the
    baneling's damage (SC2: no friendly splash), and the baneling dies.
    """
    u = actions.shape[0]
    src = jnp.arange(u)
    dst = attack_targets(actions, n_allies, n_move)
    dist, alive = _pairs(state, src, dst)
    boom = is_baneling & alive & (dist < reach) & (state.unit_weapon_cooldowns <= 0.0)  # (U,)
    gap = jnp.linalg.norm(state.unit_positions[:, None] - state.unit_positions[None, :], axis=-1)  # (U, U) [bane, unit]
    hit = (gap < splash + radii[None, :]) & (state.unit_teams[:, None] != state.unit_teams[None, :])
    hit = hit & state.unit_alive[None, :] & boom[:, None]  # (U, U)
    return jnp.sum(jnp.where(hit, damage[:, None], 0.0), axis=0), boom


def beam_splash(state: Any, actions: jax.Array, n_allies: int, n_move: int, is_colossus: jax.Array,
                reach: jax.Array, damage: jax.Array, radii: jax.Array) -> jax.Array:
    """(U,) extra damage from colossus beams: units beside the target, not the target itself.

    A colossus's valid attack (as SMAX validates it) sweeps a line across the line of fire, centred on the
    target, 2 x BEAM_HALF_WIDTH long and 2 x BEAM_HALF_DEPTH deep; every other living unit of the target's
    team that the line touches (its circle overlaps the line's rectangle, approximately) takes the damage.
    """
    from decomp.envs.smax_plus.units import BEAM_HALF_DEPTH, BEAM_HALF_WIDTH  # noqa: PLC0415

    u = actions.shape[0]
    src = jnp.arange(u)
    dst = attack_targets(actions, n_allies, n_move)
    dist, alive = _pairs(state, src, dst)
    fires = is_colossus & alive & (dist < reach) & (state.unit_weapon_cooldowns <= 0.0)  # (U,)
    safe = jnp.clip(dst, 0, u - 1)
    aim = state.unit_positions[safe] - state.unit_positions  # (U, 2) colossus -> its target
    along = aim / jnp.maximum(jnp.linalg.norm(aim, axis=-1, keepdims=True), 1e-6)  # (U, 2) unit line of fire
    across = jnp.stack([-along[:, 1], along[:, 0]], axis=-1)  # (U, 2) the beam's direction
    rel = state.unit_positions[None, :, :] - state.unit_positions[safe][:, None, :]  # (U, U, 2) [colossus, unit]
    off_line = jnp.abs(jnp.sum(rel * across[:, None, :], -1))  # (U, U) distance along the beam from the target
    off_depth = jnp.abs(jnp.sum(rel * along[:, None, :], -1))  # (U, U) distance across the beam
    touches = (off_line < BEAM_HALF_WIDTH + radii[None, :]) & (off_depth < BEAM_HALF_DEPTH + radii[None, :])
    same_side = state.unit_teams[None, :] == state.unit_teams[safe][:, None]  # the target's team
    hit = touches & same_side & state.unit_alive[None, :] & fires[:, None] & (src[None, :] != safe[:, None])
    return jnp.sum(jnp.where(hit, damage[:, None], 0.0), axis=0)
