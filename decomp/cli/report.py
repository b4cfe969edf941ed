"""Reports generated from real training runs: ``python -m decomp.report matrix|smac``.

``smac`` builds the paper's SMAC table from a sweep folder of ``python -m decomp.train -m env=smac …``
(decomp/cli/report_smac.py); it trains nothing itself.

``matrix`` trains every method on every preset matrix game over several seeds and both data
distributions (uniform / ε-greedy), all through :func:`decomp.training.matrix_lab.train_matrix`, and writes
``docs/matrix_games.md`` plus one heatmap figure per game under ``docs/img/``. Trainings run in
worker processes with one torch thread each (the runs are tiny, so processes beat threads).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from decomp.training.matrix_lab import DIVERGENCE_FACTOR
from decomp.core.methods import METHODS

GAME_ORDER = ("qtran", "qmix_easy", "climbing", "penalty", "qplex3", "two_step")
DATA = ("uniform", "egreedy")
# 9000 env steps = 281 updates of 64 episodes at lr 0.01: the whole report takes ~8 min on an idle
# 2-core machine (6000 steps took 5.0 min but left qtran/qtran_alt under-trained on the QTRAN game).
REPORT_STEPS = 9000
REPORT_LR = 0.01


@dataclass(frozen=True)
class Job:
    game: str
    method: str
    seed: int
    data: str
    steps: int
    lr: float


@dataclass
class Outcome:
    job: Job
    optimal: bool
    greedy: tuple[int, ...]
    greedy_return: float
    q_tot: np.ndarray  # (k_1, ..., k_n) learned Q_tot (Q_jt / critic for joint methods)
    payoff: np.ndarray  # (k_1, ..., k_n)
    seconds: float
    diverged: bool = False  # a learned value non-finite or > decomp.training.matrix_lab.DIVERGENCE_FACTOR × max|payoff|


def run_job(job: Job) -> Outcome:
    """One training in a worker (torch limited to one thread)."""
    import torch

    from decomp.training.matrix_lab import train_matrix

    torch.set_num_threads(1)
    start = time.time()
    r = train_matrix(job.game, job.method, seed=job.seed, steps=job.steps, data=job.data, lr=job.lr)
    return Outcome(job, r.optimal and not r.diverged, r.greedy, r.greedy_return, r.q_tot, r.payoff,
                   time.time() - start, r.diverged)


def run_jobs(jobs: Sequence[Job], workers: int) -> list[Outcome]:
    """All jobs over ``workers`` processes with a tqdm progress bar (workers=1: in process)."""
    from tqdm.auto import tqdm

    out: list[Outcome] = []
    with tqdm(total=len(jobs), unit="run", desc="matrix report", file=sys.stderr, dynamic_ncols=True) as bar:
        if workers <= 1:
            for job in jobs:
                out.append(run_job(job))
                bar.update()
            return out
        with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            for fut in cf.as_completed([pool.submit(run_job, j) for j in jobs]):
                out.append(fut.result())
                bar.set_postfix_str(f"{out[-1].job.method}/{out[-1].job.game}", refresh=False)
                bar.update()
    return out


# ---- tables --------------------------------------------------------------------------------------
def _optimal_cells(payoff: np.ndarray) -> np.ndarray:
    return payoff >= payoff.max() - 1e-9


def counts_as_optimal(o: Outcome) -> bool:
    """A diverged run is never optimal, whatever its argmax."""
    return o.optimal and not o.diverged


def game_table(outcomes: list[Outcome], game: str, methods: Sequence[str], seeds: int) -> str:
    """Markdown: per method and data distribution, k/seeds optimal (and how many diverged), Q_tot at the
    optimum and mean |error| over the runs that did not diverge (a diverged table's numbers are noise)."""
    head = ["method"] + [f"{d}: {c}" for d in DATA for c in ("optimal", "Q_tot at opt.", "mean \\|Q_tot − payoff\\|")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        row = [f"`{m}`"]
        for d in DATA:
            mine = [o for o in outcomes if o.job.game == game and o.job.method == m and o.job.data == d]
            if not mine:
                row += ["—"] * 3
                continue
            k = sum(counts_as_optimal(o) for o in mine)
            n_div = sum(o.diverged for o in mine)
            sane = [o for o in mine if not o.diverged]
            bold = "**" if k == len(mine) else ""
            row.append(f"{bold}{k}/{len(mine)}{bold}" + (f" ({n_div} diverged)" if n_div else ""))
            if not sane:
                row += ["diverged", "diverged"]
                continue
            at_opt = np.mean([o.q_tot[_optimal_cells(o.payoff)].max() for o in sane])
            err = np.mean([np.abs(o.q_tot - o.payoff).mean() for o in sane])
            row += [f"{at_opt:.2f}", f"{err:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _label(greedy: tuple[int, ...]) -> str:
    return "(" + ",".join("ABCDEFGH"[a] for a in greedy) + ")"


def seed_table(outcomes: list[Outcome], game: str, methods: Sequence[str], seeds: int) -> str:
    """Per seed: greedy joint action and its return for each (method, data) pair."""
    cols = [(m, d) for m in methods for d in DATA]
    lines = ["| seed | " + " | ".join(f"`{m}` {d}" for m, d in cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for s in range(seeds):
        row = [str(s)]
        for m, d in cols:
            o = next((o for o in outcomes if (o.job.game, o.job.method, o.job.data, o.job.seed) == (game, m, d, s)), None)
            row.append("—" if o is None else f"{_label(o.greedy)} → {o.greedy_return:g}"
                       + (" diverged" if o.diverged else " ✓" if counts_as_optimal(o) else ""))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# ---- figures -------------------------------------------------------------------------------------
def heatmaps(outcomes: list[Outcome], game: str, methods: Sequence[str], path: Path) -> None:
    """Payoff and each method's learned Q_tot (seed 0, uniform data) on one figure."""
    import matplotlib.pyplot as plt

    from decomp.training.run_plots import annotated_heatmap

    picked = {o.job.method: o for o in outcomes if o.job.game == game and o.job.seed == 0 and o.job.data == "uniform"}
    shown = [m for m in methods if m in picked]
    if not shown:
        return
    payoff = next(iter(picked.values())).payoff
    flat = (lambda t: t.reshape(t.shape[0], -1))  # n agents: agent 1 × (agents 2..n)
    optima = [tuple(int(x) for x in ix) for ix in np.argwhere(_optimal_cells(flat(payoff)))]
    cols = 4
    rows = -(-(len(shown) + 1) // cols)
    width = 3.2 + 0.45 * flat(payoff).shape[1]
    fig, axes = plt.subplots(rows, cols, figsize=(cols * width, rows * 3.3), squeeze=False)
    annotated_heatmap(axes[0, 0], flat(payoff), f"payoff ({game})", optima)
    for ax, m in zip(axes.flat[1:], shown):
        o = picked[m]
        g = np.unravel_index(np.ravel_multi_index(o.greedy, payoff.shape), flat(payoff).shape)
        verdict = "diverged" if o.diverged else "optimal" if counts_as_optimal(o) else "sub-optimal"
        annotated_heatmap(ax, flat(o.q_tot), f"{m}: Q_tot, greedy {verdict}", optima, (int(g[0]), int(g[1])))
    for ax in axes.flat[len(shown) + 1:]:
        ax.axis("off")
    fig.suptitle(f"{game}: payoff and learned Q_tot (seed 0, uniform data; red box = optimum, ★ = greedy)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)


def _override_notes(methods: Sequence[str]) -> list[str]:
    """One legend line naming the methods whose preset overrides the shared lr / grad_clip (none: no line)."""
    from decomp.config.compose import compose_config

    found = []
    for m in methods:
        opts = dict(compose_config(["env=matrix", f"method={m}"]).method.learner)
        picked = {k: v for k, v in opts.items() if k in ("lr", "grad_clip") and v is not None}  # None: the shared value
        if picked:
            found.append(f"`{m}` " + ", ".join(f"{k}={v}" for k, v in picked.items()))
    if not found:
        return []
    return ["- Preset learner options that replace the shared settings for one method: " + "; ".join(found) + "."]


# ---- the document --------------------------------------------------------------------------------
KEPT_SECTION = "## Mutation check"  # written by `python -m tests.mutations`' documentation, not by this report


def write_markdown(path: Path, outcomes: list[Outcome], args: argparse.Namespace, command: str,
                   seconds: float) -> None:
    games, methods = args.games, args.methods
    parts = [
        "# Matrix games: which methods find the optimum",
        "",
        "Generated by (do not edit by hand):",
        "",
        f"```\n{command}\n```",
        "",
        f"{len(outcomes)} trainings ({len(methods)} methods × {len(games)} games × {args.seeds} seeds × "
        f"{len(DATA)} data distributions), each `decomp.training.matrix_lab.train_matrix(game, method, seed, "
        f"steps={args.steps}, data=…, lr={args.lr})` on the packaged `env=matrix` preset and each method's "
        f"`method=` preset; {args.workers} worker processes, one torch thread each; wall time "
        f"{seconds / 60:.1f} min.",
        "",
        "- **optimal**: seeds (of "
        f"{args.seeds}) whose greedy joint action (each agent's argmax; COMA: the policy's argmax) earns the "
        f"optimal team reward. A run whose learned |Q_tot| or |Q^i| (COMA: critic only) exceeds "
        f"{DIVERGENCE_FACTOR:g} × the game's largest |reward|, or is non-finite, is **diverged**: never counted "
        "as optimal, shown as \"(k diverged)\", and left out of the two value columns.",
        "- **Q_tot at opt.**: the learned joint value at the optimal joint action, mean over seeds (several optima: "
        "the best of them). For `qtran`/`qtran_alt` it is Q_jt, for `coma` the critic's Q(s, u), for `iql` "
        "Σ_i Q^i, for `ow_qmix`/`cw_qmix` the QMIX Q_tot that acts (not Q̂*).",
        "- **mean |Q_tot − payoff|**: over all joint actions, mean over the seeds that did not diverge.",
        *_override_notes(methods),
        "- **uniform**: every joint action equally often (ε = 1); **egreedy**: ε anneals from the preset's start "
        "to 0.2 over the first half of training. COMA samples from its policy mixed with ε-uniform, so under "
        "uniform data it learns from uniformly random actions without correction.",
        "",
    ]
    for game in games:
        payoff = next(o.payoff for o in outcomes if o.job.game == game)
        parts += [f"## `{game}` (optimum {payoff.max():g})", "", game_table(outcomes, game, methods, args.seeds), "",
                  f"![{game}](img/matrix_{game}.png)", ""]
    if "qtran" in games:
        picked = [m for m in ("qmix", "qatten") if m in methods]
        parts += ["## QMIX and Qatten per seed on the QTRAN game", "",
                  "Their outcome depends on both the seed and the data distribution (greedy joint action → its "
                  "reward; ✓ = optimal):", "", seed_table(outcomes, "qtran", picked, args.seeds), ""]
    slowest = sorted(outcomes, key=lambda o: -o.seconds)[:1]
    if slowest:
        mean_s = np.mean([o.seconds for o in outcomes])
        parts += [f"Mean training time {mean_s:.2f} s per run (slowest: {slowest[0].job.method} on "
                  f"{slowest[0].job.game}, {slowest[0].seconds:.1f} s).", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    # hand-maintained sections after the generated report (e.g. the mutation check's table) survive
    kept = ""
    if path.exists():
        text = path.read_text()
        at = text.find(KEPT_SECTION)
        kept = "\n\n" + text[at:] if at >= 0 else ""
    path.write_text("\n".join(parts).rstrip("\n") + kept)


def matrix_report(args: argparse.Namespace, command: str) -> Path:
    jobs = [Job(g, m, s, d, args.steps, args.lr) for g in args.games for m in args.methods
            for s in range(args.seeds) for d in DATA]
    start = time.time()
    outcomes = run_jobs(jobs, args.workers)
    seconds = time.time() - start
    out = Path(args.out)
    for game in args.games:
        heatmaps(outcomes, game, args.methods, out / "img" / f"matrix_{game}.png")
    md = out / "matrix_games.md"
    write_markdown(md, outcomes, args, command, seconds)
    return md


def smac_main(args: argparse.Namespace, parser: argparse.ArgumentParser, command: str) -> None:
    """``report smac``: bad input (no such sweep folder, no SMAC runs in it, clashing runs) is a usage error."""
    from decomp.analysis.sweep_runs import SweepError
    from decomp.cli.report_smac import write_report

    if args.reps < 100:
        parser.error(f"--reps must be >= 100 for a 95 % interval, got {args.reps}")
    try:
        md = write_report(Path(args.sweep), Path(args.out), command, args.reps)
    except SweepError as err:
        parser.error(str(err))
    print(f"wrote {md}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m decomp.report", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="report", required=True)
    p = sub.add_parser("matrix", help="every method × preset game × seed × data distribution")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=REPORT_STEPS, help="env steps per training")
    p.add_argument("--lr", type=float, default=REPORT_LR)
    p.add_argument("--workers", type=int, default=2, help="worker processes (one torch thread each)")
    p.add_argument("--games", nargs="+", default=list(GAME_ORDER))
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--out", default="docs", help="folder for matrix_games.md and img/")
    s = sub.add_parser("smac", help="the paper's SMAC table from a sweep folder (python -m decomp.train -m env=smac …)")
    s.add_argument("--sweep", default="runs/sweep", help="the sweep folder (hydra.sweep.dir of the training sweep)")
    s.add_argument("--out", default="docs", help="folder for smac_results.md and img/")
    s.add_argument("--reps", type=int, default=2000, help="bootstrap resamples for the intervals")
    args = parser.parse_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    command = "python -m decomp.report " + " ".join(shlex.quote(a) for a in given)
    if args.report == "smac":
        smac_main(args, parser, command)
        return
    from games import GAMES

    bad = [m for m in args.methods if m not in METHODS] + [g for g in args.games if g not in GAMES]
    if bad:
        parser.error(f"unknown method/game {bad}; methods: {sorted(METHODS)}; games: {sorted(GAMES)}")
    if args.seeds < 1 or args.steps < 1 or args.workers < 1:
        parser.error(f"--seeds, --steps, --workers must be >= 1, got {args.seeds}, {args.steps}, {args.workers}")
    md = matrix_report(args, command)
    print(f"wrote {md}")
