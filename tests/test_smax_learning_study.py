"""benchmarks/smax_learning.py: the learning study is launched as the table's Hydra sweep and read back from it."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from decomp.analysis.sweep_runs import load_sweep

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "results" / "smac_table_replay"


def study_module():
    return importlib.import_module("benchmarks.smax_learning")  # the repo root is on sys.path (conftest)


def test_run_launches_the_study_as_hydra_sweeps_into_one_folder(tmp_path: Path) -> None:
    study = study_module()
    cmds = study.sweep_commands(tmp_path, 2, {"2s3z"})
    assert cmds and all(c[1:4] == ["-m", "decomp.train", "-m"] for c in cmds)
    assert all(f"hydra.sweep.dir={tmp_path}" in c and "hydra/launcher=joblib" in c for c in cmds)
    assert all("map=2s3z" in c for c in cmds)  # --only filters maps
    seeds = {s for c in cmds for a in c if a.startswith("seed=") for s in a[5:].split(",")}
    assert seeds == {"0", "1", "2"}


@pytest.mark.skipif(not (SWEEP / "sweep.json").exists(), reason="the committed sweep folder results/smac_table_replay is absent")
def test_report_reads_the_committed_sweep(tmp_path: Path, capsys) -> None:
    study = study_module()
    assert study.main(["report", "--sweep", str(SWEEP), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    chosen = [r for r in load_sweep(SWEEP, env="smac").runs if study.in_study(r)]
    assert {(r.map_name, r.method) for r in chosen} >= {("3m", "qmix"), ("2s3z", "qmix")}
    assert all(r.method not in ("coma", "qtran", "iql") for r in chosen)  # the study's methods only
    for run in chosen:
        if run.finished:  # every finished seed's row carries its summary's final win rate
            s = json.loads((run.folder / "summary.json").read_text())
            assert f"| {run.map_name} | {run.method} | {run.seed} | {s['env_steps']:,} | {s['eval_win_rate']:.3f} |" in out
    assert {p.name for p in tmp_path.glob("*.png")} >= {"smax_learning_3m.png", "smax_learning_2s3z.png"}
