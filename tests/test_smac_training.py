"""SMAC trainer on SMAX: end-to-end CLI run, resume, divergence handling; the slow learning check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from decomp.checkpoint import load_checkpoint
from decomp.compose import compose_config
from decomp.matrix import matrix_config
from decomp.trainer import Trainer, TrainingDiverged

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["env.n_envs=16", "env.eval_envs=16", "t_max=3200", "eval_interval=1600", "save_interval=1600",
         "log_interval=800", "batch_size=16", "buffer_size=500", "progress=false"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "decomp.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_qmix_on_smax_3m_end_to_end_and_resume(tmp_path: Path) -> None:
    res = cli("env=smac", "mixer=qmix", "run_name=smax", *SMALL, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "using SMAX (jaxmarl) re-implementation of map 3m" in res.stderr  # the loud fallback line
    run = tmp_path / "runs" / "smax"
    for name in ("config.yaml", "env_info.json", "metrics.csv", "learning_curve.png", "replay.npz",
                 "checkpoints/latest.pt", "checkpoints/best.pt", "summary.json"):
        assert (run / name).exists(), name
    metrics = (run / "metrics.csv").read_text()
    for key in ("eval/win_rate", "eval/return", "losses/td", "charts/steps_per_sec"):
        assert key in metrics, key
    replay = np.load(run / "replay.npz")
    assert replay["ally_pos"].shape[1:] == (3, 2) and replay["enemy_health"].shape[1] == 3
    before = load_checkpoint(run)
    assert before["env_steps"] >= 3200 and before["learner"]["updates"] > 0
    assert "final policy: test win rate" in res.stdout
    assert before["best"]["step"] in (1600, 3200) and before["best"]["weights"] is not None

    res = cli(f"resume={run}", "t_max=4800", "progress=false", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    after = load_checkpoint(run)
    assert after["env_steps"] >= 4800 and after["learner"]["updates"] > before["learner"]["updates"]
    n = before["buffer"]["count"]  # the replay continued: old episodes kept, new ones appended
    torch.testing.assert_close(after["buffer"]["data"]["actions"][:n], before["buffer"]["data"]["actions"][:n])
    assert after["buffer"]["episodes_added"] > before["buffer"]["episodes_added"]
    # the best policy survives the resume: kept unless a later evaluation beat it
    assert after["best"]["step"] >= before["best"]["step"]
    assert after["best"]["win_rate"] >= before["best"]["win_rate"]


def test_qatten_on_smax_logs_head_entropy_and_lambda(tmp_path: Path) -> None:
    cfg = compose_config(["env=smac", "env.backend=smax", "mixer=qatten", *SMALL])
    cfg.t_max, cfg.log_interval = 1600, 400
    run = tmp_path / "run"
    run.mkdir()
    Trainer(cfg, run_dir=run).run()
    metrics = (run / "metrics.csv").read_text()
    assert "qatten/head_entropy/0" in metrics and "qatten/lambda/2" in metrics


def test_resume_refuses_a_different_map(tmp_path: Path) -> None:
    cfg = compose_config(["env=smac", "env.backend=smax", "mixer=vdn", *SMALL])
    cfg.t_max = 800
    run = tmp_path / "run"
    run.mkdir()
    Trainer(cfg, run_dir=run).run()
    other = compose_config(["env=smac", "env.backend=smax", "env.map_name=2s3z", "mixer=vdn", *SMALL])
    with pytest.raises(Exception, match=r"obs_dim: checkpoint 75 vs env 127"):
        Trainer(other, run_dir=run, resume_from=run)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch) -> None:
    cfg = matrix_config("qtran", "qmix", seed=0, steps=3200, data="uniform", epsilon=0.2)
    cfg.save_interval = 640
    run = tmp_path / "run"
    run.mkdir()
    trainer = Trainer(cfg, run_dir=run)
    real_loss = trainer.learner.loss

    def poisoned(batch):
        loss, logs = real_loss(batch)
        return (loss * float("nan") if trainer.runner.env_steps > 1500 else loss), logs

    monkeypatch.setattr(trainer.learner, "loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at update \d+ \(env step 15\d\d\).*kept in") as err:
        trainer.run()
    kept = load_checkpoint(run)
    assert kept["env_steps"] == 1280 and f"env step {kept['env_steps']}" in str(err.value)


@pytest.mark.slow
def test_qmix_reaches_80_percent_on_3m_within_300k_steps(tmp_path: Path) -> None:
    cfg = compose_config(["env=smac", "env.backend=smax", "mixer=qmix", "t_max=300000", "progress=false"])
    run = tmp_path / "run"
    run.mkdir()
    summary = Trainer(cfg, run_dir=run).run()
    wins = [float(line.split(",")[3]) for line in (run / "metrics.csv").read_text().splitlines()
            if ",eval/win_rate," in line]
    # What the issue asks: a periodic greedy test evaluation (32 episodes, as pymarl reports) at >= 80 %.
    assert max(wins) >= 0.8, wins
    # And it was no lucky draw: those weights, re-evaluated on 128 fresh episodes, still win most
    # battles. (Measured 0.77-0.83 over runs: SMAX 3m plateaus near 80 % at this budget.)
    assert summary.best_policy_win_rate >= 0.7, (summary, wins)
    assert (run / "checkpoints" / "best.pt").exists()
