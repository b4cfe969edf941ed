"""SMAX (JaxMARL's StarCraft re-implementation) as a :class:`~decomp.envs.base.BatchedEnv`.

Why this shape: SMAX is pure JAX, so ``n_envs`` copies are stepped by ONE jitted + vmapped function
that also performs the protocol's auto-reset and returns every output in a single device->host
transfer. The env state and the RNG key never leave the device.

Layout facts (jaxmarl 0.2.0, ``observation_type="unit_list"``), verified against
``SMAX.get_world_state`` / ``get_obs_unit_list``:

* ``world_state`` (length ``(U + 2) * n_units`` with ``U = 4 + 6`` own features — ``4 + 10`` on the
  SMAX+ maps, which have 10 unit types — and ``n_units = n_allies + n_enemies``) is ``[unit_0 |
  unit_1 | ... | unit_{n_units-1} | teams (n_units) | types (n_units)]``. Units are ordered allies
  first (unit ``i < n_allies`` is ally ``i``, the agent ``ally_i``), then enemies. Each unit block is
  ``[health / max_health, x, y, weapon_cooldown, unit_type_one_hot(6)]``; x, y are absolute map
  coordinates (0..32) — we divide them by the map's width/height — and the cooldown is raw seconds
  (≤ ~2). A dead unit's block is all zeros.
* So the per-agent Qatten features are ``world_state[: n_allies * U].reshape(n_allies, U)``:
  row ``i`` is ally ``i``'s own block (``feat_dim = 10``).
* ``obs`` per ally: the other allies' then the enemies' 13-feature blocks, then the ally's own
  10 features (normalised position), e.g. 3m: 2*13 + 3*13 + 10 = 75.
* Actions: 0-3 move (N, E, S, W), 4 stop, ``5 + j`` attack enemy ``j``; there is no no-op, a dead ally
  has only ``stop`` available.
* Win: SMAX pays its win bonus when every enemy is dead AND at least one ally is alive (an
  all-dead draw is possible because damage is applied simultaneously); we use the same rule.
* ``state.done`` = all allies dead | all enemies dead | ``step >= max_steps`` (100). Only the first
  two are a true termination; hitting the time limit is a truncation (``done`` but not
  ``terminated``), so the learner bootstraps.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any, Callable, NamedTuple

import numpy as np

from decomp.envs.base import EnvInfo, Observation, StepResult, check_actions
from decomp.envs.smac_select import REWARDS, SMAX_MAX_RETURN
from decomp.envs.smax_plus import LABEL as PLUS_LABEL, PLUS_MAP_NAMES, is_plus_map, make_env as make_plus_env

_OWN_FEATS_PER_UNIT = 10  # SMAX own_features: health, x, y, cooldown + 6 unit-type bits (SMAX+ maps: + 10 bits)

# SMAC's StarCraft2Env defaults (reward_death_value, reward_win): the kill and win bonuses in health units
_SMAC_KILL = 10.0
_SMAC_WIN = 200.0

# (map, n_envs, reward_scale, reward, kwargs) -> (jaxmarl env, jitted fns): a second env of the same shape
# (e.g. the evaluation env) reuses the compiled step instead of paying ~10 s of XLA compilation.
_COMPILED: dict[tuple[Any, ...], tuple[Any, "SmaxFns"]] = {}


def _import_jaxmarl() -> Any:
    """Import jaxmarl without its 'Submoduled environments not found' chatter.

    jaxmarl's mabrax module resets ``sys.stdout``/``sys.stderr`` to the process streams while
    importing, which defeats ``contextlib.redirect_stdout``; so we silence file descriptor 1 for the
    import and put the caller's Python streams back afterwards.
    """
    if "jaxmarl.environments.smax" in sys.modules:
        return sys.modules["jaxmarl"]
    saved = sys.stdout, sys.stderr
    saved_fd = devnull = None
    try:
        sys.stdout.flush()
        saved_fd, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    except (OSError, ValueError, AttributeError):  # no real fd 1 (e.g. embedded): stay noisy
        saved_fd = None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import jaxmarl  # noqa: PLC0415
            import jaxmarl.environments.smax  # noqa: F401, PLC0415
    finally:
        if saved_fd is not None:
            if sys.__stdout__ is not None:
                sys.__stdout__.flush()
            os.dup2(saved_fd, 1)
            os.close(saved_fd)
        if devnull is not None:
            os.close(devnull)
        sys.stdout, sys.stderr = saved
    return jaxmarl


def own_feats(env: Any) -> int:
    """Features of one unit's block in the world state: 4 + one bit per unit type (10 on SMAX, 14 on SMAX+)."""
    return len(env.own_features)


