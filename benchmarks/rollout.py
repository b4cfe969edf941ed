"""Collection speed: raw vectorised SMAX vs the trainer's runner, side by side in one run.

Four numbers, all env-steps/s (n_envs × vector steps), median of ``--repeats`` after warm-up (the
two collection rows alternate repeat by repeat, so outside load hits both alike):
* raw (in JAX)        — the jitted SMAX step alone, random valid actions sampled inside a
                        ``lax.scan`` (no host round-trip at all: the ceiling);
* raw (host loop)     — ``SmaxEnv.step`` in a Python loop with random valid actions from numpy
                        (what any torch trainer pays for the env);
* collection (torch)  — ``Runner.collect``: GRU agents (QMIX preset) acting ε-greedily in torch
                        with action masks, one host round-trip per vector step, auto-reset
                        bookkeeping and whole episodes written to the replay;
* collection (JAX)    — ``JaxPolicyRunner.collect``: the same agent exported to JAX, acting and
                        stepping ``--chunk`` vector steps per dispatch, then the same bookkeeping.

Each collection repeat is ``--steps`` vector steps split into ``collect(--per-collect)`` calls, as
the trainer does with ``steps_per_collect`` (the weights are re-exported on every call).

    python benchmarks/rollout.py [--map 3m] [--n-envs 128] [--steps 200] [--repeats 5] [--chunk 25] [--per-collect 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from raw_smax import protocol_env_steps_per_sec, raw_env_steps_per_sec  # noqa: E402

from decomp.core.buffer import ReplayBuffer  # noqa: E402
from decomp.core.build import build_learner  # noqa: E402
from decomp.config.compose import compose_config  # noqa: E402
from decomp.envs.smax import SmaxEnv  # noqa: E402
from decomp.rollout.policy import Policy  # noqa: E402
from decomp.rollout.runner import Runner  # noqa: E402
from decomp.rollout.runner_jax import DEFAULT_CHUNK, JaxPolicyRunner  # noqa: E402


def collectors(map_name: str, n_envs: int, chunk: int) -> dict[str, Runner]:
    """Both runners on their own env (same compiled step), same QMIX-preset agent weights."""
    cfg = compose_config(["env=smac", "env.backend=smax", f"map={map_name}", "method=qmix"])
    policy = Policy.of(build_learner(cfg, SmaxEnv(map_name, n_envs, seed=0).info))
    torch_env, jax_env = SmaxEnv(map_name, n_envs, seed=0), SmaxEnv(map_name, n_envs, seed=0)
    return {
        "collection (torch)": Runner(torch_env, policy, seed=0),
        "collection (JAX)": JaxPolicyRunner(jax_env, policy, seed=0, chunk=chunk),
    }


def timed_collect(runner: Runner, buffer: ReplayBuffer, steps: int, per_collect: int) -> float:
    """Env-steps/s of ``steps`` vector steps as ``collect(per_collect)`` calls (ε = 0.5)."""
    n_envs = runner.info.n_envs
    t0 = time.perf_counter()
    for _ in range(steps // per_collect):
        runner.collect(per_collect, 0.5, buffer)
    if steps % per_collect:
        runner.collect(steps % per_collect, 0.5, buffer)
    return n_envs * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="3m")
    ap.add_argument("--n-envs", type=int, default=128)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="JaxPolicyRunner: vector steps per dispatch")
    ap.add_argument("--per-collect", type=int, default=None,
                    help="vector steps per collect call, like the trainer's steps_per_collect (default: 2 x --chunk)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    per_collect = args.per_collect or 2 * args.chunk
    runners = collectors(args.map, args.n_envs, args.chunk)
    buffers = {k: ReplayBuffer(r.info, capacity=5000) for k, r in runners.items()}
    for k, r in runners.items():  # warm-up: compile, first allocations
        timed_collect(r, buffers[k], per_collect, per_collect)
    rows: dict[str, list[float]] = {
        "raw (in JAX)": raw_env_steps_per_sec(args.map, args.n_envs, args.steps, args.repeats),
        "raw (host loop)": protocol_env_steps_per_sec(args.map, args.n_envs, args.steps, args.repeats),
        **{k: [] for k in runners},
    }
    for _ in range(args.repeats):
        for k, r in runners.items():
            rows[k].append(timed_collect(r, buffers[k], args.steps, per_collect))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"SMAX {args.map}, {args.n_envs} envs, {args.steps} vector steps per repeat, median of {args.repeats}; "
          f"JAX chunk K={args.chunk}, collect({per_collect}) calls")
    for k, v in rows.items():
        print(f"{k:20s} {med[k]:10,.0f} env-steps/s   (min {min(v):,.0f}, max {max(v):,.0f})")
    for k in runners:
        print(f"{k:20s} / raw (in JAX) = {med[k] / med['raw (in JAX)']:.2f}   "
              f"/ raw (host loop) = {med[k] / med['raw (host loop)']:.2f}")
    print(f"collection speed-up JAX / torch = {med['collection (JAX)'] / med['collection (torch)']:.2f}x")


if __name__ == "__main__":
    main()
