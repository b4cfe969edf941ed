"""benchmarks/time_to_win.py: minutes to a win rate count the minutes a run trained, not the time it lay killed."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest


def _run(folder: Path, launched: float, rows: list[tuple[int, float, float]]) -> None:
    """A run folder with launch.json and eval/win_rate rows (step, wall time, win rate)."""
    folder.mkdir()
    (folder / "launch.json").write_text(json.dumps({"launched": launched, "ended": rows[-1][1]}))
    body = "".join(f"{s},{t},eval/win_rate,{w}\n" for s, t, w in rows)
    (folder / "metrics.csv").write_text("step,wall_time,key,value\n" + body)


def test_a_killed_and_resumed_run_is_timed_by_the_minutes_it_trained(tmp_path: Path) -> None:
    ttw = importlib.import_module("benchmarks.time_to_win")  # the repo root is on sys.path (conftest)
    # trains 0-600 s, killed, resumed at 1800 s (a 1,200 s silence: > PAUSE_SECONDS) and redoes step 200
    _run(tmp_path / "run", 0.0, [(100, 300.0, 0.2), (200, 600.0, 0.5), (200, 1800.0, 0.6), (300, 2100.0, 0.9)])
    curve = ttw.timed_curve(tmp_path / "run")
    assert [(round(m, 6), s, w) for m, s, w in curve] == [(5.0, 100, 0.2), (10.0, 200, 0.6), (15.0, 300, 0.9)]
    assert ttw.first_at(curve, 0.8) == (pytest.approx(15.0), 300)
    _run(tmp_path / "straight", 0.0, [(100, 300.0, 0.2), (200, 600.0, 0.9)])
    assert [(round(m, 6), s, w) for m, s, w in ttw.timed_curve(tmp_path / "straight")] == [(5.0, 100, 0.2),
                                                                                           (10.0, 200, 0.9)]


def test_report_takes_a_preset_and_seed_from_the_first_folder_given(tmp_path: Path, capsys) -> None:
    ttw = importlib.import_module("benchmarks.time_to_win")
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir(), old.mkdir()
    _run(new / "3s5z__replay32__qmix__0", 0.0, [(100, 60.0, 0.9)])  # reaches 80 % after 1 minute
    _run(old / "3s5z__replay32__qmix__0", 0.0, [(100, 600.0, 0.9)])  # the same preset and seed, 10 minutes
    _run(old / "3s5z__other__qmix__0", 0.0, [(100, 120.0, 0.9)])
    args = ttw.argparse.Namespace(out=[str(new), str(old)], map="3s5z", method="qmix", base="replay32", fig=None)
    assert ttw.cmd_report(args) == 0
    out = capsys.readouterr().out
    assert f"left out {old / '3s5z__replay32__qmix__0'}" in out
    assert "| replay32 | 0 | 1.0 (100) | 1.0 (100) |" in out and "| other | 0 | 2.0 (100) |" in out
