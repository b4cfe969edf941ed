"""SMAC trainer on SMAX: end-to-end CLI run, resume, divergence handling; the slow learning check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from decomp.training.checkpoint import CheckpointError, load_checkpoint
from decomp.config.compose import compose_config
from decomp.training.matrix_lab import matrix_config
from decomp.training.trainer import Trainer, TrainingDiverged

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["env.n_envs=16", "env.eval_envs=16", "t_max=3200", "eval_interval=1600", "save_interval=1600",
         "log_interval=800", "batch_size=16", "buffer_size=500", "progress=false"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "decomp.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_qmix_on_smax_3m_end_to_end_and_resume(tmp_path: Path) -> None:
    res = cli("env=smac", "method=qmix", "run_name=smax", *SMALL, cwd=tmp_path)
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
    old = before["buffer"]["packed"]["actions"]  # the replay continued: old episodes kept, new ones appended
    torch.testing.assert_close(after["buffer"]["packed"]["actions"][: len(old)], old)
    assert after["buffer"]["episodes_added"] > before["buffer"]["episodes_added"]
    # the best policy survives the resume: kept unless a later evaluation beat it
    assert after["best"]["step"] >= before["best"]["step"]
    assert after["best"]["win_rate"] >= before["best"]["win_rate"]


def test_qatten_on_smax_logs_head_entropy_and_lambda(tmp_path: Path) -> None:
    cfg = compose_config(["env=smac", "env.backend=smax", "method=qatten", *SMALL])
    cfg.t_max, cfg.log_interval = 1600, 400
    run = tmp_path / "run"
    run.mkdir()
    Trainer(cfg, run_dir=run).run()
    metrics = (run / "metrics.csv").read_text()
    assert "qatten/head_entropy/0" in metrics and "qatten/lambda/2" in metrics


def test_resume_refuses_a_different_map(tmp_path: Path) -> None:
    cfg = compose_config(["env=smac", "env.backend=smax", "method=vdn", *SMALL])
    cfg.t_max = 800
    run = tmp_path / "run"
    run.mkdir()
    Trainer(cfg, run_dir=run).run()
    other = compose_config(["env=smac", "env.backend=smax", "map=2s3z", "method=vdn", *SMALL])
    with pytest.raises(CheckpointError, match=r"obs_dim: checkpoint 75 vs env 127"):
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
def test_qmix_wins_most_3m_battles_at_300k_steps(tmp_path: Path) -> None:
    """The default command: the FINAL policy over 128 fresh episodes, not the best of ~30 evaluations."""
    cfg = compose_config(["env=smac", "env.backend=smax", "method=qmix", "t_max=300000", "threads=1", "progress=false"])
    run = tmp_path / "run"
    run.mkdir()
    summary = Trainer(cfg, run_dir=run).run()
    # Measured finals of this command (128 battles, threads=1): env=smac's default regime onpolicy_replay
    # (handover at 150k) seeds 0-2 0.852 / 0.875 / 0.789 (docs/benchmarks.md, "On-policy, then replay"); the
    # replay preset before it 0.875 / 0.828 / 0.789 (committed sweep results/smac_table_replay).
    # An untrained greedy policy wins ~0.44 (SE 0.044 over 128 battles), so 0.7 is ~6 SE above it and
    # 2.5 SE below the weakest measured seed (0.8 sat on the plateau's edge: flaky rather than hollow); the
    # on-policy phase alone ends at 0.71-0.73, so a handover that never happened fails more often than not.
    assert summary.eval_win_rate >= 0.7, summary


@pytest.mark.slow
def test_qmix_wins_2s3z_where_independent_learners_do_not(tmp_path: Path) -> None:
    """The map preset's command (1M env steps): the FINAL policy over 128 fresh battles wins >= 90 %.

    Measured finals of this command with env=smac's default regime onpolicy_replay (threads=1, 128 battles;
    docs/benchmarks.md, "On-policy, then replay"): QMIX seeds 0-2 0.977 / 0.953 / 0.977 (return 19.7 / 19.5 /
    19.7); IQL (method=iql) 0.523 / 0.797 / 0.352 (return 14.5 / 17.7 / 12.1). With the replay preset before it
    (committed sweep results/smac_table_replay): QMIX 0.945 / 0.969 / 0.961, IQL 0.586 / 0.711 / 0.867. An
    untrained greedy policy wins 0 of 128 (return 0-6). 0.9 is 2.8 standard errors (0.019 at 0.953) below the
    weakest QMIX seed and above every IQL seed, so a learner that lost QMIX's mixing, or learned several times
    slower, fails.
    """
    cfg = compose_config(["env=smac", "env.backend=smax", "map=2s3z", "method=qmix", "threads=1",
                          "progress=false"])
    assert cfg.t_max == 1_000_000  # the map preset's budget: the measurements above are at it
    run = tmp_path / "run"
    run.mkdir()
    summary = Trainer(cfg, run_dir=run).run()
    assert summary.eval_win_rate >= 0.9, summary
    assert summary.eval_return >= 18.0, summary  # measured 19.7 / 19.5 / 19.7 (IQL 14.5 / 17.7 / 12.1)


def _metrics_without_clock(run: Path) -> list[str]:
    """metrics.csv minus what measures the clock (wall_time column, steps per second)."""
    rows = []
    for line in (run / "metrics.csv").read_text().splitlines():
        step, _wall, key, value = line.split(",")
        if key != "charts/steps_per_sec":
            rows.append(f"{step},{key},{value}")
    return rows


def test_same_seed_and_threads_give_the_same_metrics(tmp_path: Path) -> None:
    """Reproducibility: two SMAX runs with one command, seed and thread count write identical metrics."""
    runs = []
    for name in ("a", "b"):
        cfg = compose_config(["env=smac", "env.backend=smax", "method=qmix", "threads=1", *SMALL])
        run = tmp_path / name
        run.mkdir()
        Trainer(cfg, run_dir=run).run()
        runs.append(_metrics_without_clock(run))
    assert len(runs[0]) > 50 and any(",losses/td," in r for r in runs[0])
    assert runs[0] == runs[1]


def test_evaluation_logs_the_failure_diagnostics(tmp_path: Path) -> None:
    """Action kinds, allies alive, damage, Q_tot against the discounted return, the random baseline."""
    cfg = compose_config(["env=smac", "env.backend=smax", "method=qmix", *SMALL])
    cfg.t_max = 1600
    run = tmp_path / "run"
    run.mkdir()
    Trainer(cfg, run_dir=run).run()
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    last = {key: float(value) for _, _, key, value in rows}
    fracs = [last[f"eval/frac_{k}"] for k in ("move", "stop", "attack")]
    assert all(0.0 <= f <= 1.0 for f in fracs) and abs(sum(fracs) - 1.0) < 1e-6
    assert 0.0 <= last["eval/allies_alive"] <= 3.0 and 0.0 <= last["eval/enemy_health_lost"] <= 1.0
    assert np.isfinite(last["eval/q_tot"]) and last["eval/discounted_return"] >= 0.0
    assert last["eval/random_return"] > 0.0  # acting at random on 3m deals some damage
    # a won episode removed all enemy health: damage is at least the win rate
    assert last["eval/enemy_health_lost"] >= last["eval/win_rate"] - 1e-6


def test_warns_once_when_greedy_stays_below_random(tmp_path: Path, capsys) -> None:
    cfg = compose_config(["env=smac", "env.backend=smax", "method=qmix", *SMALL])
    cfg.t_max, cfg.eval_interval, cfg.epsilon_anneal_steps = 3200, 400, 400
    trainer = Trainer(cfg)
    trainer.progress_check.random_return = 1e9  # no policy can beat this: every evaluation counts as below random
    trainer.run()
    err = capsys.readouterr().err
    assert err.count("has stayed below the random policy's") == 1
