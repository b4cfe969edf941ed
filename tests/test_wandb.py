"""logger=wandb: a sweep's offline W&B runs hold the config, the metrics of metrics.csv and the summary,
grouped by the sweep folder; without wandb installed the run is refused naming the extra to install."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from decomp.config.compose import compose_config
from decomp.config.schema import ConfigError
from decomp.training.wandb_sink import group_of

ROOT = Path(__file__).resolve().parents[1]
HAS_WANDB = importlib.util.find_spec("wandb") is not None
needs_wandb = pytest.mark.skipif(not HAS_WANDB, reason="wandb is not installed (pip install 'decomp[wandb]')")


def wandb_env(tmp: Path) -> dict[str, str]:
    """Offline, and every file W&B writes outside the run folder kept under ``tmp``."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline", "WANDB_SILENT": "true",
            "WANDB_CONFIG_DIR": str(tmp / "wb_config"), "WANDB_CACHE_DIR": str(tmp / "wb_cache"),
            "WANDB_DATA_DIR": str(tmp / "wb_data")}


def read_offline_run(run_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """The run record, the history rows and the merged summary of the run's offline ``.wandb`` log, read by
    wandb's own reader (``wandb leet inspect --json``: one JSON record per line)."""
    (log,) = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(log)], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    run = next(r["run"] for r in records if r["type"] == "run")
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    summary: dict[str, Any] = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"]["update"])
    return {"run": run, "history": history, "summary": summary}


def csv_metrics(run_dir: Path) -> dict[tuple[int, str], float]:
    with (run_dir / "metrics.csv").open() as fh:
        return {(int(r["step"]), r["key"]): float(r["value"]) for r in csv.DictReader(fh)}


@needs_wandb
def test_a_sweep_writes_grouped_offline_runs_with_config_metrics_and_summary(tmp_path: Path) -> None:
    env = wandb_env(tmp_path)
    sweep = tmp_path / "study"
    cmd = [sys.executable, "-m", "decomp.train", "-m", "env=matrix", "method=vdn", "seed=0,1", "t_max=1280",
           "log_interval=320", "logger=wandb", "wandb.project=decomp-test", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for seed in (0, 1):
        folder = sweep / f"matrix-qtran__vdn__{seed}"  # logger= and wandb.* stay out of the job's folder name
        got = read_offline_run(folder, env)
        run = got["run"]
        assert run["run_group"] == "study" and run["project"] == "decomp-test" and run["display_name"] == folder.name
        assert run["run_id"] == json.loads((folder / "wandb.json").read_text())["id"]
        config = run["config"]["update"]
        assert config["seed"] == seed and config["method"]["name"] == "vdn" and config["logger"] == "wandb"
        assert config["t_max"] == 1280 and config["learner"]["lr"] == 0.005  # the matrix preset's, resolved
        # every row of metrics.csv is in the W&B history at the same env step, with the same value
        logged = {(int(row["env_step"]), key): value for row in got["history"] for key, value in row.items()
                  if not key.startswith("_") and key != "env_step"}
        expected = csv_metrics(folder)
        assert {"charts/episode_return", "losses/td", "eval/win_rate"} <= {key for _, key in expected}
        assert logged.keys() == expected.keys()
        assert all(logged[k] == pytest.approx(v, rel=1e-5, abs=1e-6) for k, v in expected.items())
        summary = json.loads((folder / "summary.json").read_text())
        for key in ("env_steps", "updates", "eval_win_rate", "eval_return"):
            assert got["summary"][key] == pytest.approx(summary[key]), key


def test_group_is_the_sweep_or_seed_group_folder_unless_given(tmp_path: Path) -> None:
    lone = tmp_path / "runs" / "matrix-qtran__qmix__0__20261206-101500"
    assert group_of(lone, "") is None
    for record in ("sweep.json", "group.json"):
        folder = tmp_path / record.removesuffix(".json")
        folder.mkdir()
        (folder / record).write_text("{}")
        assert group_of(folder / "run", "") == folder.name
        assert group_of(folder / "run", "mine") == "mine"


def test_missing_wandb_is_refused_naming_the_extra_and_leaves_no_run_folder(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from decomp.cli.train import train

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError, as when absent
    cfg = compose_config(["env=matrix", "logger=wandb", "t_max=64", f"run_dir={tmp_path / 'runs'}", "progress=false"])
    with pytest.raises(ConfigError, match=r"pip install 'decomp\[wandb\]'"):
        train(cfg)
    assert list((tmp_path / "runs").iterdir()) == []


def test_unknown_logger_lists_the_choices() -> None:
    from decomp.config.validation import validate

    with pytest.raises(ConfigError, match="logger='mlflow'; allowed: csv, tensorboard, wandb"):
        validate(compose_config(["logger=mlflow"]))


def test_logger_csv_writes_no_tensorboard_folder(tmp_path: Path) -> None:
    from decomp.training.trainer import Trainer

    cfg = compose_config(["env=matrix", "logger=csv", "t_max=64", "progress=false"])
    Trainer(cfg, run_dir=tmp_path).run()
    assert (tmp_path / "metrics.csv").exists() and not (tmp_path / "tb").exists()
