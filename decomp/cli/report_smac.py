"""``python -m decomp.report smac [--sweep DIR] [--out DIR]``: the paper's SMAC table from a sweep folder.

Reads the run folders of a ``python -m decomp.train -m env=smac …`` sweep (decomp/analysis/sweep_runs.py)
and writes ``smac_results.md`` plus one learning-curve figure per map under ``img/``:

- the paper's format: maps × methods, each cell the median over seeds of the final greedy win rate,
  next to the Qatten paper's SC2 number (decomp/analysis/paper_smac.py);
- per map and method: IQM with a 95 % stratified-bootstrap interval and the probability that Qatten
  improves on each other method (decomp/analysis/stats.py);
- a second reference column, published SMAX curves (decomp/analysis/published_smax.py), and an aggregate over
  the maps SMAX shares with the paper: IQM per method with its bootstrap interval, P(Qatten > method);
- SMAX+ maps (decomp's approximations of the maps SMAX lacks, decomp/envs/smax_plus/) in a table of their own
  (decomp/cli/report_smax_plus.py), or, for a sweep of SMAX+ maps only, a document of their own;
- learning curves (mean and range over seeds) and a link to every run folder;
- at the top: budget per run, seeds, machine, total wall time and the exact sweep command(s);
- a hand-written reading of the table, kept from the previous ``smac_results.md`` when regenerated.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Sequence

import numpy as np

from decomp.analysis.paper_smac import PAPER_METHODS, paper_label, paper_win_rate
from decomp.analysis.smac_figures import curve_figure, return_figure
from decomp.analysis.published_smax import (AGGREGATE_SOURCE, MAP_SOURCE, aggregate_reference_lines,
                                            published_smax_cell)
from decomp.analysis.stats import iqm_interval, poi_interval
from decomp.analysis.sweep_runs import PAUSE_SECONDS, RunRecord, Sweep, load_sweep, union_seconds
from decomp.cli.report_smax_plus import (PLUS_NOTE, plus_heading, plus_only_head, plus_only_table_intro,
                                         return_table, split_plus)
from decomp.cli.sweep import relaunch_overrides
from decomp.envs.smax_plus import LABEL as PLUS_LABEL, is_plus_map

# Rows in this order first (the map presets), then any other map alphabetically.
MAP_ORDER = ("3m", "2s3z", "3s5z", "5m_vs_6m", "3s_vs_5z", "3s5z_vs_3s6z")
REFERENCE = "qatten"  # the method whose probability of improvement over the others is reported
# The paper's maps that SMAX has too (jaxmarl 0.2.0's map_name_to_scenario): the aggregate is taken over these.
SHARED_MAPS = ("2s3z", "3s5z", "5m_vs_6m", "3s_vs_5z", "3s5z_vs_3s6z")
# The hand-written reading lives between these markers; regenerating the report keeps it.
READING_START, READING_END = "<!-- reading: hand-written, kept by the generator -->", "<!-- /reading -->"


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
        renamed = any("recorded_as" in x for x in sweep.launches)  # sweep_runs.in_todays_form
        extra = relaunch_overrides([r.folder for r in runs])  # [] unless a default changed since the runs ran
        lines += ["- **Sweep command** (each launch, in order; relaunching skips finished runs and resumes killed ones"
                  + ("; launches shown as they are given today" + (", which find the same runs" if extra == [] else "")
                     + ": today's keys for those from before `method=` and `map=`, and `hydra.sweep.dir=` naming this "
                     "folder" if renamed else "") + "):", "", "```"]
        lines += [f"{x['command']}    # {x.get('launcher', '?')}, started {x.get('started', '?')}"
                  + (f", {_duration(x['seconds'])}" if x.get("seconds") is not None else ", did not finish")
                  for x in sweep.launches]
        lines.append("```")
        if extra != []:
            lines.append(relaunch_caveat(extra))
    return lines


def relaunch_caveat(extra: list[str] | None) -> str:
    """Why the launch lines no longer relaunch this sweep, and what trains the same settings again: an override
    given on the command line is part of each job's folder name, so it cannot find the folders made without it."""
    if extra is None:
        return ("- **Relaunching today** is refused: today's defaults give other settings than these runs', and no "
                "single `regime=` gives them back; the refusal lists the settings that differ.")
    given = " ".join(extra)
    return (f"- **Relaunching today** is refused: these runs were trained with `{given}`, no longer the default, so "
            f"the lines above now give other settings. With `{given}` added, the jobs get other folders "
            f"(`…__{given}`): to train the same settings again, add `{given}` and give a new `hydra.sweep.dir=`.")


