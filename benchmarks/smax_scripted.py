"""Scripted reference policies on a SMAX map: how many battles simple hand-written rules win.

    python benchmarks/smax_scripted.py [--map 3m] [--episodes 256]

Why: the SMAX-learning study asks whether 95 % on 3m is within reach; a learned policy should beat
what a few lines of rules achieve. Both rules read the world state (positions, health), which the
agents do not see, so they are references, not baselines of the same information:

* ``nearest``: every marine attacks its nearest living enemy, else walks towards it;
* ``focus``: every marine attacks the weakest enemy in range, else walks towards the weakest alive;
* ``retreat``: ``focus``, but a marine below ``--retreat-below`` of full health steps away from its
  nearest enemy while another ally is alive (SMAX's heuristic enemies keep shooting their target
  until it leaves their range, then switch to the closest: pulling the damaged unit back spreads
  their fire);
* ``stutter``: ``retreat``, but the damaged marine steps back only while its weapon cannot fire
  during the whole coming step (cooldown left ≥ one env step, SMAX's 8 × 1/16 s), so pulling back
  costs it no shot;
* ``hold``: ``stutter``, but a marine with no enemy in range stops instead of walking up, waiting
  for the heuristic enemies to come to it.
"""

from __future__ import annotations

import argparse

import numpy as np

from decomp.envs.smax import SmaxEnv
from decomp.envs.smax import _OWN_FEATS_PER_UNIT as U

MOVE_N, MOVE_E, MOVE_S, MOVE_W, STOP, ATTACK0 = 0, 1, 2, 3, 4, 5  # SMAX's action layout (decomp/envs/smax.py)


RULES = ("nearest", "focus", "retreat", "stutter", "hold")
FOCUS_RULES = RULES[1:]  # focus fire on the weakest enemy in range
PULL_BACK_RULES = RULES[2:]  # ... and pull a damaged marine back (stutter, hold: only while it cannot fire)
STEP_SECONDS = 8 / 16  # SMAX: world_steps_per_env_step × time_per_step


def away(delta: np.ndarray) -> int:
    """The move action pointing away from ``delta`` (the vector from a unit to its threat)."""
    dx, dy = delta
    return (MOVE_S if dy > 0 else MOVE_N) if abs(dy) > abs(dx) else (MOVE_W if dx > 0 else MOVE_E)


def choose(rule: str, state: np.ndarray, avail: np.ndarray, n_allies: int, retreat_below: float = 0.3) -> np.ndarray:
    """state (E, S), avail (E, N, A) -> actions (E, N) for one step of every env."""
    e = state.shape[0]
    units = state[:, : (state.shape[1] // (U + 2)) * U].reshape(e, -1, U)  # (E, units, U)
    health, pos, cooldown = units[..., 0], units[..., 1:3], units[..., 3]  # (E, units), (E, units, 2), (E, units)
    acts = np.empty(avail.shape[:2], dtype=np.int64)
    for k in range(e):
        enemies = np.flatnonzero(health[k, n_allies:] > 0)
        for i in range(n_allies):
            av = avail[k, i]
            if health[k, i] <= 0 or enemies.size == 0:
                acts[k, i] = int(np.argmax(av))  # a dead unit's only action
                continue
            alive_allies = int((health[k, :n_allies] > 0).sum())
            pull_back = rule in PULL_BACK_RULES and (rule == "retreat" or cooldown[k, i] >= STEP_SECONDS)
            if pull_back and health[k, i] < retreat_below and alive_allies > 1:
                dists = np.linalg.norm(pos[k, n_allies + enemies] - pos[k, i], axis=-1)
                move = away(pos[k, n_allies + enemies[np.argmin(dists)]] - pos[k, i])
                if av[move]:
                    acts[k, i] = move
                    continue
            if rule in FOCUS_RULES:
                in_range = [j for j in enemies if av[ATTACK0 + j]]
                if in_range:
                    acts[k, i] = ATTACK0 + min(in_range, key=lambda j: health[k, n_allies + j])
                    continue
                if rule == "hold" and av[STOP]:
                    acts[k, i] = STOP
                    continue
                target = enemies[np.argmin(health[k, n_allies + enemies])]
            else:
                target = enemies[np.argmin(np.linalg.norm(pos[k, n_allies + enemies] - pos[k, i], axis=-1))]
                if av[ATTACK0 + target]:
                    acts[k, i] = ATTACK0 + target
                    continue
            dx, dy = pos[k, n_allies + target] - pos[k, i]
            move = (MOVE_N if dy > 0 else MOVE_S) if abs(dy) > abs(dx) else (MOVE_E if dx > 0 else MOVE_W)
            acts[k, i] = move if av[move] else int(np.argmax(av))
    return acts


def win_rate(env: SmaxEnv, rule: str, episodes: int, seed: int, retreat_below: float = 0.3) -> float:
    ob, wins = env.reset(seed=seed), []
    while len(wins) < episodes:
        res = env.step(choose(rule, ob.state, ob.avail, env.n_allies, retreat_below))
        wins += res.won[res.done].tolist()
        ob = res.restart
    return float(np.mean(wins[:episodes]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--map", default="3m")
    p.add_argument("--episodes", type=int, default=256)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--rules", default=",".join(RULES), help=f"comma-separated subset of {', '.join(RULES)}")
    p.add_argument("--retreat-below", type=float, default=0.3, help="retreat: health fraction below which a unit pulls back")
    args = p.parse_args()
    rules = args.rules.split(",")
    if bad := sorted(set(rules) - set(RULES)):
        p.error(f"unknown rule(s) {', '.join(bad)}; allowed: {', '.join(RULES)}")
    env = SmaxEnv(args.map, 32, seed=0)
    for rule in rules:
        rate = win_rate(env, rule, args.episodes, args.seed, args.retreat_below)
        extra = f" (retreat below {args.retreat_below:.2f} health)" if rule in PULL_BACK_RULES else ""
        print(f"{args.map} {rule}{extra}: greedy win rate {rate:.3f} over {args.episodes} battles")


if __name__ == "__main__":
    main()
