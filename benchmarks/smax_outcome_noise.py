"""Same start, different luck: how much of a saved SMAX policy's win rate does chance inside a battle decide?

    python benchmarks/smax_outcome_noise.py RUN_FOLDER [--weights final|best] [--starts 128] [--repeats 32]

Why: on SMAX 3m every value method plateaus at ≈ 0.85 greedy wins (docs/benchmarks.md, "The learning
study"). A greedy policy is deterministic, but a SMAX battle is not: each shot's weapon cooldown is
drawn at random (jaxmarl's ``cooldown_deviation``) and the heuristic enemies pick random targets to
walk to. This plays each of ``--starts`` start states ``--repeats`` times with the same greedy policy,
only the battle's random key differing, and splits the outcome variance: a start won in some repeats
and lost in others was decided by luck, not by where the units began.

The policy is rebuilt with :func:`decomp.training.saved_eval.saved_policy` (the ``evaluate`` CLI's
path) and acts through its own :class:`~decomp.rollout.policy.Policy`; the start is copied into every
env of the batch before the first step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from decomp.envs.base import Observation
from decomp.envs.smax import SmaxEnv, SmaxSnapshot
from decomp.rollout.policy import Policy
from decomp.training.saved_eval import WEIGHTS, locate, saved_policy

START_SEED_BASE = 5_000  # start states: env seeds START_SEED_BASE + m, away from training and evaluation seeds


def copy_start(env: SmaxEnv, ob: Observation, row: int) -> Observation:
    """Put env ``row``'s state and observation into every env of the batch; returns the copied observation."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    snap = env.snapshot()
    states = jax.tree.map(lambda x: jnp.broadcast_to(x[row : row + 1], x.shape).astype(x.dtype), snap.states)
    copied = Observation(*(np.broadcast_to(a[row : row + 1], a.shape).copy()
                           for a in (ob.obs, ob.state, ob.avail, ob.feats)))  # (E, ...) each
    env.restore(SmaxSnapshot(snap.key, states, copied.avail))
    return copied


def wins_from_one_start(env: SmaxEnv, policy: Policy, seed: int) -> np.ndarray:
    """(E,) bool: greedy battles from env seed ``seed``'s first start, each env with its own battle key."""
    ob = copy_start(env, env.reset(seed=seed), 0)
    n = ob.obs.shape[0]
    state = policy.initial_state(n, env.info.n_agents)
    active, won = np.ones(n, bool), np.zeros(n, bool)  # (E,), (E,)
    gen = torch.Generator()  # unused at ε = 0, but act() takes one
    while active.any():
        res = env.step(policy.act(ob, state, 0.0, gen).actions.numpy())
        ended = res.done & active
        won[ended] = res.won[ended]
        active &= ~res.done
        ob = res.restart  # envs that ended restart; they are no longer counted
    return won


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="a run folder with checkpoints/ (SMAX backend)")
    p.add_argument("--weights", choices=WEIGHTS, default="final")
    p.add_argument("--starts", type=int, default=128)
    p.add_argument("--repeats", type=int, default=32, help="battles per start (the env batch size)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    path, weights = locate(args.run, None, args.weights)
    with saved_policy(path, weights, args.repeats, START_SEED_BASE, args.threads) as (trainer, step):
        env = trainer.env
        if not isinstance(env, SmaxEnv):
            p.error(f"{args.run} was not trained on SMAX ({trainer.info.name}); the start copy needs SMAX states")
        rates = np.array([wins_from_one_start(env, trainer.policy, START_SEED_BASE + m).mean()
                          for m in range(args.starts)])  # (starts,)
    mean = rates.mean()
    within = float(np.mean(rates * (1 - rates)))  # E[Var(win | start)]
    print(f"{trainer.info.name} {trainer.cfg.method.name}, {weights} weights (step {step:,}): "
          f"{args.starts} starts × {args.repeats} battles")
    print("per-start win rates, sorted:", " ".join(f"{r:.2f}" for r in np.sort(rates)))
    print(f"win rate {mean:.3f}; starts always won {np.mean(rates == 1):.2f}, never won {np.mean(rates == 0):.2f}, "
          f"won and lost {np.mean((rates > 0) & (rates < 1)):.2f}")
    print(f"outcome variance {mean * (1 - mean):.3f}, of it within starts (luck) {within:.3f} "
          f"({within / max(mean * (1 - mean), 1e-12):.0%}); SMAX step compiled {env.compile_count()} time(s)")


if __name__ == "__main__":
    main()
