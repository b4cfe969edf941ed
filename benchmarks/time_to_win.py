"""Wall-clock to a greedy win rate: presets side by side, one pinned core and one thread per run.

    python benchmarks/time_to_win.py run --map 2s3z --presets replay32,fast --seeds 0 1 2 --cores 0 1 \
        --out results/time_to_win [--minutes 16] [--t-max 1000000] [--method qmix]
    python benchmarks/time_to_win.py report --out results/time_to_win --map 2s3z [--fig docs/img/time_to_win_2s3z.png]

``run`` queues one ``python -m decomp.train`` per (preset, seed) and keeps one job on each listed core
(``taskset -c CORE``, ``threads=1``), so every run has a core of its own and the presets share the
machine's conditions. The clock starts when the process is launched (imports and JAX compilations
count: a user waits for them too) and is written to ``<run>/launch.json``; ``--minutes`` stops a run
after that much wall-clock (its curve up to then is what the report reads). ``report`` prints every
seed's minutes and env steps to the first 32-battle evaluation >= 50 % and >= 80 %, its final win rate,
the medians per preset and their ratio, and draws win rate against minutes (mean and range over seeds).

The presets are spelled out as overrides, so "replay32" keeps meaning the preset of commit 0e539a0
whatever decomp/conf/env/smac.yaml says today.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: decomp's own pause detection below

from decomp.analysis.sweep_runs import active_spans  # noqa: E402


PRESETS: dict[str, list[str]] = {
    # env/smac.yaml as of 0e539a0: each episode replayed ~32 times (batch 64, an update every 2 episodes)
    "replay32": ["regime=replay", "env.n_envs=32", "batch_size=64", "episodes_per_update=2", "buffer_size=5000",
                 "learner.lr=0.0005", "learner.target_update_interval=200"],
    # each episode replayed ~8 times: an update every 8 episodes, targets every 50 updates (400 episodes)
    "fast": ["regime=replay", "env.n_envs=32", "batch_size=64", "episodes_per_update=8", "buffer_size=5000",
             "learner.lr=0.0005", "learner.target_update_interval=50"],
    # ~16 times: an update every 4 episodes, targets every 100 updates (400 episodes)
    "replay16": ["regime=replay", "env.n_envs=32", "batch_size=64", "episodes_per_update=4", "buffer_size=5000",
                 "learner.lr=0.0005", "learner.target_update_interval=100"],
    # whatever decomp/conf/env/smac.yaml sets today
    "preset": [],
}
THRESHOLDS = (0.5, 0.8)


def run_name(map_name: str, preset: str, method: str, seed: int) -> str:
    return f"{map_name}__{preset}__{method}__{seed}"


def parse_preset(spec: str) -> tuple[str, list[str]]:
    """``name`` from PRESETS, or ``name:key=value;key=value`` for an ad-hoc one."""
    name, _, extra = spec.partition(":")
    if extra:
        return name, extra.split(";")
    if name not in PRESETS:
        raise SystemExit(f"unknown preset {name!r}; known: {', '.join(PRESETS)} (or name:key=value;key=value)")
    return name, PRESETS[name]


def cmd_run(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(name, extra, seed) for name, extra in map(parse_preset, args.presets.split(",")) for seed in args.seeds]
    free, running = list(args.cores), []  # (process, core, name, started)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    while jobs or running:
        while jobs and free:
            preset, extra, seed = jobs.pop(0)
            core, name = free.pop(0), run_name(args.map, preset, args.method, seed)
            cmd = ["taskset", "-c", str(core), sys.executable, "-m", "decomp.train", "env=smac",
                   f"map={args.map}", f"method={args.method}", f"seed={seed}", "threads=1", "progress=false",
                   f"run_dir={out}", f"run_name={name}", *([f"t_max={args.t_max}"] if args.t_max else []), *extra]
            started = time.time()
            log = (out / f"{name}.log").open("w")
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            print(f"[{time.strftime('%H:%M:%S')}] core {core}: {' '.join(cmd[3:])}", flush=True)
            running.append((proc, core, name, started, cmd))
        time.sleep(2)
        for job in list(running):
            proc, core, name, started, cmd = job
            over = args.minutes and time.time() - started > 60 * args.minutes
            if over and proc.poll() is None:
                proc.terminate()
                proc.wait()
            if proc.poll() is not None:
                (out / name).mkdir(exist_ok=True)
                (out / name / "launch.json").write_text(json.dumps(
                    {"launched": started, "ended": time.time(), "core": core, "command": cmd[3:],
                     "stopped_at_minutes": args.minutes if over else None, "returncode": proc.returncode}, indent=1))
                running.remove(job)
                free.append(core)
                print(f"[{time.strftime('%H:%M:%S')}] {name} ended ({'stopped at --minutes' if over else proc.returncode})",
                      flush=True)
    return 0


def paused_before(folder: Path) -> Callable[[float], float]:
    """Seconds a run spent killed before wall time t: the gaps between its metrics.csv's active spans
    (decomp.analysis.sweep_runs.active_spans). A run killed and resumed (``resume=``) is then timed by the
    minutes it trained, the steps it redid after its last checkpoint included."""
    spans = active_spans(folder / "metrics.csv")
    gaps = [(a_end, b_start) for (_, a_end), (b_start, _) in zip(spans, spans[1:])]
    return lambda t: sum(b - a for a, b in gaps if b <= t)


def timed_curve(folder: Path) -> list[tuple[float, int, float]]:
    """(minutes trained since launch, env step, greedy win rate) of every evaluation of a run, in one pass over
    metrics.csv (the last row wins where a step was logged twice, as in decomp.analysis.sweep_runs.eval_curve)."""
    launched = json.loads((folder / "launch.json").read_text())["launched"]
    paused = paused_before(folder)
    evals: dict[int, tuple[float, float]] = {}  # step -> (wall time, win rate)
    with (folder / "metrics.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["key"] == "eval/win_rate":
                evals[int(row["step"])] = (float(row["wall_time"]), float(row["value"]))
    return [((t - launched - paused(t)) / 60, s, w) for s, (t, w) in sorted(evals.items())]


def first_at(curve: list[tuple[float, int, float]], threshold: float) -> tuple[float, int] | None:
    return next(((m, s) for m, s, w in curve if w >= threshold), None)


def cmd_report(args: argparse.Namespace) -> int:
    runs: dict[str, dict[int, Path]] = {}
    for out in args.out:  # in the order given: the first folder with a (preset, seed) is the one reported
        for folder in sorted(Path(out).glob(f"{args.map}__*__{args.method}__*"), key=lambda f: f.name):
            if (folder / "launch.json").exists() and (folder / "metrics.csv").exists():
                _, preset, _, seed = folder.name.split("__")
                kept = runs.setdefault(preset, {}).setdefault(int(seed), folder)
                if kept != folder:
                    print(f"(left out {folder}: {kept} comes first)")
    if not runs:
        raise SystemExit(f"no finished runs of {args.map} {args.method} under {', '.join(args.out)}")
    medians: dict[str, dict[float, float]] = {}
    print(f"| preset | seed | minutes to ≥ 50 % (steps) | minutes to ≥ 80 % (steps) | env steps run | minutes run "
          f"| final win rate (128 ep.) |\n|---|---|---|---|---|---|---|")
    curves: dict[str, list[list[tuple[float, int, float]]]] = {}
    for preset, seeds in runs.items():
        per_threshold: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
        for seed, folder in sorted(seeds.items()):
            curve = timed_curve(folder)
            curves.setdefault(preset, []).append(curve)
            launch = json.loads((folder / "launch.json").read_text())
            cells = []
            for t in THRESHOLDS:
                hit = first_at(curve, t)
                # not reached: infinite for the median (the run's length is only a lower bound, which would flatter it)
                per_threshold[t].append(hit[0] if hit else math.inf)
                cells.append(f"{hit[0]:.1f} ({hit[1]:,})" if hit else "not reached")
            summary = folder / "summary.json"
            final = f"{json.loads(summary.read_text())['eval_win_rate']:.3f}" if summary.exists() else "— (stopped)"
            print(f"| {preset} | {seed} | {cells[0]} | {cells[1]} | {curve[-1][1]:,} | "
                  f"{(launch['ended'] - launch['launched'] - paused_before(folder)(launch['ended'])) / 60:.1f} | {final} |")
        medians[preset] = {t: statistics.median(v) for t, v in per_threshold.items()}
    print()
    def show(minutes: float) -> str:
        return f"{minutes:.1f}" if math.isfinite(minutes) else "not reached (by the median seed)"

    for preset, med in medians.items():
        print(f"{preset}: median minutes to ≥ 50 %: {show(med[0.5])}; to ≥ 80 %: {show(med[0.8])} "
              f"({len(runs[preset])} seeds)")
    if args.base in medians:  # the old preset: every other preset's median as a fraction of its median
        for other in (n for n in medians if n != args.base and math.isfinite(medians[n][0.8])):
            print(f"ratio {other} / {args.base} (median minutes to ≥ 80 %): "
                  f"{medians[other][0.8] / medians[args.base][0.8]:.2f}")
    if args.fig:
        plot(curves, Path(args.fig), f"SMAX {args.map}, {args.method}: mean of the last 5 greedy evaluations")
    return 0


def plot(curves: dict[str, list[list[tuple[float, int, float]]]], path: Path, title: str) -> None:
    """Mean and range over seeds of the win rate as a step function of minutes since launch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4))
    for preset, runs in curves.items():
        # each evaluation is 32 battles (±0.15 at p = 0.5): show the mean of the last 5 instead
        runs = [[(m, s, float(np.mean([w for _, _, w in c[max(0, i - 4): i + 1]]))) for i, (m, s, _) in enumerate(c)]
                for c in runs]
        end = min(c[-1][0] for c in runs)
        grid = np.linspace(0, end, 300)
        values = np.array([[next((w for m, _, w in reversed(c) if m <= g), 0.0) for g in grid] for c in runs])
        line, = ax.plot(grid, values.mean(0), label=f"{preset} (mean of {len(runs)} seeds)")
        ax.fill_between(grid, values.min(0), values.max(0), color=line.get_color(), alpha=0.2)
    ax.axhline(0.8, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="wall-clock minutes trained (a killed run: its pause left out; one core, threads=1)", ylabel="greedy win rate (32 battles)", ylim=(0, 1.02),
           title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--map", default="2s3z")
    r.add_argument("--method", default="qmix")
    r.add_argument("--presets", default="replay32,fast", help="comma-separated PRESETS names or name:k=v;k=v")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--cores", type=int, nargs="+", default=[0, 1])
    r.add_argument("--t-max", type=int, default=0, help="0: the map preset's budget")
    r.add_argument("--minutes", type=float, default=0.0, help="stop each run after this much wall-clock (0: never)")
    r.add_argument("--out", default="results/time_to_win")
    q = sub.add_parser("report")
    q.add_argument("--map", default="2s3z")
    q.add_argument("--method", default="qmix")
    q.add_argument("--out", nargs="+", default=["results/time_to_win"], help="run folders' parents (several: one figure; where two hold the same preset and seed, the first given wins)")
    q.add_argument("--fig", default="")
    q.add_argument("--base", default="replay32", help="the preset the others are compared with")
    args = p.parse_args(argv)
    return cmd_run(args) if args.cmd == "run" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
