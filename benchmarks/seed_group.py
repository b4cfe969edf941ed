"""Wall time of S seeds in one process (``seeds=[...]``) against one seed, side by side.

    python benchmarks/seed_group.py [--map 3m] [--seeds 5] [--t-max 20000] [--repeats 3] [--threads 1]

Why: the speed issue asks for S seeds in one process in ≤ 2× one seed's wall time. Each repeat
trains, in this one process and taking turns (order flipped every repeat), one seed alone and a
:class:`~decomp.training.group.SeedGroup` of S seeds, both from scratch with the map's smac preset
(``t_max`` shortened; ε then stays high, which does not change the cost of an update), in memory.
The first trainer pays JAX's compilation and is not timed. Also printed: the share of the group's
time spent collecting (all seeds in one jitted call per chunk) — the only part a group shares.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from decomp.config.compose import compose_config
from decomp.training.group import SeedGroup
from decomp.training.trainer import Trainer


def config(map_name: str, seed: int, t_max: int, threads: int) -> list[str]:
    return ["env=smac", "env.backend=smax", f"map={map_name}", "method=qmix", f"seed={seed}",
            f"t_max={t_max}", f"threads={threads}", "progress=false", f"eval_interval={t_max}"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--map", default="3m")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--t-max", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    Trainer(compose_config(config(args.map, 99, 1600, args.threads))).run()  # compile the env and rollout
    SeedGroup([Trainer(compose_config(config(args.map, 90 + s, 1600, args.threads))) for s in range(2)]).run(False)
    solo_s: list[float] = []
    group_s: list[float] = []
    collect_share: list[float] = []
    for r in range(args.repeats):
        for which in ("solo", "group") if r % 2 == 0 else ("group", "solo"):
            start = time.perf_counter()
            if which == "solo":
                Trainer(compose_config(config(args.map, 0, args.t_max, args.threads))).run()
                solo_s.append(time.perf_counter() - start)
            else:
                members = [Trainer(compose_config(config(args.map, s, args.t_max, args.threads)))
                           for s in range(args.seeds)]
                group = SeedGroup(members)
                group.run(show_bar=False)
                group_s.append(time.perf_counter() - start)
                collect_share.append(group.collect_seconds / group_s[-1])
            print(f"repeat {r}: {which} {(solo_s if which == 'solo' else group_s)[-1]:.1f} s", flush=True)
    solo, grp = statistics.median(solo_s), statistics.median(group_s)
    print(f"{args.map}, {args.t_max:,} env steps per seed, threads={args.threads}, median of {args.repeats}: one seed "
          f"{solo:.1f} s, {args.seeds} seeds in one process {grp:.1f} s; ratio {grp / solo:.2f} "
          f"(target <= 2; {args.seeds} seeds one after another would be {args.seeds:.0f}); collection "
          f"{100 * statistics.median(collect_share):.0f} % of the group's time")


if __name__ == "__main__":
    main()
