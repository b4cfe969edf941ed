"""The real entry point, run in a subprocess like a user would (CleanRL-style smoke tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "decomp.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_matrix_qtran_prints_an_optimal_greedy_action(tmp_path: Path) -> None:
    res = cli("env=matrix", "env.game=qtran", "method=qtran", "seed=3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "greedy joint action: (0, 0)" in res.stdout and ": OPTIMAL)" in res.stdout
    assert "learned Q_jt" in res.stdout and "Q^1:" in res.stdout and "Q^2:" in res.stdout
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    for name in ("config.yaml", "metrics.csv", "checkpoints/latest.pt", "heatmap.png", "summary.json", "tb"):
        assert (runs[0] / name).exists(), name
    assert "method:\n  name: qtran" in (runs[0] / "config.yaml").read_text()


def test_unknown_names_list_the_valid_ones(tmp_path: Path) -> None:
    res = cli("method=qmixx", cwd=tmp_path)
    assert res.returncode != 0 and "qmixx" in res.stderr and "qatten" in res.stderr
    res = cli("env=matrix", "env.game=nope", cwd=tmp_path)
    assert res.returncode == 2 and "valid games:" in res.stderr and "climbing" in res.stderr


def test_bad_budgets_are_refused_before_any_work(tmp_path: Path) -> None:
    for arg, msg in (("t_max=0", "t_max must be a positive integer"),
                     ("epsilon_finish=1.5", "epsilon_finish must lie in [0, 1]"),
                     ("data=greedy", "allowed: egreedy, uniform")):
        res = cli("env=matrix", arg, cwd=tmp_path)
        assert res.returncode == 2 and msg in res.stderr, res.stderr
    assert not (tmp_path / "runs").exists()


def test_killed_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "decomp.train", "env=matrix", "method=vdn", "t_max=400000",
            "save_interval=3200", "run_name=killme", "progress=false"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "runs" / "killme" / "checkpoints" / "latest.pt"
    deadline = time.time() + 90
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists()
    sys.path.insert(0, str(ROOT))
    from decomp.training.checkpoint import load_checkpoint

    step = load_checkpoint(ckpt)["env_steps"]
    assert 0 < step < 400000
    res = cli(f"resume={tmp_path / 'runs' / 'killme'}", f"t_max={step + 6400}", "progress=false", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"resuming {tmp_path / 'runs' / 'killme'} at env step {step:,}" in res.stderr
    assert load_checkpoint(ckpt)["env_steps"] == step + 6400
    assert not list(ckpt.parent.glob(".*.tmp"))  # no half-written files left behind


@pytest.mark.parametrize("module", ["decomp.train", "decomp.evaluate", "decomp.report", "decomp.compact",
                                    "decomp.battle"])
def test_every_cli_answers_help_with_its_usage(module: str) -> None:
    """``--help`` prints how to call the program and exits 0 (evaluate used to say "cannot read '--help'")."""
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "error" not in text.lower().split("\n")[0]
    assert {"decomp.train": "method:", "decomp.evaluate": "run=", "decomp.report": "matrix,smac",
            "decomp.compact": "python -m decomp.compact", "decomp.battle": "python -m decomp.battle run="}[module] in text
