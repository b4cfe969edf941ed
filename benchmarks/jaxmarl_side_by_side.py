"""JaxMARL's own SMAX baselines next to decomp, at equal wall-clock (the SMAX-learning issue's comparison).

JaxMARL's ``baselines/QLearning/{qmix_rnn,pqn_vdn_rnn}.py`` are not in PyPI's jaxmarl: point
``--jaxmarl-src`` at a checkout of the JaxMARL repository. Their code is run as it is, from that
folder (nothing of it is copied here), at their own SMAX configs with only the map, the seed and
the logging changed:

* ``wandb`` is replaced by an in-process stub that appends every logged dict, with the wall-clock
  seconds since the start, to ``OUT/metrics.jsonl`` (their scripts log through ``wandb.log`` from a
  ``jax.debug.callback``, so this sees every update as it happens);
* ``TEST_INTERVAL`` (a fraction of all updates) defaults to 0.01 instead of 0.05, so a budget of
  minutes sees several greedy evaluations (each costs them ``TEST_NUM_ENVS`` episodes of compute;
  say so when quoting); ``TOTAL_TIMESTEPS`` stays at their 1e7 because their ε and learning-rate
  schedules are fractions of it; the run is stopped when ``--minutes`` have passed.

Needs ``flashbax`` (``pip install --no-deps --target DIR flashbax`` and ``--deps DIR``: it is not a
decomp dependency). Pin both sides to one core each for a fair race, e.g.::

    taskset -c 0 python benchmarks/jaxmarl_side_by_side.py run --jaxmarl-src /tmp/JaxMARL --alg qmix_rnn --minutes 30 --out runs/sbs/qmix_rnn &
    date +%s.%N > runs/sbs/decomp.launch_time; taskset -c 1 timeout 30m python -m decomp.train env=smac \
        map=2s3z method=qmix t_max=1000000 threads=1 run_dir=runs/sbs run_name=decomp &
    python benchmarks/jaxmarl_side_by_side.py compare --minutes 30 runs/sbs/decomp runs/sbs/qmix_rnn [runs/sbs/pqn_vdn_rnn]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import multiprocessing as mp
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

ALG_CONFIG = {"qmix_rnn": "ql_rnn_smax.yaml", "pqn_vdn_rnn": "pqn_vdn_rnn_smax.yaml"}


def _stub_wandb(log_path: Path, start: float) -> types.ModuleType:
    """A module with wandb's four names used by the baselines; log() appends JSON lines."""
    stub = types.ModuleType("wandb")

    def log(metrics: dict[str, Any], *_: Any, **__: Any) -> None:
        row = {"wall_seconds": time.time() - start}
        for key, value in metrics.items():
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                continue
        with open(log_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")

    stub.log = log  # type: ignore[attr-defined]
    stub.init = lambda *a, **k: None  # type: ignore[attr-defined]
    stub.login = lambda *a, **k: None  # type: ignore[attr-defined]
    stub.config = {}  # type: ignore[attr-defined]
    return stub


def _child(src: str, alg: str, map_name: str, seed: int, test_interval: float, out: str, deps: str) -> None:
    """Import the baseline from the checkout and run its ``single_run`` (in a child process)."""
    from omegaconf import OmegaConf  # noqa: PLC0415

    if deps:
        sys.path.insert(0, deps)
    qdir = Path(src) / "baselines" / "QLearning"
    log_path = Path(out) / "metrics.jsonl"
    sys.modules["wandb"] = _stub_wandb(log_path, time.time())
    base = OmegaConf.to_container(OmegaConf.load(qdir / "config" / "config.yaml"))
    algc = OmegaConf.to_container(OmegaConf.load(qdir / "config" / "alg" / ALG_CONFIG[alg]))
    algc.update({"MAP_NAME": map_name, "TEST_INTERVAL": test_interval})
    config = {**base, "SEED": seed, "SAVE_PATH": None, "WANDB_MODE": "online", "alg": algc}  # type: ignore[dict-item]
    spec = importlib.util.spec_from_file_location(f"jaxmarl_{alg}", qdir / f"{alg}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (Path(out) / "config.json").write_text(json.dumps(config, indent=1, default=str))
    module.single_run(config)


def cmd_run(args: argparse.Namespace) -> int:
    src = Path(args.jaxmarl_src)
    script = src / "baselines" / "QLearning" / f"{args.alg}.py"
    if not script.is_file():
        sys.exit(f"--jaxmarl-src {src} has no baselines/QLearning/{args.alg}.py: give a JaxMARL repository checkout")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.jsonl").unlink(missing_ok=True)
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_child, args=(str(src), args.alg, args.map, args.seed, args.test_interval, str(out), args.deps))
    proc.start()
    proc.join(args.minutes * 60)
    if proc.is_alive():
        proc.terminate()
        proc.join(10)
        print(f"stopped {args.alg} after {args.minutes} min (the budget)")
    print(f"metrics: {out / 'metrics.jsonl'}")
    return 0


def _jaxmarl_curve(folder: Path) -> list[tuple[float, float, float]]:
    """(wall seconds, env steps, greedy win rate) at each of the baseline's test evaluations."""
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    out, last = [], None
    for r in rows:
        test = tuple(sorted((k, v) for k, v in r.items() if k.startswith("test_")))
        if test and test != last:  # the test metrics repeat between two evaluations
            out.append((r["wall_seconds"], r.get("env_step", float("nan")), r["test_returned_won_episode"]))
            last = test
    return out


def _decomp_curve(run: Path) -> list[tuple[float, float, float]]:
    """Wall seconds count from the launch (``launch_time`` in the run's parent folder, written by the
    race command) when known, as JaxMARL's count from their process start, compilation included."""
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    launch = run.parent / f"{run.name}.launch_time"
    t0 = float(launch.read_text()) if launch.exists() else float(rows[0]["wall_time"])
    return [(float(r["wall_time"]) - t0, float(r["step"]), float(r["value"])) for r in rows if r["key"] == "eval/win_rate"]


def cmd_compare(args: argparse.Namespace) -> int:
    curves = {"decomp " + Path(args.decomp).name: _decomp_curve(Path(args.decomp))}
    for folder in args.jaxmarl:
        curves["jaxmarl " + Path(folder).name] = _jaxmarl_curve(Path(folder))
    if args.minutes:  # the race's budget: only evaluations finished within it count
        curves = {name: [p for p in c if p[0] <= args.minutes * 60] for name, c in curves.items()}
    print("| run | evaluations | last: minutes / env steps / greedy win rate | best greedy win rate |")
    print("|---|---|---|---|")
    for name, c in curves.items():
        if not c:
            print(f"| {name} | 0 | — | — |")
            continue
        t, s, w = c[-1]
        print(f"| {name} | {len(c)} | {t / 60:.1f} / {s:,.0f} / {w:.3f} | {max(x[2] for x in c):.3f} |")
    if args.plot:
        plot_race(curves, Path(args.plot), args.minutes)
    return 0


def plot_race(curves: dict[str, list[tuple[float, float, float]]], path: Path, minutes: float) -> None:
    """Greedy win rate against wall-clock minutes, one line per contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, c in curves.items():
        if c:
            ax.plot([p[0] / 60 for p in c], [p[2] for p in c], marker="o" if len(c) < 10 else None, label=name)
    ax.set(xlabel="wall-clock minutes (one core each)", ylabel="greedy win rate", ylim=(-0.02, 1.02),
           title="SMAX 2s3z at equal wall-clock" + (f" ({minutes:g} min)" if minutes else ""))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--jaxmarl-src", required=True)
    r.add_argument("--alg", choices=sorted(ALG_CONFIG), default="qmix_rnn")
    r.add_argument("--map", default="2s3z")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--minutes", type=float, default=30.0)
    r.add_argument("--test-interval", type=float, default=0.01)
    r.add_argument("--deps", default="", help="extra sys.path entry holding flashbax")
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("decomp", help="a decomp run folder")
    c.add_argument("jaxmarl", nargs="+", help="output folders of `run`")
    c.add_argument("--minutes", type=float, default=0.0, help="count only evaluations within this budget")
    c.add_argument("--plot", default="", help="also draw win rate vs wall-clock to this PNG")
    args = p.parse_args(argv)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    return cmd_run(args) if args.cmd == "run" else cmd_compare(args)


if __name__ == "__main__":
    sys.exit(main())