def smax_map_names() -> list[str]:
    """Map names SMAX knows, read from jaxmarl's own scenario table (not hard-coded here)."""
    _import_jaxmarl()
    from jaxmarl.environments.smax import smax_env  # noqa: PLC0415

    return sorted(smax_env.MAP_NAME_TO_SCENARIO)


def _scenario(map_name: str) -> Any:
    _import_jaxmarl()
    from jaxmarl.environments.smax import map_name_to_scenario  # noqa: PLC0415

    try:
        return map_name_to_scenario(map_name)
    except KeyError:
        raise ValueError(
            f"unknown SMAX map {map_name!r}; expected one of: {', '.join(smax_map_names())}; "
            f"SMAX+ adds: {', '.join(PLUS_MAP_NAMES)} (set env.map_name to one of these)"
        ) from None


class SmaxSnapshot(NamedTuple):
    """Where a :class:`SmaxEnv` stands: enough to continue stepping it elsewhere and hand it back.

    The JAX rollout (``decomp.rollout.runner_jax``) advances key and states on the device itself, then
    restores the env; the replay export reads the units out of ``states``.
    """

    key: Any  # device PRNG key of the next step
    states: Any  # batched jaxmarl env states (device); ``states.state`` holds the per-unit arrays
    avail: np.ndarray | None  # (n_envs, n_agents, n_actions) the last observation's avail (validation)


class SmaxEnv:
    """``n_envs`` HeuristicEnemySMAX battles stepped in lockstep (numpy in, numpy out)."""

    def __init__(
        self,
        map_name: str,
        n_envs: int,
        seed: int = 0,
        reward_scale: float = 1.0,
        reward: str = "native",
        validate_actions: bool = True,
        **smax_kwargs: Any,
    ) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        if reward not in REWARDS:
            raise ValueError(f"unknown SMAX reward {reward!r}; expected one of {list(REWARDS)} (env.reward=...)")
        jaxmarl = _import_jaxmarl()
        import jax  # noqa: PLC0415

        self._jax = jax
        self.map_name = map_name
        cache_key = (map_name, n_envs, float(reward_scale), reward, tuple(sorted(smax_kwargs.items())))
        if cache_key not in _COMPILED:
            env = (make_plus_env(map_name, **smax_kwargs) if is_plus_map(map_name)  # SMAX+: decomp/envs/smax_plus/
                   else jaxmarl.make("HeuristicEnemySMAX", scenario=_scenario(map_name), **smax_kwargs))
            _COMPILED[cache_key] = (env, build_batched_fns(env, n_envs, float(reward_scale), reward))
        self.env, self.fns = _COMPILED[cache_key]
        self.n_allies = int(self.env.num_allies)
        self.n_enemies = int(self.env.num_enemies)
        self.reward_scale = float(reward_scale)
        self.validate_actions = validate_actions
        n_actions = int(self.env.num_ally_actions)  # 5 + n_enemies
        n_move = int(self.env.num_movement_actions) - 1  # 4 moves, then stop
        self.info = EnvInfo(
            n_agents=self.n_allies,
            n_actions=n_actions,
            obs_dim=int(self.env.obs_size),
            state_dim=int(self.env.state_size),
            feat_dim=own_feats(self.env),
            episode_limit=int(self.env.max_steps),
            n_envs=n_envs,
            name=f"smax:{map_name} ({PLUS_LABEL})" if is_plus_map(map_name) else f"smax:{map_name}",
            action_kinds=("move",) * n_move + ("stop",) + ("attack",) * (n_actions - n_move - 1),
        )
        self._key = jax.random.PRNGKey(seed)
        self._state: Any = None
        self._avail: np.ndarray | None = None  # (n_envs, n_agents, n_actions) last avail, for validation

    # -- protocol -------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> Observation:
        if seed is not None:
            self._key = self._jax.random.PRNGKey(seed)
        self._key, self._state, packed = self.fns.reset(self._key)
        obs = _to_observation(self._jax.device_get(packed))
        self._avail = obs.avail
        return obs

    def step(self, actions: np.ndarray) -> StepResult:
        if self._state is None:
            raise RuntimeError("SmaxEnv.step called before reset(); call env.reset() first")
        actions = np.asarray(actions)
        if self.validate_actions:
            assert self._avail is not None
            check_actions(actions, self._avail)
        # fixed dtype so the jitted step never sees a new input signature
        self._key, self._state, out = self.fns.step(self._key, self._state, actions.astype(np.int32, copy=False))
        out = self._jax.device_get(out)  # the one device->host transfer per step
        restart = _to_observation(out["restart"])
        self._avail = restart.avail
        return StepResult(
            next=_to_observation(out["next"]),
            reward=out["reward"],
            terminated=out["terminated"],
            done=out["done"],
            won=out["won"],
            restart=restart,
            info={"episode_steps": out["episode_steps"]},
        )

    def close(self) -> None:
        self._state = None

    def snapshot(self) -> SmaxSnapshot:
        """The current key, env states and avail (device values are shared, not copied)."""
        return SmaxSnapshot(self._key, self._state, self._avail)

    def restore(self, snap: SmaxSnapshot) -> None:
        """Continue from ``snap`` (e.g. after stepping its states outside this object)."""
        self._key, self._state, self._avail = snap.key, snap.states, snap.avail

    def battle_stats(self, ob: Observation) -> dict[str, np.ndarray]:
        """Allies alive and enemy health lost, read from the (scaled) world state (module docstring)."""
        u, na = self.info.feat_dim, self.n_allies
        enemy_health = ob.state[:, na * u : (na + self.n_enemies) * u : u]  # (E, n_enemies) fractions, 0 = dead
        return {"allies_alive": (ob.feats[..., 0] > 0).sum(-1).astype(np.float32),
                "enemy_health_lost": (1.0 - enemy_health.mean(-1)).astype(np.float32)}

    # -- introspection (tests, benchmarks) --------------------------------------------------------
    def compile_count(self) -> int:
        """Compiled variants of the jitted step, which also serves reset (1 = never recompiled)."""
        return int(self.fns.jitted_step._cache_size())


