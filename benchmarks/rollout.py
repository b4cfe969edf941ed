"""Collection speed: raw vectorised SMAX vs the trainer's runner, side by side in one run.

Three numbers, all env-steps/s (n_envs × vector steps), median of ``--repeats`` after warm-up:
* raw (in JAX)   — the jitted SMAX step alone, random valid actions sampled inside a ``lax.scan``
                   (no host round-trip at all: the ceiling);
* raw (host)     — ``SmaxEnv.step`` in a Python loop with random valid actions from numpy
                   (what any torch trainer pays for the env);
* collection     — decomp's ``Runner.collect``: GRU agents (QMIX preset) acting ε-greedily with
                   action masks, auto-reset bookkeeping and whole episodes written to the replay.

    python benchmarks/rollout.py [--map 3m] [--n-envs 128] [--steps 200] [--repeats 5]
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

from decomp.buffer import ReplayBuffer  # noqa: E402
from decomp.build import build_learner  # noqa: E402
from decomp.compose import compose_config  # noqa: E402
from decomp.envs.smax import SmaxEnv  # noqa: E402
from decomp.runner import Runner  # noqa: E402


def collection_env_steps_per_sec(map_name: str, n_envs: int, steps: int, repeats: int) -> list[float]:
    cfg = compose_config(["env=smac", "env.backend=smax", f"env.map_name={map_name}", "mixer=qmix"])
    env = SmaxEnv(map_name, n_envs, seed=0)
    learner = build_learner(cfg, env.info)
    buffer = ReplayBuffer(env.info, capacity=5000)
    runner = Runner(env, learner.agent, cfg.agent_id, cfg.last_action, seed=0)
    runner.collect(steps, 0.5, buffer)  # warm-up (compile, first allocations)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.collect(steps, 0.5, buffer)
        rates.append(n_envs * steps / (time.perf_counter() - t0))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--map", default="3m")
    ap.add_argument("--n-envs", type=int, default=128)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = {
        "raw (in JAX)": raw_env_steps_per_sec(args.map, args.n_envs, args.steps, args.repeats),
        "raw (host loop)": protocol_env_steps_per_sec(args.map, args.n_envs, args.steps, args.repeats),
        "collection": collection_env_steps_per_sec(args.map, args.n_envs, args.steps, args.repeats),
    }
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"SMAX {args.map}, {args.n_envs} envs, {args.steps} vector steps per repeat, median of {args.repeats}")
    for k, v in rows.items():
        print(f"{k:16s} {med[k]:10,.0f} env-steps/s   (min {min(v):,.0f}, max {max(v):,.0f})")
    print(f"collection / raw (in JAX)   = {med['collection'] / med['raw (in JAX)']:.2f}")
    print(f"collection / raw (host loop) = {med['collection'] / med['raw (host loop)']:.2f}")


if __name__ == "__main__":
    main()
