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

from typing import Any, NamedTuple

import numpy as np

from decomp.envs.base import EnvInfo, Observation, StepResult, check_actions
from decomp.envs.jaxmarl_import import import_jaxmarl
from decomp.envs.smac_rewards import REWARDS
from decomp.envs.smax_fns import SmaxFns, build_batched_fns, own_feats, states_like
from decomp.envs.smax_plus import LABEL as PLUS_LABEL, PLUS_MAP_NAMES, is_plus_map, make_env as make_plus_env

_OWN_FEATS_PER_UNIT = 10  # SMAX own_features: health, x, y, cooldown + 6 unit-type bits (SMAX+ maps: + 10 bits)

# (map, n_envs, reward_scale, reward, kwargs) -> (jaxmarl env, jitted fns): a second env of the same shape
# (e.g. the evaluation env) reuses the compiled step instead of paying ~10 s of XLA compilation.
_COMPILED: dict[tuple[Any, ...], tuple[Any, SmaxFns]] = {}


def smax_map_names() -> list[str]:
    """Map names SMAX knows, read from jaxmarl's own scenario table (not hard-coded here)."""
    import_jaxmarl()
    from jaxmarl.environments.smax import smax_env  # noqa: PLC0415

    return sorted(smax_env.MAP_NAME_TO_SCENARIO)


def _scenario(map_name: str) -> Any:
    import_jaxmarl()
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
        jaxmarl = import_jaxmarl()
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

    def state_dict(self) -> dict[str, Any]:
        """Key, battles (``jax.tree.leaves`` of the states) and avail as host arrays
        (:class:`~decomp.envs.base.ResumableEnv`):
        a few KB per env, so a checkpoint carries the battles in progress."""
        jax = self._jax
        return {"key": np.asarray(jax.device_get(self._key)),
                "states": None if self._state is None else [np.asarray(x) for x in jax.device_get(
                    jax.tree.leaves(self._state))],
                "avail": None if self._avail is None else np.array(self._avail)}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output; arrays are cast to the avals the compiled step expects
        (a numpy round trip must not cost a recompile)."""
        key = np.asarray(saved["key"])
        if key.shape != self._key.shape or key.dtype != self._key.dtype:
            raise ValueError(f"saved SMAX key is {key.dtype} {key.shape}, this env's PRNG key "
                             f"{self._key.dtype} {self._key.shape}")
        states = None if saved["states"] is None else states_like(self.fns.blank_states(), saved["states"])
        avail = None if saved["avail"] is None else np.asarray(saved["avail"], dtype=bool)
        if avail is not None and avail.shape != (self.info.n_envs, self.info.n_agents, self.info.n_actions):
            raise ValueError(f"saved SMAX avail has shape {avail.shape}, this env's is "
                             f"{(self.info.n_envs, self.info.n_agents, self.info.n_actions)}")
        self._key, self._state, self._avail = self._jax.device_put(key), states, avail

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
