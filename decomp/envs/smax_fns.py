"""SMAX's pure batched functions: one jitted + vmapped step with auto-reset, and a reset that reuses it.

Apart from :class:`~decomp.envs.smax.SmaxEnv`, which holds the key and states and converts to numpy:
these functions are all that the env, the JAX rollout (decomp/rollout/jax_policy.py) and
benchmarks/raw_smax.py share. The layout of what ``pack`` reads is in decomp/envs/smax.py's docstring.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from decomp.envs.smac_rewards import SMAC_KILL, SMAC_WIN, SMAX_MAX_RETURN

Packed = dict[str, Any]  # obs (N, O), state (S,), avail (N, A), feats (N, F) of one env
StepOut = dict[str, Any]  # next, restart, reward, terminated, done, won, episode_steps of one env


def own_feats(env: Any) -> int:
    """Features of one unit's block in the world state: 4 + one bit per unit type (10 on SMAX, 14 on SMAX+)."""
    return len(env.own_features)


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
    # ``blank_states()``: zero batched states on the device with the avals (tree, shapes, dtypes, strong types)
    # ``step`` was first compiled for, the template restored states are cast to (:func:`states_like`); a
    # function, not the arrays, so SmaxFns stay comparable (runners compare their rollout arguments)
    blank_states: Callable[[], Any]


def canonical(tree: Any) -> Any:
    """Every leaf strongly typed with its own dtype, so reset's and step's states have the same avals
    (dtype AND weak_type; e.g. reset's ``step`` is a weak int32, step_env's is not): otherwise feeding
    one where the other was seen recompiles."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


def states_like(template: Any, leaves: list[np.ndarray]) -> Any:
    """Host arrays (a checkpoint's ``jax.tree.leaves`` of batched states) as device states of ``template``'s
    tree, shapes and dtypes, strongly typed: a restored state never makes the compiled step recompile."""
    import jax  # noqa: PLC0415

    slots, treedef = jax.tree.flatten(template)
    if len(leaves) != len(slots):
        raise ValueError(f"saved SMAX states have {len(leaves)} arrays, this env's have {len(slots)} "
                         "(another jaxmarl version or map?)")
    out = []
    for i, (leaf, slot) in enumerate(zip(leaves, slots)):
        leaf = np.asarray(leaf)
        if leaf.shape != slot.shape:
            raise ValueError(f"saved SMAX state array {i} has shape {leaf.shape}, this env's {slot.shape} "
                             "(another n_envs or map?)")
        out.append(jax.device_put(leaf.astype(slot.dtype, copy=False)))
    return jax.tree.unflatten(treedef, out)


def world_scale(env: Any) -> np.ndarray:
    """(state_dim,) factors that bring the world state's absolute positions (0..32) to [0, 1], so the
    mixer's hypernetworks and Qatten's keys see inputs of the same magnitude as the observations."""
    u = own_feats(env)
    n_units = int(env.num_allies) + int(env.num_enemies)
    scale = np.ones(int(env.state_size), np.float32)
    blocks = np.arange(n_units) * u
    scale[blocks + 1] = 1.0 / float(env.map_width)
    scale[blocks + 2] = 1.0 / float(env.map_height)
    return scale


def make_pack(env: Any) -> Callable[[dict[str, Any], Any], Packed]:
    """``pack(obs, state)``: jaxmarl's per-agent dicts of one env as the protocol's arrays."""
    import jax.numpy as jnp  # noqa: PLC0415

    n_allies = int(env.num_allies)
    agents = list(env.agents)  # ally_0 .. ally_{n-1}
    u = own_feats(env)
    feat_len = n_allies * u
    scale = world_scale(env)

    def pack(obs: dict[str, Any], state: Any) -> Packed:
        world = obs["world_state"].astype(jnp.float32) * scale  # (state_dim,)
        avail = env.get_avail_actions(state)
        return {
            "obs": jnp.stack([obs[a] for a in agents]).astype(jnp.float32),  # (N, obs_dim)
            "state": world,
            "avail": jnp.stack([avail[a] for a in agents]).astype(jnp.bool_),  # (N, A)
            # allies' own blocks open the world state, in agent order (decomp/envs/smax.py's docstring)
            "feats": world[:feat_len].reshape(n_allies, u),  # (N, F)
        }

    return pack


def make_smac_reward(env: Any) -> Callable[[Any, Any, Any], Any]:
    """``smac_reward(before, after, won)``: SMAC's shaped reward of one step (``env.reward=smac``) from the
    unit arrays before and after it, over its maximum, times SMAX's maximum return."""
    import jax.numpy as jnp  # noqa: PLC0415

    n_allies, n_enemies = int(env.num_allies), int(env.num_enemies)

    def smac_reward(before: Any, after: Any, won: Any) -> Any:
        enemy_max = env.unit_type_health[before.unit_types[n_allies:]]  # (n_enemies,)
        removed = before.unit_health[n_allies:] - jnp.maximum(after.unit_health[n_allies:], 0.0)  # (n_enemies,)
        kills = jnp.sum(before.unit_alive[n_allies:] & ~after.unit_alive[n_allies:])
        raw = jnp.sum(jnp.maximum(removed, 0.0)) + SMAC_KILL * kills + SMAC_WIN * won
        return SMAX_MAX_RETURN * raw / (jnp.sum(enemy_max) + SMAC_KILL * n_enemies + SMAC_WIN)

    return smac_reward


def make_one_env_fns(env: Any, reward_scale: float, reward: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(reset_one(key) -> (state, packed), step_one(key, state, actions, force_reset) -> (state, out))``
    of one env, unbatched and not jitted; ``step_one`` resets the env when it is done or forced to."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    n_allies = int(env.num_allies)
    agents = list(env.agents)
    pack, smac_reward = make_pack(env), make_smac_reward(env)

    def reset_one(key: Any) -> tuple[Any, Packed]:
        obs, state = env.reset(key)
        state = canonical(state)
        return state, pack(obs, state)

    def step_one(key: Any, state: Any, actions: Any, force_reset: Any) -> tuple[Any, StepOut]:
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
        step_reward = smac_reward(state.state, nstate.state, won) if reward == "smac" else rewards[agents[0]]
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

    return reset_one, step_one


def build_batched_fns(env: Any, n_envs: int, reward_scale: float = 1.0, reward: str = "native") -> SmaxFns:
    """Build the one jitted+vmapped step (with auto-reset) and a reset that reuses it.

    ``reward`` picks the reward form (:data:`~decomp.envs.smac_rewards.REWARDS`). Every env state
    produced goes through :func:`canonical`, so a state of reset's can be fed where step's were seen.
    """
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    reset_one, step_one = make_one_env_fns(env, reward_scale, reward)

    @jax.jit
    def step_batch(key: Any, states: Any, actions: Any, force_reset: Any) -> tuple[Any, Any, dict[str, Any]]:
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
    stop = np.full((n_envs, int(env.num_allies)), env.num_movement_actions - 1, dtype=np.int32)  # (E, N) "stop"
    all_true = np.ones((n_envs,), dtype=bool)
    no_reset = np.zeros((n_envs,), dtype=bool)

    def reset_batch(key: Any) -> tuple[Any, Any, Packed]:
        key, states, out = step_batch(key, dummy_states, stop, all_true)
        return key, states, out["restart"]

    def step_plain(key: Any, states: Any, actions: Any) -> tuple[Any, Any, dict[str, Any]]:
        return step_batch(key, states, actions, no_reset)

    return SmaxFns(reset=reset_batch, step=step_plain, jitted_step=step_batch, step_one=step_one,
                   blank_states=lambda: dummy_states)
