"""Raw vectorised SMAX throughput: env-steps per second with random valid actions.

Two numbers, both counting env-steps = n_envs x steps and both after a warm-up run:
* ``raw_env_steps_per_sec``: the env alone. Actions are sampled IN JAX (uniform over available
  actions) inside one jitted ``lax.scan`` over ``steps`` batched steps (same step + auto-reset
  function SmaxEnv uses), so no host round-trip is timed. This is the ceiling for SMAX collection.
* ``protocol_env_steps_per_sec``: through ``SmaxEnv.step`` (numpy in/out, one device->host
  transfer per step, host-side action validation), actions sampled on the host with numpy. This is
  what the trainer's runner pays per step before any network forward pass.

Run: ``python benchmarks/raw_smax.py [map] [n_envs]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np

from decomp.envs.smax import SmaxEnv


def _timed(fn: Any, repeats: int, env_steps: int) -> list[float]:
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        rates.append(env_steps / (time.perf_counter() - t0))
    return rates


def raw_env_steps_per_sec(map_name: str = "3m", n_envs: int = 128, steps: int = 200, repeats: int = 5) -> list[float]:
    """Env-steps/s of the jitted, vmapped SMAX step alone (actions sampled in JAX), one per repeat."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    env = SmaxEnv(map_name, n_envs, seed=0, validate_actions=False)
    fns = env.fns
    key, states, packed = fns.reset(jax.random.PRNGKey(0))
    no_reset = jnp.zeros((n_envs,), dtype=bool)

    @jax.jit
    def run(key: jax.Array, states: Any, avail: jax.Array) -> tuple[Any, ...]:
        def body(carry: tuple[Any, ...], _: None) -> tuple[tuple[Any, ...], jax.Array]:
            key, states, avail = carry
            key, k_act = jax.random.split(key)
            actions = jax.random.categorical(k_act, jnp.where(avail, 0.0, -jnp.inf))  # (E, N)
            key, states, out = fns.jitted_step(key, states, actions, no_reset)
            return (key, states, out["restart"]["avail"]), out["done"].sum()

        (key, states, avail), dones = jax.lax.scan(body, (key, states, avail), None, length=steps)
        return key, states, avail, dones.sum()

    carry = [key, states, packed["avail"]]

    def once() -> None:
        *nxt, _ = run(*carry)
        jax.block_until_ready(nxt)
        carry[:] = nxt

    once()  # warm-up: compile
    return _timed(once, repeats, n_envs * steps)


def protocol_env_steps_per_sec(map_name: str = "3m", n_envs: int = 128, steps: int = 200, repeats: int = 5) -> list[float]:
    """Env-steps/s through ``SmaxEnv.step`` (numpy protocol, host-sampled actions), one per repeat."""
    env = SmaxEnv(map_name, n_envs, seed=0)
    rng = np.random.default_rng(0)
    obs = [env.reset()]

    def once() -> None:
        o = obs[0]
        for _ in range(steps):
            o = env.step((rng.random(o.avail.shape) * o.avail).argmax(-1)).restart
        obs[0] = o

    env.step((rng.random(obs[0].avail.shape) * obs[0].avail).argmax(-1))  # warm-up: compile
    obs[0] = env.reset()
    return _timed(once, repeats, n_envs * steps)


def main(argv: list[str]) -> None:
    map_name = argv[0] if argv else "3m"
    n_envs = int(argv[1]) if len(argv) > 1 else 128
    for name, fn in (("raw (JAX-side actions)", raw_env_steps_per_sec), ("SmaxEnv.step (numpy)", protocol_env_steps_per_sec)):
        rates = fn(map_name, n_envs)
        med = statistics.median(rates)
        print(
            f"SMAX {map_name} n_envs={n_envs} {name}: median {med:,.0f} env-steps/s "
            f"= {1e3 * n_envs / med:.2f} ms per batched step (repeats: {', '.join(f'{r:,.0f}' for r in rates)})",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