def paper_table(sweep: Sweep, maps: list[str], methods: list[str], published: bool = True) -> list[str]:
    """Maps × methods: median over seeds of the final greedy win rate (%), the paper's SC2 number in brackets;
    each map's budget first and the published SMAX curves (IPPO / MAPPO) last (unless ``published`` is off)."""
    head = ["map", "budget"] + [f"{paper_label(m)}" for m in methods] + ["published SMAX, IPPO / MAPPO %"] * published
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mp in maps:
        row = [f"`{mp}`", _steps_text([r.t_max for r in sweep.runs if r.map_name == mp])]
        for m in methods:
            mine = finished(sweep.runs, mp, m)
            ours = _pct(statistics.median(r.win_rate for r in mine)) if mine else "—"  # type: ignore[misc]
            paper = paper_win_rate(mp, m)
            n = f" <sub>n={len(mine)}</sub>" if mine else ""
            row.append(f"**{ours}**{n} ({paper if paper is not None else '—'})")
        row += [published_smax_cell(mp) or "—"] * published
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _steps_text(t_maxes: Sequence[int]) -> str:
    """``2M`` / ``300k``, or every distinct budget when a map's runs differ."""
    return ", ".join(f"{t / 1e6:g}M" if t >= 1_000_000 else f"{t / 1e3:g}k" if t >= 1000 else str(t)
                     for t in sorted(set(t_maxes)))


def stats_table(sweep: Sweep, mp: str, methods: list[str], reps: int) -> list[str]:
    """One map: per method seeds, median, IQM [95 % CI] and P(Qatten > method) [95 % CI]."""
    if not any(finished(sweep.runs, mp, m) for m in methods):
        running = sum(1 for r in sweep.runs if r.map_name == mp)
        return [f"No finished run yet ({running} started: their curves so far are below)."]
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


def seed_matrix(sweep: Sweep, method: str, maps: Sequence[str], seeds: int) -> tuple[np.ndarray, list[str]] | None:
    """(seeds, maps) final win rates of ``method`` on those of ``maps`` where it has at least ``seeds`` finished
    runs (its lowest seeds): the bootstrap needs the same runs per task, and a map still filling in would
    otherwise cut every map down to its one finished seed."""
    per_map = {mp: sorted(finished(sweep.runs, mp, method), key=lambda r: r.seed)[:seeds] for mp in maps}
    per_map = {mp: rs for mp, rs in per_map.items() if len(rs) == seeds}
    if not per_map:
        return None
    return np.array([[rs[i].win_rate for rs in per_map.values()] for i in range(seeds)], dtype=float), list(per_map)


def full_seeds(sweep: Sweep, maps: Sequence[str], methods: Sequence[str]) -> int:
    """The most finished seeds any (map, method) cell of ``maps`` has: the count a cell needs to enter."""
    return max((len(finished(sweep.runs, mp, m)) for mp in maps for m in methods), default=0)


