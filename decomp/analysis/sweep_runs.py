"""Read the run folders of a sweep back (config, summary, eval curve, host) for reports.

A sweep folder is ``<hydra.sweep.dir>`` of ``python -m decomp.train -m …``: one run folder per job
(``smac-2s3z__qatten__0``), ``sweep.json`` with each launch's command and wall time (decomp/cli/sweep.py).
Any folder whose children are run folders works; children without ``config.yaml`` are ignored.
"""

from __future__ import annotations

import csv
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from decomp.config.compose import in_todays_keys
from decomp.config.schema import migrate_saved


class SweepError(ValueError):
    """The sweep folder is missing, empty, or holds runs that cannot be told apart."""


@dataclass(frozen=True)
class RunRecord:
    """One run folder of a sweep, as a report needs it."""

    folder: Path
    env: str
    map_name: str
    method: str
    seed: int
    t_max: int
    eval_episodes: int  # final_eval_rounds × eval_envs: the episodes behind the final win rate
    threads: int
    finished: bool  # summary.json present, at the run's t_max
    env_steps: int | None = None
    win_rate: float | None = None  # the final policy's greedy win rate (summary.json)
    mean_return: float | None = None
    seconds: float | None = None  # training time of the last launch that ran it
    curve: tuple[tuple[int, float], ...] = ()  # (env step, greedy win rate) of every evaluation
    host: dict[str, Any] = field(default_factory=dict)
    spans: tuple[tuple[float, float], ...] = ()  # (start, end) wall-clock seconds when it was training (active_spans)
    return_curve: tuple[tuple[int, float], ...] = ()  # (env step, greedy return) of every evaluation
    random_return: float | None = None  # the ε = 1 policy's return, measured before training (SMAX runs)


@dataclass(frozen=True)
class Sweep:
    folder: Path
    runs: tuple[RunRecord, ...]
    launches: tuple[dict[str, Any], ...]  # sweep.json entries (command in today's keys), launcher, started, seconds …


def eval_curve(metrics_csv: Path, key: str = "eval/win_rate") -> tuple[tuple[int, float], ...]:
    """``key`` per env step from a run's metrics.csv (the last value where a step was logged twice)."""
    return eval_curves(metrics_csv, (key,))[key]


def eval_curves(metrics_csv: Path, keys: tuple[str, ...]) -> dict[str, tuple[tuple[int, float], ...]]:
    """:func:`eval_curve` for several keys in one pass over metrics.csv."""
    return scan_metrics(metrics_csv, keys)[0]


def scan_metrics(metrics_csv: Path, keys: tuple[str, ...]
                 ) -> tuple[dict[str, tuple[tuple[int, float], ...]], tuple[float, ...]]:
    """``keys``' (step, value) curves and every row's ``wall_time`` stamp (sorted), in one pass.

    Why one pass: a long run's metrics.csv has ~10^5 rows, and a report reads every run of a sweep.
    """
    points: dict[str, dict[int, float]] = {k: {} for k in keys}
    stamps: list[float] = []
    if metrics_csv.exists():
        with metrics_csv.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("key") in points:
                    points[row["key"]][int(row["step"])] = float(row["value"])
                if row.get("wall_time"):
                    stamps.append(float(row["wall_time"]))
    return {k: tuple(sorted(p.items())) for k, p in points.items()}, tuple(sorted(stamps))


PAUSE_SECONDS = 300.0  # a longer silence in a run's metrics.csv: it was killed and resumed later


def active_spans(metrics_csv: Path, pause: float = PAUSE_SECONDS) -> tuple[tuple[float, float], ...]:
    """When a run was training: its metrics.csv ``wall_time`` stamps, split where they pause > ``pause`` s.

    A run logs every few seconds while it trains, so a long gap is a kill (and a later resume); this
    counts every session a run trained in, where ``summary.json`` has only its last launch's time.
    """
    return spans_of(scan_metrics(metrics_csv, ())[1], pause)


def spans_of(stamps: tuple[float, ...], pause: float = PAUSE_SECONDS) -> tuple[tuple[float, float], ...]:
    """Sorted time stamps -> (start, end) spans, split where consecutive stamps are more than ``pause`` s apart."""
    spans: list[tuple[float, float]] = []
    for t in stamps:
        if spans and t - spans[-1][1] <= pause:
            spans[-1] = (spans[-1][0], t)
        else:
            spans.append((t, t))
    return tuple(spans)


