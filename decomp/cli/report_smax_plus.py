"""The SMAX+ part of ``python -m decomp.report smac`` (decomp/cli/report_smac.py): SMAX+ maps are decomp's
approximations of the SMAC maps SMAX lacks (decomp/envs/smax_plus/), so they never enter the SMAX table; they get
a block of their own, with the greedy return against the random policy's, since their win rates often stay near 0.
"""

from __future__ import annotations

import statistics
from typing import Sequence

from decomp.analysis.paper_smac import paper_label
from decomp.analysis.sweep_runs import Sweep
from decomp.envs.smax_plus import LABEL as PLUS_LABEL, is_plus_map

PLUS_NOTE = (f"**{PLUS_LABEL} is neither SC2 nor SMAX.** These maps need unit types SMAX lacks (colossus, medivac, "
             f"baneling, spine crawler); without StarCraft II decomp runs them on {PLUS_LABEL}, its own extension of "
             "SMAX (docs/smax_plus.md says what differs from SC2). Read their cells as approximations; the paper's "
             "SC2 number in brackets is a reference only.")


def split_plus(maps: Sequence[str]) -> tuple[list[str], list[str]]:
    """(SMAX maps, SMAX+ maps), each in the given order."""
    return [m for m in maps if not is_plus_map(m)], [m for m in maps if is_plus_map(m)]


def return_table(sweep: Sweep, maps: list[str], methods: list[str]) -> list[str]:
    """Final greedy return against the random policy's, per (map, method): where win rates stay near 0 (most
    SMAX+ maps), the return says whether a method learned anything."""
    lines = ["Greedy return against the random policy's, where the win rate alone says little: the final "
             "policy's mean return (the run's own reward scale) and, measured by each run before it trained, "
             "the return of the ε = 1 policy; *above random* counts the seeds whose final return beats their "
             "own run's random return.", "",
             "| map | method | seeds | final greedy return: median (range) | random policy: median | above random |",
             "|---|---|---|---|---|---|"]
    for mp in maps:
        for m in methods:
            runs = [r for r in sweep.runs if r.map_name == mp and r.method == m and r.finished]
            if not runs:
                continue
            finals = [float(r.mean_return) for r in runs if r.mean_return is not None]
            randoms = [r.random_return for r in runs if r.random_return is not None]
            beat = sum(1 for r in runs if r.mean_return is not None and r.random_return is not None
                       and r.mean_return > r.random_return)
            spread = f" ({min(finals):.2f}–{max(finals):.2f})" if len(finals) > 1 else ""
            final = f"{statistics.median(finals):.2f}{spread}" if finals else "—"
            random = f"{statistics.median(randoms):.2f}" if randoms else "— (not logged)"
            lines.append(f"| {plus_heading(mp)} | {paper_label(m)} | {len(runs)} | {final} | {random} | "
                         f"{beat} of {len(runs)} |")
    return lines


def plus_heading(mp: str) -> str:
    return f"`{mp}` ({PLUS_LABEL})"


def plus_only_head() -> list[str]:
    """Title and warning of a report whose sweep holds SMAX+ maps only (no SMAX table, no ordering claim:
    these maps are not the paper's SMAX comparison)."""
    return [f"# {PLUS_LABEL} maps: approximations of SMAC", "", PLUS_NOTE, ""]


def plus_only_table_intro(episodes: str) -> list[str]:
    """The win-rate table's heading in that document: the paper's SC2 number is for the real map."""
    return ["## Win rate and return", "",
            f"Each cell: median over seeds of the final policy's greedy win rate in % (each run evaluated over "
            f"{episodes} episodes at the end of training; `n` = seeds), in brackets the Qatten paper's median SC2 "
            "win rate on the real map (Yang et al. 2020, arXiv:2002.03939). *Budget*: the runs' env steps.", ""]
