"""The SMAX learning study of docs/benchmarks.md ("Learning on SMAX"): run it, resume it, report it.

    python benchmarks/smax_learning.py run [--sweep results/smac_table] [--jobs 2] [--only 3m,2s3z]
    python benchmarks/smax_learning.py report [--sweep results/smac_table] [--out docs/img]

The study's jobs are a subset of the paper-table sweep (README, "Reproduce the paper's table"), so
``run`` launches them through the same Hydra sweep (``python -m decomp.train -m … hydra/launcher=joblib``)
into the same folder: finished runs are skipped, killed ones resume, and a run trained for the table
counts for the study too. ``report`` reads the sweep back with decomp.analysis.sweep_runs and prints
every seed's numbers and writes one learning-curve figure per map (mean and range over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decomp.analysis.sweep_runs import RunRecord, eval_curve, load_sweep  # noqa: E402

# (map, methods, seeds, t_max): the budgets the SMAX-learning issue names
STUDY: list[tuple[str, tuple[str, ...], tuple[int, ...], int]] = [
    ("3m", ("qmix",), (0, 1, 2), 300_000),  # the default command (t_max of the smac preset)
    ("2s3z", ("qmix",), (0, 1, 2), 1_000_000),
    ("2s3z", ("vdn", "qatten"), (0,), 1_000_000),
    ("5m_vs_6m", ("qmix", "qatten"), (0,), 1_000_000),
]


def sweep_commands(sweep: Path, jobs: int, only: set[str] | None) -> list[list[str]]:
    """One ``decomp.train -m`` launch per study row (the table sweep's own command form)."""
    return [[sys.executable, "-m", "decomp.train", "-m", "env=smac", f"map={m}", f"t_max={t}",
             f"method={','.join(methods)}", f"seed={','.join(map(str, seeds))}", "hydra/launcher=joblib",
             f"hydra.launcher.n_jobs={jobs}", f"hydra.sweep.dir={sweep}"]
            for m, methods, seeds, t in STUDY if only is None or m in only]


def in_study(run: RunRecord) -> bool:
    """A run of a study row's map, method and budget; every seed counts (the table sweep trains more)."""
    return any(run.map_name == m and run.method in methods and run.t_max == t for m, methods, _, t in STUDY)


def cmd_run(args: argparse.Namespace) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for cmd in sweep_commands(Path(args.sweep).resolve(), args.jobs, set(args.only.split(",")) if args.only else None):
        print("$", " ".join(cmd[1:]), flush=True)
        code = subprocess.call(cmd, cwd=ROOT, env=env)
        if code:
            return code
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [r for r in load_sweep(Path(args.sweep), env="smac").runs if in_study(r)]
    rows = ["| map | method | seed | steps | final win rate (128 ep.) | final return | best-weights win rate (128 ep.) | "
            "first eval ≥ 80 % (32 ep., steps) | random return (ε = 1) |", "|---|---|---|---|---|---|---|---|---|"]
    first: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_map: dict[str, dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    random_return: dict[Path, float] = {}  # run folder -> the ε = 1 policy's return measured at its start
    for run in runs:
        metrics = run.folder / "metrics.csv"
        first80 = next((s for s, v in run.curve if v >= 0.8), None)
        first[(run.map_name, run.method)].append(float("inf") if first80 is None else first80)
        rand = random_return[run.folder] = (eval_curve(metrics, "eval/random_return") or ((0, float("nan")),))[0][1]
        by_map[run.map_name][run.method].append(run)
        if run.finished:
            s = json.loads((run.folder / "summary.json").read_text())
            rows.append(f"| {run.map_name} | {run.method} | {run.seed} | {s['env_steps']:,} | {s['eval_win_rate']:.3f} | "
                        f"{s['eval_return']:.2f} | {s['best_policy_win_rate']:.3f} | {first80 or '—'} | {rand:.2f} |")
        else:
            last = run.curve[-1] if run.curve else (0, float("nan"))
            rows.append(f"| {run.map_name} | {run.method} | {run.seed} | {last[0]:,} of {run.t_max:,} (running) | "
                        f"{last[1]:.3f} (32 ep.) | — | — | {first80 or '—'} | {rand:.2f} |")
    print("\n".join(rows))
    for (map_name, mixer), steps in first.items():
        med = float(np.median(steps))
        print(f"{map_name} {mixer}: median env steps to the first evaluation >= 80 % over {len(steps)} seed(s): "
              f"{'not reached' if med == float('inf') else f'{med:,.0f}'}")
    for map_name, by_mixer in by_map.items():
        # win rate and greedy return side by side: on hard maps the win rate stays near 0 while the
        # return (damage dealt) shows whether anything was learned, against the ε = 1 policy's
        fig, (ax, ax_ret) = plt.subplots(1, 2, figsize=(11, 3.6))
        randoms = []
        for mixer, group in by_mixer.items():
            done = sum(r.finished for r in group)
            note = "" if done == len(group) else f", {len(group) - done} still running"
            label = f"{mixer} ({len(group)} seed{'s' if len(group) > 1 else ''}{note})"
            returns = [eval_curve(r.folder / "metrics.csv", "eval/return") for r in group]
            randoms += [random_return[r.folder] for r in group if not np.isnan(random_return[r.folder])]
            for axis, series in ((ax, [r.curve for r in group]), (ax_ret, returns)):
                grid = sorted({s for curve in series for s, _ in curve})
                vals = np.array([[dict(c).get(s, np.nan) for s in grid] for c in series])  # (seeds, evals)
                line, = axis.plot(grid, np.nanmean(vals, axis=0), label=label)
                if len(series) > 1:
                    axis.fill_between(grid, np.nanmin(vals, axis=0), np.nanmax(vals, axis=0), color=line.get_color(),
                                      alpha=0.2)
        if randoms:
            ax_ret.axhline(float(np.mean(randoms)), color="grey", ls="--", label="ε = 1 policy")
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
    r.add_argument("--sweep", default="results/smac_table", help="the Hydra sweep folder (shared with the table)")
    r.add_argument("--jobs", type=int, default=2, help="parallel training processes (joblib launcher)")
    r.add_argument("--only", default="", help="comma-separated maps")
    q = sub.add_parser("report")
    q.add_argument("--sweep", default="results/smac_table")
    q.add_argument("--out", default="docs/img")
    args = p.parse_args(argv)
    return cmd_run(args) if args.cmd == "run" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
