"""SMAClite's versions of the SMAX+ maps, played by scripted allies: the reference side of docs/smax_plus.md.

SMAClite (uoe-agents/smaclite; Michalski, Christianos and Albrecht 2023) models the four unit types SMAX
lacks and ships 2s_vs_1sc, bane_vs_bane, 2c_vs_64zg and MMM2. It is not on PyPI, so this script runs a
checkout of it in its own environment (it needs numpy, gymnasium, scikit-learn and rtree; pygame only to
render) and imports nothing from decomp::

    git clone https://github.com/uoe-agents/smaclite /tmp/smaclite
    python -m venv /tmp/slvenv && /tmp/slvenv/bin/pip install numpy gymnasium scikit-learn rtree
    /tmp/slvenv/bin/python benchmarks/smaclite_compare.py --smaclite-src /tmp/smaclite --episodes 32

The allies are played (a) uniformly at random over their available actions and (b) by a script with
the rule SMAX+'s heuristic follows (decomp/envs/smax_plus/heuristic.py): attack the closest enemy in
range, else walk towards the closest enemy; a medivac heals the most damaged ally in reach, else walks
towards it; a baneling attacks (detonates on) the closest enemy in range, else runs at it. The enemies
are SMAClite's own AI (attack-move towards the allies' start). Printed: win rate, mean episode length
(env steps of 8 game frames), the enemies' health removed (as a share), and seconds per env step.

``--targets own-range`` plays SMAClite under SMAX's targeting rule instead of SMAC's: an attack action is
available only for a target inside the unit's own attack range, where SMAC (and SMAClite) offer every
enemy within 6 and the attack command walks the unit up to it. A zergling (melee) then has to be next
to an enemy before it can choose to attack it, as in SMAX and SMAX+ — the rule that separates the two
engines' random players on bane_vs_bane (docs/smax_plus.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

MAPS = ("2s_vs_1sc", "bane_vs_bane", "2c_vs_64zg", "MMM2")
MOVES = {2: (0.0, 1.0), 3: (0.0, -1.0), 4: (1.0, 0.0), 5: (-1.0, 0.0)}  # SMAClite's Direction: N, S, E, W
FIRST_TARGET = 6  # actions 6 + j target enemy j (a medivac's: ally j)


def _toward(avail: np.ndarray, src: np.ndarray, dst: np.ndarray) -> int:
    """The available move action best aligned with dst - src (stop when none is)."""
    d = dst - src
    scores = {a: d[0] * dx + d[1] * dy for a, (dx, dy) in MOVES.items() if avail[a]}
    if scores:
        return max(scores, key=scores.__getitem__)
    return 1 if avail[1] else 0


def scripted_actions(env) -> list[int]:  # noqa: ANN001 (SMAClite's env)
    """One action per agent by the rule in the module docstring."""
    avail = np.asarray(env.get_avail_actions())
    agents, enemies = env.agents, env.enemies
    actions = []
    for i in range(env.n_agents):
        if i not in agents:
            actions.append(0)
            continue
        me, a = agents[i], avail[i]
        healer = me.combat_type.name == "HEALING"
        pool = agents if healer else enemies
        candidates = {j: u for j, u in pool.items() if not (healer and (j == i or u.hp >= u.max_hp))}
        if healer:
            key = lambda j: candidates[j].hp / candidates[j].max_hp  # noqa: E731
        else:
            key = lambda j: float(np.linalg.norm(candidates[j].pos - me.pos))  # noqa: E731
        in_range = [j for j in candidates if FIRST_TARGET + j < len(a) and a[FIRST_TARGET + j]]
        if in_range:
            actions.append(FIRST_TARGET + min(in_range, key=key))
        elif candidates:
            actions.append(_toward(a, me.pos, candidates[min(candidates, key=key)].pos))
        else:
            actions.append(1 if a[1] else 0)
    return actions


def random_actions(env, rng: np.random.Generator) -> list[int]:  # noqa: ANN001
    avail = np.asarray(env.get_avail_actions())
    return [int(rng.choice(np.flatnonzero(row))) for row in avail]


def own_range_targets(env) -> None:  # noqa: ANN001 (SMAClite's env)
    """Make SMAClite offer an attack (a heal) only on a target inside the unit's own attack range (SMAX's rule)."""
    def can_target(unit, target, distance=None) -> int:  # noqa: ANN001, ARG001 (SMAClite's private hook)
        return int(target.hp > 0 and unit.hp > 0 and unit.has_within_attack_range(target))

    env._SMACliteEnv__can_target = can_target  # the name-mangled method get_avail_actions calls


def play(map_name: str, player: str, episodes: int, seed: int, limit: int, targets: str = "smac") -> dict[str, float]:
    import gymnasium as gym

    env = gym.make(f"smaclite/{map_name}-v0", use_cpp_rvo2=False).unwrapped
    if targets == "own-range":
        own_range_targets(env)
    rng = np.random.default_rng(seed)
    wins, lengths, removed, seconds, steps = 0, [], [], 0.0, 0
    for ep in range(episodes):
        env.reset(seed=seed + ep)
        start = sum(u.hp + u.shield for u in env.enemies.values())
        done, t = False, 0
        while not done and t < limit:
            acts = scripted_actions(env) if player == "scripted" else random_actions(env, rng)
            tic = time.perf_counter()
            _, _, done, _, info = env.step(acts)
            seconds += time.perf_counter() - tic
            t += 1
        steps += t
        wins += bool(info.get("battle_won", len(env.enemies) == 0))
        lengths.append(t)
        removed.append(1 - sum(u.hp + u.shield for u in env.enemies.values()) / start)
    return {"win_rate": wins / episodes, "length": float(np.mean(lengths)), "removed": float(np.mean(removed)),
            "s_per_step": seconds / max(steps, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smaclite-src", required=True, help="a checkout of uoe-agents/smaclite")
    ap.add_argument("--maps", nargs="+", default=list(MAPS), choices=MAPS)
    ap.add_argument("--players", nargs="+", default=["random", "scripted"], choices=["random", "scripted"])
    ap.add_argument("--episodes", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=100, help="env steps per episode (SMAX+'s limit: 100)")
    ap.add_argument("--targets", choices=["smac", "own-range"], default="smac",
                    help="which targets an attack action may name: SMAC's (any enemy within 6; the unit walks up "
                         "to it) or SMAX's (only those inside the unit's own attack range)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.smaclite_src).resolve()))
    import smaclite  # noqa: F401  (registers smaclite/<map>-v0)

    print("| map | allies | win rate | mean length | enemy health removed | s per env step |")
    print("|---|---|---|---|---|---|")
    for map_name in args.maps:
        for player in args.players:
            r = play(map_name, player, args.episodes, args.seed, args.limit, args.targets)
            print(f"| `{map_name}` | {player} | {r['win_rate']:.3f} | {r['length']:.1f} | {r['removed']:.2f} | "
                  f"{r['s_per_step']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
