"""Win rates of the two reference players on the SMAX+ maps: uniform random (ε = 1) and the heuristic.

    python benchmarks/smax_plus_baselines.py [--maps MMM2 ...] [--episodes 128] [--seed 0]
    python benchmarks/smax_plus_baselines.py --layouts docs/img/smax_plus_layouts.png   # the maps' start layouts

Why: a learned policy on an SMAX+ map should be read against what acting at random and what the
scripted player (decomp/envs/smax_plus/heuristic.py, the enemies' own rules) achieve from the allies'
side. Episodes run inside one jitted scan per map and player (no auto-reset), scored as decomp scores
SMAX battles (decomp/envs/smax.py): an episode ends when a side is wiped out or at ``max_steps``, and it
is won when every enemy is dead and an ally is alive. Return = SMAX's native reward summed (≤ 2). The
other endings are counted too: lost (every ally dead, an enemy alive), drawn (both sides dead in the same
step) and timed out (both alive at ``max_steps``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from decomp.analysis.stats import wilson
from decomp.envs.jaxmarl_import import import_jaxmarl
from decomp.envs.smax_plus import PLUS_MAP_NAMES


def play(env: Any, player: str, episodes: int, seed: int) -> dict[str, float]:
    """``episodes`` battles of ``env`` (SmaxPlusHeuristicEnemy) with the allies played by ``player``."""
    import jax
    import jax.numpy as jnp
    from jaxmarl.environments.smax.heuristic_enemy import get_heuristic_policy_initial_state

    from decomp.envs.smax_plus.heuristic import plus_heuristic

    n, agents, limit = env.num_allies, env.agents, int(env.max_steps)
    heuristic = jax.vmap(plus_heuristic(env.engine, 0))  # over allies
    places = jnp.arange(n)

    def act(key: jax.Array, state: Any, obs: dict[str, jax.Array], brain: Any) -> tuple[jax.Array, Any]:
        if player == "random":
            avail = env.get_avail_actions(state)
            mask = jnp.stack([avail[a] for a in agents]) > 0  # (N, A)
            return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf)), brain
        obs_n = jnp.stack([obs[a] for a in agents])  # (N, obs)
        return heuristic(jax.random.split(key, n), brain, obs_n, places)

    def episode(key: jax.Array) -> tuple[jax.Array, ...]:
        key, k0 = jax.random.split(key)
        obs, state = env.reset(k0)
        brain = jax.tree.map(lambda *x: jnp.stack(x), *([get_heuristic_policy_initial_state()] * n))

        def step(carry: Any, _: Any) -> tuple[Any, None]:
            key, obs, state, brain, over, won, ret, length = carry
            key, k_act, k_env = jax.random.split(key, 3)
            actions, brain = act(k_act, state, obs, brain)
            obs, nstate, rew, dones, _ = env.step_env(k_env, state, {a: actions[i] for i, a in enumerate(agents)})
            alive = nstate.state.unit_alive
            end = dones["__all__"] | (nstate.state.step >= limit)
            live = ~over
            won = won | (live & end & ~jnp.any(alive[n:]) & jnp.any(alive[:n]))
            ret = ret + jnp.where(live, rew[agents[0]], 0.0)
            length = length + live.astype(jnp.int32)
            state = jax.tree.map(lambda a, b: jnp.where(over, a, b), state, nstate)  # frozen once over
            return (key, obs, state, brain, over | end, won, ret, length), None

        init = (key, obs, state, brain, jnp.bool_(False), jnp.bool_(False), jnp.float32(0.0), jnp.int32(0))
        (_, _, state, _, _, won, ret, length), _ = jax.lax.scan(step, init, None, length=limit)
        alive = state.state.unit_alive
        return won, ret, length, jnp.any(alive[:n]), jnp.any(alive[n:])

    run = jax.jit(jax.vmap(episode))
    won, ret, length, allies, enemies = jax.device_get(run(jax.random.split(jax.random.PRNGKey(seed), episodes)))
    return {"win_rate": float(np.mean(won)), "return": float(np.mean(ret)), "length": float(np.mean(length)),
            "lost": float(np.mean(~allies & enemies)), "drawn": float(np.mean(~allies & ~enemies)),
            "timed_out": float(np.mean(allies & enemies))}


def draw_layouts(maps: list[str], out: Path, seed: int = 0) -> None:
    """One panel per map: a start layout (one reset) with each unit's type letter, and the map's terrain."""
    import jax
    import matplotlib.pyplot as plt

    from decomp.analysis.battle_plot import ALLY, ENEMY, draw_ground
    from decomp.envs.smax_plus import make_env
    from decomp.envs.smax_plus.terrain import map_terrain

    fig, axes = plt.subplots(1, len(maps), figsize=(3.4 * len(maps), 3.6), squeeze=False)
    for ax, map_name in zip(axes[0], maps):
        env = make_env(map_name)
        _, state = env.reset(jax.random.PRNGKey(seed))
        pos = np.asarray(state.state.unit_positions)  # (U, 2)
        letters = [env.engine.table.columns["unit_type_shorthands"][t] for t in np.asarray(state.state.unit_types)]
        ground = map_terrain(map_name)
        if ground is not None:
            draw_ground(ax, ground)
        n = env.num_allies
        for side, sl, color in (("allies", slice(0, n), ALLY), ("enemies", slice(n, None), ENEMY)):
            ax.scatter(pos[sl, 0], pos[sl, 1], s=60, c=color, alpha=0.35, label=side)
            for (x, y), letter in zip(pos[sl], letters[sl]):
                ax.text(x, y, letter, fontsize=6, ha="center", va="center")
        ax.set_xlim(0, 32)
        ax.set_ylim(0, 32)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_title(f"{map_name} (SMAX+)", fontsize=9)
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--maps", nargs="+", default=list(PLUS_MAP_NAMES), choices=PLUS_MAP_NAMES)
    p.add_argument("--players", nargs="+", default=["random", "heuristic"], choices=["random", "heuristic"])
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layouts", type=Path, metavar="PNG", help="draw the maps' start layouts to PNG instead")
    args = p.parse_args()
    import_jaxmarl()
    if args.layouts is not None:
        draw_layouts(args.maps, args.layouts, args.seed)
        return
    from decomp.envs.smax_plus import make_env

    print("| map | player | win rate | 95 % Wilson | lost / drawn / timed out | return | steps | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for map_name in args.maps:
        env = make_env(map_name)
        for player in args.players:
            start = time.time()
            r = play(env, player, args.episodes, args.seed)
            ci = wilson(int(round(r["win_rate"] * args.episodes)), args.episodes)
            ends = f"{r['lost']:.3f} / {r['drawn']:.3f} / {r['timed_out']:.3f}"
            print(f"| {map_name} | {player} | {r['win_rate']:.3f} | {ci.low:.2f}–{ci.high:.2f} | {ends} | "
                  f"{r['return']:.2f} | {r['length']:.1f} | {time.time() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