def aggregate_table(sweep: Sweep, methods: list[str], reps: int) -> list[str]:
    """Across the shared maps: per method its maps, IQM [95 % CI] over all (seed, map) runs, P(Qatten > method)
    over the maps both have."""
    shared = [mp for mp in SHARED_MAPS if any(r.map_name == mp and r.finished for r in sweep.runs)]
    n = full_seeds(sweep, shared, methods)
    ref = seed_matrix(sweep, REFERENCE, shared, n)
    head = ["method", "maps (seeds each)", "IQM [95 % CI]", f"P({paper_label(REFERENCE)} > method) [95 % CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        mine = seed_matrix(sweep, m, shared, n)
        if mine is None:
            continue
        scores, maps = mine
        row = [paper_label(m), f"{', '.join(maps)} ({scores.shape[0]})", iqm_interval(scores, reps).fmt()]
        common = [mp for mp in maps if ref is not None and mp in ref[1]]
        if m == REFERENCE or not common:
            row.append("—")
        else:
            a, b = seed_matrix(sweep, REFERENCE, common, n), seed_matrix(sweep, m, common, n)
            row.append(poi_interval(a[0], b[0], reps).fmt() + ("" if ref is not None and common == ref[1] else
                                                               f" <sub>on {', '.join(common)}</sub>"))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def reading_block(previous: Path) -> list[str]:
    """The hand-written reading from the last generated report (between the markers), or a placeholder."""
    text = previous.read_text() if previous.exists() else ""
    if READING_START in text and READING_END in text.split(READING_START, 1)[1]:
        body = text.split(READING_START, 1)[1].split(READING_END, 1)[0].strip("\n")
    else:
        body = ("*Not written yet.* Write the reading between these markers in the generated file; "
                "`python -m decomp.report smac` keeps it when it regenerates the tables.")
    return [READING_START, body, READING_END]


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


def aggregate_section(sweep: Sweep, methods: list[str], reps: int) -> list[str]:
    """The IQM over the shared maps with the published SMAX aggregates beside it; empty without shared maps."""
    if not any(r.map_name in SHARED_MAPS and r.finished for r in sweep.runs):
        return []
    return [
        "## Across the maps SMAX shares with the paper", "",
        f"Over {', '.join(f'`{m}`' for m in SHARED_MAPS)} (those with finished runs), each map at its own budget: IQM of "
        "the final win rates over every (seed, map) run with a 95 % stratified-bootstrap interval (seeds "
        "resampled within each map), and P(Qatten > method) averaged over the maps both methods ran. A (map, method) "
        "cell enters once it has as many finished seeds as the fullest cell, so maps still training are left out "
        "rather than cutting every map down to their seeds, so **an IQM is comparable only with rows over the same "
        "maps** (the maps column); P(Qatten > method) is always computed on the maps both ran. Per-map "
        "medians of three seeds are noisy; this is the figure to read first.", "",
        *aggregate_table(sweep, methods, reps), "",
        f"For context, published SMAX aggregates ({AGGREGATE_SOURCE}; over their own set of maps and at fixed "
        "env-step budgets, so not like for like):", "", *aggregate_reference_lines(), "",
    ]


def smax_and_plus_tables(sweep: Sweep, maps: list[str], methods: list[str]) -> list[str]:
    """The paper table over the SMAX maps, then the SMAX+ maps in a block of their own (when the sweep has any;
    without the published-SMAX column, which SMAX+ maps never have). A sweep of SMAX+ maps only gets its own
    document (:func:`write_report`), so ``maps`` holds at least one SMAX map here."""
    smax_maps, plus_maps = split_plus(maps)
    lines = paper_table(sweep, smax_maps, methods)
    if plus_maps:
        lines += ["", f"## {PLUS_LABEL} maps: approximations, not SMAC", "", PLUS_NOTE, "",
                  *paper_table(sweep, plus_maps, methods, published=False), "",
                  *return_table(sweep, plus_maps, methods)]
    return lines


def map_heading(mp: str) -> str:
    return plus_heading(mp) if is_plus_map(mp) else f"`{mp}`"


# ---- the document --------------------------------------------------------------------------------
def write_report(sweep_dir: Path, out: Path, command: str, reps: int = 2000) -> Path:
    """Build ``out/smac_results.md`` and ``out/img/smac_<map>.png`` from the sweep folder; returns the .md path."""
    from decomp.training.checkpoint import atomic_write_text

    sweep = load_sweep(sweep_dir, env="smac")
    maps, methods = ordered_maps(sweep.runs), ordered_methods(sweep.runs)
    episodes = _one_or_list([r.eval_episodes for r in sweep.runs])
    command_lines = ["Generated by (do not edit by hand):", "", f"```\n{command}\n```", ""]
    if maps and not split_plus(maps)[0]:  # SMAX+ maps only: their own document, no SMAX table or ordering claim
        parts = [*plus_only_head(), *command_lines, *setup_section(sweep), "", *plus_only_table_intro(episodes),
                 *paper_table(sweep, maps, methods, published=False), "", *return_table(sweep, maps, methods), "",
                 "## What the runs say", "", *reading_block(out / "smac_results.md"), ""]
    else:
        parts = [
            "# SMAC table on SMAX", "", *command_lines,
            "**SMAX is not SC2.** These runs use JaxMARL's SMAX re-implementation of the SMAC maps (same names and "
            "unit types, simpler dynamics and a heuristic enemy), not StarCraft II; the paper's numbers are from real "
            "SC2 with the paper's own budget, so they are a reference point, not a target these runs should match.", "",
            *setup_section(sweep), "",
            "## Median win rate (the paper's format)", "",
            f"Each cell: median over seeds of the final policy's greedy win rate in % (each run evaluated over "
            f"{episodes} episodes at the end of training; `n` = seeds), in brackets the Qatten paper's median SC2 win "
            "rate (Yang et al. 2020, arXiv:2002.03939; — where it has none). IQL is `method=iql` (`none` in sweep "
            f"folder names). *Budget*: the runs' env steps. *Published SMAX*: {MAP_SOURCE}; at the budgets named — "
            "compare a cell with the column entry at its own budget.", "",
            *smax_and_plus_tables(sweep, maps, methods), "",
            *aggregate_section(sweep, methods, reps),
            "## What the table says about the seed's ordering", "",
            "The seed claims Qatten ≥ QMIX ≥ VDN ≫ IQL, QTRAN, COMA, with the gap widest on the hard maps.", "",
            *reading_block(out / "smac_results.md"), ""]
    parts += [
        "## Per map: IQM and probability of improvement", "",
        f"IQM = interquartile mean over seeds (25 % trimmed); intervals are 95 % percentile intervals of a "
        f"stratified bootstrap over seeds ({reps} resamples), as in rliable (Agarwal et al. 2021); "
        f"P({paper_label(REFERENCE)} > method) is the chance that a random {paper_label(REFERENCE)} seed beats a "
        "random seed of the method (ties count ½). With few seeds the intervals are wide: read them before the "
        "medians.", "",
    ]
    for mp in maps:
        fig = out / "img" / f"smac_{mp}.png"
        parts += [f"### {map_heading(mp)}", "", *stats_table(sweep, mp, methods, reps), ""]
        if curve_figure(sweep, mp, methods, fig):
            parts += [f"![{mp} learning curves](img/{fig.name})", "",
                      "Greedy win rate at each periodic evaluation (32 battles): mean over the finished seeds, band = "
                      "the range of the seeds (min to max); a method with no finished seed yet is drawn dotted from "
                      "its unfinished runs.", ""]
        ret = out / "img" / f"smac_{mp}_return.png"
        if is_plus_map(mp) and return_figure(sweep, mp, methods, ret):
            parts += [f"![{mp} greedy return](img/{ret.name})", "",
                      "Greedy return at each periodic evaluation, same runs, against the random policy's return "
                      "(dashed).", ""]
        parts += ["Run folders:", "", *run_links(sweep, mp, methods, out), ""]
    md = out / "smac_results.md"
    atomic_write_text(md, "\n".join(parts).rstrip("\n") + "\n")
    return md