def union_seconds(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the (start, end) spans (overlaps count once)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        total += max(0.0, b - max(a, end))
        end = max(end, b)
    return total


def read_run(folder: Path) -> RunRecord:
    """A run folder -> RunRecord (config.yaml is required, everything else may be missing)."""
    cfg = OmegaConf.to_container(OmegaConf.load(folder / "config.yaml"))
    assert isinstance(cfg, dict)
    cfg = migrate_saved(cfg)  # runs saved before the rename hold mixer: {name: none}
    env = cfg["env"]
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    host_path = folder / "host.json"
    host = json.loads(host_path.read_text()) if host_path.exists() else {}
    where = env.get("map_name", "") if env["name"] != "matrix" else env.get("game", "")
    curves, stamps = scan_metrics(folder / "metrics.csv", ("eval/win_rate", "eval/return", "eval/random_return"))
    if summary is not None and int(summary["env_steps"]) < int(cfg["t_max"]):
        summary = None  # an older summary of a run being extended to a larger t_max: not finished yet
    return RunRecord(
        folder=folder, env=env["name"], map_name=where, method=cfg["method"]["name"], seed=int(cfg["seed"]),
        t_max=int(cfg["t_max"]), eval_episodes=int(cfg["final_eval_rounds"]) * int(env["eval_envs"]),
        threads=int(cfg.get("threads", 0)), finished=summary is not None,
        env_steps=None if summary is None else int(summary["env_steps"]),
        win_rate=None if summary is None else float(summary["eval_win_rate"]),
        mean_return=None if summary is None else float(summary["eval_return"]),
        seconds=None if summary is None else float(summary["seconds"]),
        curve=curves["eval/win_rate"], host=host, spans=spans_of(stamps),
        return_curve=curves["eval/return"], random_return=next((v for _, v in curves["eval/random_return"]), None))


def load_sweep(folder: Path, env: str | None = None) -> Sweep:
    """All run folders directly under ``folder`` (only ``env``'s when given), sorted by map, method, seed."""
    if not folder.is_dir():
        raise SweepError(f"sweep folder {folder} does not exist (launch one with python -m decomp.train -m …, "
                         "or pass --sweep <folder>)")
    runs = [read_run(p) for p in sorted(folder.iterdir()) if (p / "config.yaml").exists()]
    if env is not None:
        runs = [r for r in runs if r.env == env]
    if not runs:
        raise SweepError(f"{folder} holds no {env + ' ' if env else ''}run folders (folders with a config.yaml)")
    seen: dict[tuple[str, str, int], Path] = {}
    for r in runs:
        key = (r.map_name, r.method, r.seed)
        if key in seen:
            raise SweepError(f"two runs of {r.map_name} / {r.method} / seed {r.seed} in {folder}: {seen[key].name} and "
                             f"{r.folder.name} (a sweep over other settings too?); report them from separate sweep folders")
        seen[key] = r.folder
    record = folder / "sweep.json"
    recorded = json.loads(record.read_text())["launches"] if record.exists() else []
    launches = tuple(in_todays_form(x, folder) for x in recorded)
    return Sweep(folder, tuple(sorted(runs, key=lambda r: (r.map_name, r.method, r.seed))), launches)


def in_todays_form(launch: dict[str, Any], folder: Path | None = None) -> dict[str, Any]:
    """A sweep.json launch with its command as it is given today (``mixer=`` -> ``method=``, ``env.map_name=`` ->
    ``map=``: :func:`decomp.config.compose.in_todays_keys`) and, when ``folder`` is given, with
    ``hydra.sweep.dir=`` naming that folder as the caller named it (a sweep folder moved since, or launched with
    this machine's absolute path), so a report shows a command that relaunches *this* sweep; the command as
    launched stays under ``recorded_as`` when it differs."""
    words = shlex.split(launch["command"])
    head = ["python", "-m", "decomp.train"]
    if words[:3] != head:
        return launch
    args = in_todays_keys(words[3:])
    if folder is not None:
        args = [f"hydra.sweep.dir={folder}" if a.startswith("hydra.sweep.dir=") else a for a in args]
    command = shlex.join(head + args)
    return launch if command == launch["command"] else {**launch, "command": command, "recorded_as": launch["command"]}