def _to_observation(packed: dict[str, np.ndarray]) -> Observation:
    return Observation(obs=packed["obs"], state=packed["state"], avail=packed["avail"], feats=packed["feats"])


class SmaxFns(NamedTuple):
    """Pure batched functions over ``n_envs`` envs (also used by benchmarks/raw_smax.py).

    ``reset(key) -> (key, states, packed)``; ``step(key, states, actions (E, N)) -> (key, states,
    out)`` with ``out`` = {next, restart, reward, terminated, done, won, episode_steps};
    ``jitted_step`` is the single compiled function behind both (inspect its ``_cache_size()``).
    """

    reset: Callable[[Any], tuple[Any, Any, dict[str, Any]]]
    step: Callable[[Any, Any, Any], tuple[Any, Any, dict[str, Any]]]
    jitted_step: Any
    # one env, unbatched and not jitted: ``(key, state, actions (N,), force_reset) -> (state, out)``, for
    # callers that batch envs of several key streams themselves (decomp.rollout.group)
    step_one: Callable[[Any, Any, Any, Any], tuple[Any, dict[str, Any]]]


def build_batched_fns(env: Any, n_envs: int, reward_scale: float = 1.0, reward: str = "native") -> SmaxFns:
    """Build the one jitted+vmapped step (with auto-reset) and a reset that reuses it.

    ``reward`` picks the reward form (:data:`REWARDS`).

    Every env state produced goes through ``canonical`` so reset's and step's states have the same
    avals (dtype AND weak_type); otherwise feeding one where the other was seen recompiles.
    """
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    n_allies = int(env.num_allies)
    agents = list(env.agents)  # ally_0 .. ally_{n-1}
    u = own_feats(env)
    feat_len = n_allies * u

    def canonical(tree: Any) -> Any:
        # explicit dtype => strongly typed; e.g. reset's `step` is a weak int32, step_env's is not
        return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)

    # positions in the world state are absolute map coordinates (0..32): scale them to [0, 1] so the
    # mixer's hypernetworks and Qatten's keys see inputs of the same magnitude as the observations
    n_units = n_allies + int(env.num_enemies)
    scale = np.ones(int(env.state_size), np.float32)
    blocks = np.arange(n_units) * u
    scale[blocks + 1] = 1.0 / float(env.map_width)
    scale[blocks + 2] = 1.0 / float(env.map_height)

    def pack(obs: dict[str, jax.Array], state: Any) -> dict[str, jax.Array]:
        world = obs["world_state"].astype(jnp.float32) * scale  # (state_dim,)
        avail = env.get_avail_actions(state)
        return {
            "obs": jnp.stack([obs[a] for a in agents]).astype(jnp.float32),  # (N, obs_dim)
            "state": world,
            "avail": jnp.stack([avail[a] for a in agents]).astype(jnp.bool_),  # (N, A)
            # allies' own blocks open the world state, in agent order (module docstring)
            "feats": world[:feat_len].reshape(n_allies, u),  # (N, F)
        }

    n_enemies = int(env.num_enemies)

    def smac_reward(before: Any, after: Any, won: jax.Array) -> jax.Array:
        """SMAC's shaped reward of one step from the unit arrays before and after it, over its maximum."""
        enemy_max = env.unit_type_health[before.unit_types[n_allies:]]  # (n_enemies,)
        removed = before.unit_health[n_allies:] - jnp.maximum(after.unit_health[n_allies:], 0.0)  # (n_enemies,)
        kills = jnp.sum(before.unit_alive[n_allies:] & ~after.unit_alive[n_allies:])
        raw = jnp.sum(jnp.maximum(removed, 0.0)) + _SMAC_KILL * kills + _SMAC_WIN * won
        return SMAX_MAX_RETURN * raw / (jnp.sum(enemy_max) + _SMAC_KILL * n_enemies + _SMAC_WIN)

    def reset_one(key: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
        obs, state = env.reset(key)
        state = canonical(state)
        return state, pack(obs, state)

    def step_one(key: jax.Array, state: Any, actions: jax.Array, force_reset: jax.Array) -> tuple[Any, dict[str, Any]]:
        key_step, key_reset = jax.random.split(key)
        obs, nstate, rewards, dones, _ = env.step_env(key_step, state, {a: actions[i] for i, a in enumerate(agents)})
        nstate = canonical(nstate)
        nxt = pack(obs, nstate)
        alive = nstate.state.unit_alive  # (n_units,) allies first
        allies_dead = ~jnp.any(alive[:n_allies])
        enemies_dead = ~jnp.any(alive[n_allies:])
        # jaxmarl checks the time limit before incrementing `step`, so its episodes last max_steps + 1
        # steps; end them at max_steps (= episode_limit) so no battle spills over the runner's limit
        done = dones["__all__"] | (nstate.state.step >= env.max_steps)
        won = enemies_dead & ~allies_dead
        if reward == "smac":
            step_reward = smac_reward(state.state, nstate.state, won)
        else:
            step_reward = rewards[agents[0]]
        rstate, restart = reset_one(key_reset)
        take_reset = done | force_reset
        new_state = jax.tree.map(lambda r, s: jnp.where(take_reset, r, s), rstate, nstate)
        restart = jax.tree.map(lambda r, s: jnp.where(take_reset, r, s), restart, nxt)
        out = {
            "next": nxt,
            "restart": restart,
            "reward": (step_reward * reward_scale).astype(jnp.float32),
            "terminated": allies_dead | enemies_dead,
            "done": done,
            "won": won,
            "episode_steps": nstate.state.step,
        }
        return new_state, out

    @jax.jit
    def step_batch(
        key: jax.Array, states: Any, actions: jax.Array, force_reset: jax.Array
    ) -> tuple[jax.Array, Any, dict[str, Any]]:
        key, sub = jax.random.split(key)
        states, out = jax.vmap(step_one)(
            jax.random.split(sub, n_envs), states, actions.astype(jnp.int32), force_reset.astype(jnp.bool_)
        )
        return key, states, out

    # Reset reuses the compiled step (forced done on a dummy zero state) instead of compiling a
    # second vmapped graph: XLA compilation of SMAX is the slow part (~10 s per graph).
    # device arrays, like the states step returns: a numpy argument would add a second entry to the
    # dispatch cache (no XLA recompile, but it would muddy the compile-count check)
    dummy_states = jax.device_put(
        jax.tree.map(
            lambda s: np.zeros((n_envs, *s.shape), s.dtype),
            jax.eval_shape(lambda k: reset_one(k)[0], jax.random.PRNGKey(0)),
        )
    )
    stop = np.full((n_envs, n_allies), env.num_movement_actions - 1, dtype=np.int32)  # (E, N) "stop"
    all_true = np.ones((n_envs,), dtype=bool)

    no_reset = np.zeros((n_envs,), dtype=bool)

    def reset_batch(key: jax.Array) -> tuple[jax.Array, Any, dict[str, jax.Array]]:
        key, states, out = step_batch(key, dummy_states, stop, all_true)
        return key, states, out["restart"]

    def step_plain(key: jax.Array, states: Any, actions: Any) -> tuple[jax.Array, Any, dict[str, Any]]:
        return step_batch(key, states, actions, no_reset)

    return SmaxFns(reset=reset_batch, step=step_plain, jitted_step=step_batch, step_one=step_one)
