"""Collection for several seeds' SMAX runners in one jitted call per chunk (``seeds=[...]``).

Why: S seeds trained in one process would otherwise dispatch S rollouts per chunk; here the S
policies (their exported weights) and S carries are stacked on a leading seed axis and stepped by
:func:`get_group_rollout`. Each runner keeps its own state between calls (its device carry, env,
staging, replay), so every seed records exactly what it would record alone.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from decomp.core.buffer import ReplayBuffer
from decomp.envs.smax_fns import SmaxFns
from decomp.rollout.jax_policy import Carry, Params, make_rollout
from decomp.rollout.runner import EpisodeStats, Runner
from decomp.rollout.runner_jax import JaxPolicyRunner, chunk_sizes, pipelined


def can_group(runners: Sequence[Runner]) -> bool:
    """True when every runner is a :class:`JaxPolicyRunner` sharing one compiled rollout (same env, options)."""
    return (len(runners) > 1 and all(isinstance(r, JaxPolicyRunner) for r in runners)
            and all(r.rollout_args == runners[0].rollout_args for r in runners))  # type: ignore[attr-defined]


def collect_group(runners: Sequence[JaxPolicyRunner], n_steps: int, epsilons: Sequence[float],
                  buffers: Sequence[ReplayBuffer | None]) -> list[EpisodeStats]:
    """``runner.collect(n_steps, epsilons[i], buffers[i])`` for every runner, stepped together."""
    if not can_group(runners):
        raise ValueError("collect_group needs >= 2 JaxPolicyRunners with the same env and policy options")
    if not len(runners) == len(epsilons) == len(buffers):
        raise ValueError(f"one epsilon and one buffer per runner: {len(runners)} runners, {len(epsilons)} epsilons, "
                         f"{len(buffers)} buffers")
    import jax  # noqa: PLC0415

    sizes = chunk_sizes(n_steps, runners[0].chunk)
    carries = [r.device_carry() for r in runners]
    stack = lambda *xs: jax.numpy.stack(xs)  # noqa: E731
    params = jax.tree.map(stack, *[jax.device_put(r.policy.export_jax().params) for r in runners])  # (S, ...)
    carry: Any = jax.tree.map(stack, *carries)  # (S, ...)
    eps = np.asarray(epsilons, np.float32)  # (S,)
    rollout = get_group_rollout(*runners[0].rollout_args)
    stats = [EpisodeStats() for _ in runners]

    def dispatch(k: int) -> Any:
        nonlocal carry
        carry, packed = rollout(params, carry, eps, np.asarray(k, np.int32))
        return packed  # (S, K, E, W)

    def record(packed: Any, k: int) -> None:
        rows = np.asarray(packed)
        for i, r in enumerate(runners):
            r.record_chunk(rows[i, :k], buffers[i], stats[i])

    pipelined(sizes, dispatch, record)
    for i, r in enumerate(runners):
        r.adopt_carry(jax.tree.map(lambda x: x[i], carry))
    return stats


_GROUP_ROLLOUTS: dict[tuple[Any, ...], Callable[..., Any]] = {}


def get_group_rollout(fns: SmaxFns, n_actions: int, episode_limit: int, chunk: int, agent_id: bool,
                      last_action: bool) -> Callable[..., Any]:
    """``rollout`` for S seeds in one dispatch: params, carry with a leading seed axis, epsilon (S,).

    -> (carry, packed (S, K, E, W)). A ``lax.map`` over the seeds of the very function a single seed
    runs, not a ``vmap``: batching the seeds into the env step's vmap changes XLA's code for SMAX's
    arithmetic (positions then differ from a lone seed's in the last bit after a few steps), while the
    mapped body is compiled exactly as for one seed, so every seed's trajectory is bit-identical to
    training it alone (tests/test_group.py).
    """
    key = (fns.jitted_step, n_actions, episode_limit, chunk, agent_id, last_action)
    if key not in _GROUP_ROLLOUTS:
        import jax  # noqa: PLC0415

        one = make_rollout(fns, n_actions, episode_limit, chunk, agent_id, last_action, jit=False)

        def group(params: Params, carry: Carry, epsilon: Any, n_active: Any) -> tuple[Carry, Any]:
            return jax.lax.map(lambda x: one(x[0], x[1], x[2], n_active), (params, carry, epsilon))

        _GROUP_ROLLOUTS[key] = jax.jit(group)
    return _GROUP_ROLLOUTS[key]


def compile_count() -> int:
    """Compiled variants of every group rollout (tests: 1 per seed count and env)."""
    return sum(int(f._cache_size()) for f in _GROUP_ROLLOUTS.values())
