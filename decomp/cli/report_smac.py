"""``python -m decomp.report smac [--sweep DIR] [--out DIR]``: the paper's SMAC table from a sweep folder.

Reads the run folders of a ``python -m decomp.train -m env=smac …`` sweep (decomp/analysis/sweep_runs.py)
and writes ``smac_results.md`` plus one learning-curve figure per map under ``img/``:

- the paper's format: maps × methods, each cell the median over seeds of the final greedy win rate,
  next to the Qatten paper's SC2 number (decomp/analysis/paper_smac.py);
- per map and method: IQM with a 95 % stratified-bootstrap interval and the probability that Qatten
  improves on each other method (decomp/analysis/stats.py);
- learning curves (mean and 95 % band over seeds) and a link to every run folder;
- at the top: budget per run, seeds, machine, total wall time and the exact sweep command(s).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Sequence

import numpy as np

from decomp.analysis.paper_smac import PAPER_METHODS, paper_label, paper_win_rate
from decomp.analysis.stats import iqm_interval, mean_band, poi_interval
from decomp.analysis.sweep_runs import PAUSE_SECONDS, RunRecord, Sweep, load_sweep, union_seconds

# Rows in this order first (the map presets), then any other map alphabetically.
MAP_ORDER = ("3m", "2s3z", "3s5z", "5m_vs_6m", "3s_vs_5z", "3s5z_vs_3s6z")
REFERENCE = "qatten"  # the method whose probability of improvement over the others is reported


def ordered_maps(runs: Sequence[RunRecord]) -> list[str]:
    names = {r.map_name for r in runs}
    return [m for m in MAP_ORDER if m in names] + sorted(names - set(MAP_ORDER))


def ordered_methods(runs: Sequence[RunRecord]) -> list[str]:
    names = {r.method for r in runs}
    paper = [m for _, m in PAPER_METHODS]
    return [m for m in paper if m in names] + sorted(names - set(paper))


def finished(runs: Sequence[RunRecord], map_name: str, method: str) -> list[RunRecord]:
    return [r for r in runs if r.map_name == map_name and r.method == method and r.finished]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}"


def _one_or_list(values: Sequence) -> str:
    distinct = sorted(set(values))
    return ", ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in distinct)


def budget_text(runs: Sequence[RunRecord]) -> str:
    """One t_max, or t_max per map when the map presets differ (``2s3z 1,000,000 · 3s5z 2,000,000``)."""
    if len({r.t_max for r in runs}) == 1:
        return f"{runs[0].t_max:,}"
    return " · ".join(f"`{m}` {_one_or_list([r.t_max for r in runs if r.map_name == m])}" for m in ordered_maps(runs))


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


# ---- sections ------------------------------------------------------------------------------------
def setup_section(sweep: Sweep) -> list[str]:
    """Budget, seeds, machine, wall time and the sweep command(s), from the runs and sweep.json."""
    runs = sweep.runs
    done = [r for r in runs if r.finished]
    where = [r.host for r in runs if r.host] or [dict(x) for x in sweep.launches]  # where the jobs ran, else the launcher's host
    hosts = sorted({f"{h.get('host', '?')} ({h.get('cpu', '?')}, {h.get('cores', '?')} cores)" for h in where})
    lines = [
        f"- **Runs**: {len(done)} finished of {len(runs)} in `{sweep.folder}`"
        + (f" ({len(runs) - len(done)} unfinished: relaunch the sweep to resume them)" if len(done) < len(runs) else ""),
        f"- **Budget per run**: t_max = {budget_text(runs)} env steps; final greedy evaluation over "
        f"{_one_or_list([r.eval_episodes for r in runs])} episodes; torch threads per job: "
        f"{_one_or_list([r.threads for r in runs])}",
        f"- **Seeds**: {_one_or_list([r.seed for r in runs])}",
        f"- **Machine**: {'; '.join(hosts) if hosts else 'not recorded (no host.json / sweep.json)'}",
    ]
    spans = [span for r in runs for span in r.spans]
    busy, summed = union_seconds(spans), sum(b - a for a, b in spans)
    lines.append(f"- **Total wall time**: {_duration(busy)} in which at least one run of the sweep was training "
                 f"(the union of the runs' active spans, read from the time stamps in their metrics.csv; a pause "
                 f"of more than {PAUSE_SECONDS / 60:.0f} min splits a run); training time summed over runs: "
                 f"{_duration(summed)}" + (f", ≈ {summed / busy:.1f} runs at a time" if busy > 0 else "")
                 + f"; {len(sweep.launches)} launch(es) of the sweep recorded in sweep.json")
    if sweep.launches:
        lines += ["- **Sweep command** (each launch, in order; relaunching skips finished runs and resumes killed ones):",
                  "", "```"]
        lines += [f"{x['command']}    # {x.get('launcher', '?')}, started {x.get('started', '?')}"
                  + (f", {_duration(x['seconds'])}" if x.get("seconds") is not None else ", did not finish")
                  for x in sweep.launches]
        lines.append("```")
    return lines


def paper_table(sweep: Sweep, maps: list[str], methods: list[str]) -> list[str]:
    """Maps × methods: median over seeds of the final greedy win rate (%), the paper's SC2 number in brackets."""
    head = ["map"] + [f"{paper_label(m)}" for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mp in maps:
        row = [f"`{mp}`"]
        for m in methods:
            mine = finished(sweep.runs, mp, m)
            ours = _pct(statistics.median(r.win_rate for r in mine)) if mine else "—"  # type: ignore[misc]
            paper = paper_win_rate(mp, m)
            n = f" <sub>n={len(mine)}</sub>" if mine else ""
            row.append(f"**{ours}**{n} ({paper if paper is not None else '—'})")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def stats_table(sweep: Sweep, mp: str, methods: list[str], reps: int) -> list[str]:
    """One map: per method seeds, median, IQM [95 % CI] and P(Qatten > method) [95 % CI]."""
    ref = np.array([r.win_rate for r in finished(sweep.runs, mp, REFERENCE)], dtype=float)
    head = ["method", "seeds", "median win rate", "IQM [95 % CI]"]
    if ref.size:
        head.append(f"P({paper_label(REFERENCE)} > method) [95 % CI]")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        scores = np.array([r.win_rate for r in finished(sweep.runs, mp, m)], dtype=float)
        if not scores.size:
            continue
        row = [paper_label(m), str(scores.size), f"{np.median(scores):.2f}", iqm_interval(scores, reps).fmt()]
        if ref.size:
            row.append("—" if m == REFERENCE else poi_interval(ref, scores, reps).fmt())
        lines.append("| " + " | ".join(row) + " |")
    return lines


def curve_figure(sweep: Sweep, mp: str, methods: list[str], path: Path, reps: int) -> bool:
    """Greedy win rate vs env steps per method on one map: mean over seeds and a 95 % bootstrap band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    drawn = False
    for m in methods:
        curves = [dict(r.curve) for r in sweep.runs if r.map_name == mp and r.method == m and r.curve]
        if not curves:
            continue
        steps = sorted(set.intersection(*(set(c) for c in curves)))  # evaluation steps every seed reached
        if not steps:
            continue
        table = np.array([[c[s] for s in steps] for c in curves])  # (seeds, points)
        mean, low, high = mean_band(table, reps)
        (line,) = ax.plot(steps, mean, label=f"{paper_label(m)} (n={len(curves)})", marker="o", ms=2.5)
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set(xlabel="env steps", ylabel="greedy win rate", ylim=(-0.02, 1.02), title=f"SMAX {mp}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def run_links(sweep: Sweep, mp: str, methods: list[str], out: Path) -> list[str]:
    lines = []
    for m in methods:
        links = []
        for r in [r for r in sweep.runs if r.map_name == mp and r.method == m]:
            rel = os.path.relpath(r.folder, out)
            what = f"{_pct(r.win_rate)} %" if r.win_rate is not None else "unfinished"
            links.append(f"[seed {r.seed}: {what}](<{rel}>)")
        if links:
            lines.append(f"- {paper_label(m)}: " + " · ".join(links))
    return lines


# ---- the document --------------------------------------------------------------------------------
def write_report(sweep_dir: Path, out: Path, command: str, reps: int = 2000) -> Path:
    """Build ``out/smac_results.md`` and ``out/img/smac_<map>.png`` from the sweep folder; returns the .md path."""
    from decomp.training.checkpoint import atomic_write_text

    sweep = load_sweep(sweep_dir, env="smac")
    maps, methods = ordered_maps(sweep.runs), ordered_methods(sweep.runs)
    episodes = _one_or_list([r.eval_episodes for r in sweep.runs])
    parts = [
        "# SMAC table on SMAX", "",
        "Generated by (do not edit by hand):", "", f"```\n{command}\n```", "",
        "**SMAX is not SC2.** These runs use JaxMARL's SMAX re-implementation of the SMAC maps (same names and "
        "unit types, simpler dynamics and a heuristic enemy), not StarCraft II; the paper's numbers are from real "
        "SC2 with the paper's own budget, so they are a reference point, not a target these runs should match.", "",
        *setup_section(sweep), "",
        "## Median win rate (the paper's format)", "",
        f"Each cell: median over seeds of the final policy's greedy win rate in % (each run evaluated over {episodes} "
        f"episodes at the end of training; `n` = seeds), in brackets the Qatten paper's median SC2 win rate "
        "(Yang et al. 2020, arXiv:2002.03939; — where it has none). IQL is `mixer=none`.", "",
        *paper_table(sweep, maps, methods), "",
        "## Per map: IQM and probability of improvement", "",
        f"IQM = interquartile mean over seeds (25 % trimmed); intervals are 95 % percentile intervals of a "
        f"stratified bootstrap over seeds ({reps} resamples), as in rliable (Agarwal et al. 2021); "
        f"P({paper_label(REFERENCE)} > method) is the chance that a random {paper_label(REFERENCE)} seed beats a "
        "random seed of the method (ties count ½). With few seeds the intervals are wide: read them before the "
        "medians.", "",
    ]
    for mp in maps:
        fig = out / "img" / f"smac_{mp}.png"
        parts += [f"### `{mp}`", "", *stats_table(sweep, mp, methods, reps), ""]
        if curve_figure(sweep, mp, methods, fig, reps):
            parts += [f"![{mp} learning curves](img/{fig.name})", "",
                      "Greedy win rate at each periodic evaluation: mean over seeds, band = 95 % bootstrap interval "
                      "of the mean.", ""]
        parts += ["Run folders:", "", *run_links(sweep, mp, methods, out), ""]
    md = out / "smac_results.md"
    atomic_write_text(md, "\n".join(parts).rstrip("\n") + "\n")
    return md
