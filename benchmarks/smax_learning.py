"""The SMAX learning study of docs/benchmarks.md ("Learning on SMAX"): run it, resume it, report it.

    python benchmarks/smax_learning.py run [--root DIR] [--jobs 2] [--only 3m,2s3z]   # train (skips done runs, resumes killed ones)
    python benchmarks/smax_learning.py report [--root DIR] [--out docs/img]            # per-seed table + one curve per map

Each job is the trainer's own command, ``python -m decomp.train env=smac env.map_name=MAP mixer=M
seed=S threads=1 run_dir=ROOT run_name=MAP__M__S`` (``threads=1``: ``--jobs`` processes share the
cores; with more threads than cores each update is ~10x slower). A run folder with ``summary.json``
is finished and skipped; one with only ``checkpoints/latest.pt`` was killed and is resumed with
``resume=``; a session that ends mid-run loses at most ``save_interval`` steps.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (map, mixer, seeds, t_max): the budgets the SMAX-learning issue names
STUDY: list[tuple[str, str, tuple[int, ...], int]] = [
    ("3m", "qmix", (0, 1, 2), 300_000),  # the default command (t_max of the smac preset)
    ("2s3z", "qmix", (0, 1, 2), 1_000_000),
    ("2s3z", "vdn", (0,), 1_000_000),
    ("2s3z", "qatten", (0,), 1_000_000),
    ("5m_vs_6m", "qmix", (0,), 1_000_000),
    ("5m_vs_6m", "qatten", (0,), 1_000_000),
]


def jobs(only: set[str] | None) -> list[tuple[str, str, int, int]]:
    return [(m, mixer, s, t) for m, mixer, seeds, t in STUDY for s in seeds if only is None or m in only]


def run_one(root: Path, map_name: str, mixer: str, seed: int, t_max: int) -> str:
    name = f"{map_name}__{mixer}__{seed}"
    folder = root / name
    if (folder / "summary.json").exists():
        return f"{name}: finished, skipped"
    if (folder / "checkpoints" / "latest.pt").exists():
        args = [f"resume={folder}", f"t_max={t_max}", "threads=1", "progress=false"]
    else:
        if folder.exists():  # started but killed before its first checkpoint: nothing to keep
            folder.rename(folder.with_name(f"{name}.incomplete-{int(time.time())}"))
        args = ["env=smac", f"env.map_name={map_name}", f"mixer={mixer}", f"seed={seed}", f"t_max={t_max}",
                "threads=1", "progress=false", f"run_dir={root}", f"run_name={name}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(root / f"{name}.log", "a") as log:
        code = subprocess.call([sys.executable, "-m", "decomp.train", *args], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    return f"{name}: exit {code}"


def cmd_run(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    todo = jobs(set(args.only.split(",")) if args.only else None)
    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(lambda j: run_one(root, *j), todo):
            print(line, flush=True)
    return 0


def read_metrics(run: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with open(run / "metrics.csv") as fh:
        for row in csv.DictReader(fh):
            out[row["key"]].append((int(row["step"]), float(row["value"])))
    return out


def cmd_report(args: argparse.Namespace) -> int:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    root, out = Path(args.root), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = ["| map | method | seed | steps | final win rate (128 ep.) | final return | best-weights win rate (128 ep.) | "
            "first eval ≥ 80 % (32 ep., steps) | random return (ε = 1) |", "|---|---|---|---|---|---|---|---|---|"]
    first: dict[tuple[str, str], list[float]] = defaultdict(list)
    curves: dict[str, dict[str, list[list[tuple[int, float]]]]] = defaultdict(lambda: defaultdict(list))
    returns: dict[str, dict[str, list[list[tuple[int, float]]]]] = defaultdict(lambda: defaultdict(list))
    random_returns: dict[str, list[float]] = defaultdict(list)
    finished: dict[tuple[str, str], int] = defaultdict(int)
    for map_name, mixer, seed, t_max in jobs(None):
        run = root / f"{map_name}__{mixer}__{seed}"
        if not (run / "metrics.csv").exists():
            continue
        m = read_metrics(run)
        # periodic evaluations (32 episodes); the final 128-episode one is the last entry at t_max
        wins = m.get("eval/win_rate", [])
        curves[map_name][mixer].append(wins)
        returns[map_name][mixer].append(m.get("eval/return", []))
        first80 = next((s for s, v in wins if v >= 0.8), None)
        first[(map_name, mixer)].append(float("inf") if first80 is None else first80)
        rand = m.get("eval/random_return", [(0, float("nan"))])[0][1]
        random_returns[map_name].append(rand)
        if (run / "summary.json").exists():
            finished[(map_name, mixer)] += 1
            s = json.loads((run / "summary.json").read_text())
            rows.append(f"| {map_name} | {mixer} | {seed} | {s['env_steps']:,} | {s['eval_win_rate']:.3f} | "
                        f"{s['eval_return']:.2f} | {s['best_policy_win_rate']:.3f} | {first80 or '—'} | {rand:.2f} |")
        else:
            last = wins[-1] if wins else (0, float("nan"))
            rows.append(f"| {map_name} | {mixer} | {seed} | {last[0]:,} of {t_max:,} (running) | "
                        f"{last[1]:.3f} (32 ep.) | — | — | {first80 or '—'} | {rand:.2f} |")
    print("\n".join(rows))
    for (map_name, mixer), steps in first.items():
        med = float(np.median(steps))
        print(f"{map_name} {mixer}: median env steps to the first evaluation >= 80 % over {len(steps)} seed(s): "
              f"{'not reached' if med == float('inf') else f'{med:,.0f}'}")
    for map_name, by_mixer in curves.items():
        # win rate and greedy return side by side: on hard maps the win rate stays near 0 while the
        # return (damage dealt) shows whether anything was learned, against the ε = 1 policy's
        fig, (ax, ax_ret) = plt.subplots(1, 2, figsize=(11, 3.6))
        for mixer, runs in by_mixer.items():
            done = finished[(map_name, mixer)]
            note = "" if done == len(runs) else f", {len(runs) - done} still running"
            label = f"{mixer} ({len(runs)} seed{'s' if len(runs) > 1 else ''}{note})"
            for axis, series in ((ax, runs), (ax_ret, returns[map_name][mixer])):
                grid = sorted({s for r in series for s, _ in r})
                vals = np.array([[dict(r).get(s, np.nan) for s in grid] for r in series])  # (seeds, evals)
                line, = axis.plot(grid, np.nanmean(vals, axis=0), label=label)
                if len(series) > 1:
                    axis.fill_between(grid, np.nanmin(vals, axis=0), np.nanmax(vals, axis=0), color=line.get_color(),
                                      alpha=0.2)
        ax_ret.axhline(float(np.nanmean(random_returns[map_name])), color="grey", ls="--", label="ε = 1 policy")
        ax.set(xlabel="env steps", ylabel="greedy test win rate", title=f"SMAX {map_name}: mean and range over seeds",
               ylim=(-0.02, 1.02))
        ax_ret.set(xlabel="env steps", ylabel="greedy test return (×10 scale)", title="greedy return")
        for axis in (ax, ax_ret):
            axis.grid(alpha=0.3)
            axis.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(out / f"smax_learning_{map_name}.png", dpi=110)
        plt.close(fig)
        print(f"wrote {out / f'smax_learning_{map_name}.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--root", default="runs/smax_learning")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--only", default="", help="comma-separated maps")
    q = sub.add_parser("report")
    q.add_argument("--root", default="runs/smax_learning")
    q.add_argument("--out", default="docs/img")
    args = p.parse_args(argv)
    return cmd_run(args) if args.cmd == "run" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
