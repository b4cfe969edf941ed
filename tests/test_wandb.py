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


def csv_rows(run_dir: Path) -> list[tuple[int, str, float]]:
    with (run_dir / "metrics.csv").open() as fh:
        return [(int(r["step"]), r["key"], float(r["value"])) for r in csv.DictReader(fh)]


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


@needs_wandb
def test_logger_wandb_given_at_a_resume_gets_the_whole_history_offline(tmp_path: Path) -> None:
    """Real wandb, offline: a csv run resumed with logger=wandb holds every row of metrics.csv, the first too."""
    env = wandb_env(tmp_path)
    train = [sys.executable, "-m", "decomp.train", "progress=false"]
    first = subprocess.run([*train, "env=matrix", "method=vdn", "log_interval=320", "t_max=640", "logger=csv",
                            f"run_dir={tmp_path / 'runs'}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    more = subprocess.run([*train, f"resume={run}", "t_max=1280", "logger=wandb", "wandb.project=decomp-test"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert more.returncode == 0, more.stderr[-3000:]
    got = read_offline_run(run, env)
    logged = [(int(row["env_step"]), key, value) for row in got["history"] for key, value in row.items()
              if not key.startswith("_") and key != "env_step"]
    steps = {step for step, _, _ in logged}
    assert min(steps) <= 320 and max(steps) == 1280  # the csv phase's rows too, then the resumed run's
    assert_rows_of_metrics_csv(logged, run)
    assert got["run"]["project"] == "decomp-test"


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


# ---- resumed runs: W&B's history holds each (env step, key) once, from step 0 ---------------------------------
class FakeRun:
    """The part of a wandb Run the sink uses; its history lives in FakeWandb.histories (by run id), so a
    resumed run appends to the same list, as W&B's server-side history does."""

    offline, url = True, None

    def __init__(self, histories: dict[str, list[dict[str, float]]], run_id: str) -> None:
        self.history = histories.setdefault(run_id, [])
        self.summary: dict[str, Any] = {}

    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, row: dict[str, float]) -> None:
        self.history.append(dict(row))

    def finish(self) -> None:
        pass


class FakeWandb:
    def __init__(self) -> None:
        self.histories: dict[str, list[dict[str, float]]] = {}

    def init(self, *, id: str, **kwargs: Any) -> FakeRun:  # noqa: A002 - wandb's keyword
        return FakeRun(self.histories, id)

    def logged(self, run_dir: Path) -> list[tuple[int, str, float]]:
        """(env step, key, value) of every value the folder's W&B run received, in order, repeats included."""
        rows = self.histories[json.loads((run_dir / "wandb.json").read_text())["id"]]
        return [(int(r["env_step"]), k, v) for r in rows for k, v in r.items() if k != "env_step"]


class Killed(Exception):
    pass


def matrix_run(logger: str) -> Any:
    from decomp.training.matrix_lab import matrix_config

    cfg = matrix_config("two_step", "qmix", 3, 1280, "egreedy", 0.3)
    cfg.eval_interval, cfg.log_interval, cfg.save_interval, cfg.logger = 160, 64, 7 * 32, logger
    return cfg


def killed_past_checkpoint(cfg: Any, run: Path) -> tuple[int, int]:
    """Train in ``run`` until a metrics row lies 2 log intervals past the first checkpoint, then stop as a kill
    would. -> (checkpoint's env step, last logged env step)."""
    from decomp.training.trainer import Trainer

    trainer: Trainer

    def on_progress(_frac: float) -> None:
        saved = trainer.last_saved_step
        if saved is not None and max(s for seq in trainer.logger.history.values() for s, _ in seq) > saved + 128:
            raise Killed

    trainer = Trainer(cfg, run_dir=run, on_progress=on_progress)
    with pytest.raises(Killed):
        trainer.run()
    logged = max(s for seq in trainer.logger.history.values() for s, _ in seq)
    trainer.logger.close()
    return int(trainer.last_saved_step or 0), logged


def assert_rows_of_metrics_csv(got: list[tuple[int, str, float]], run_dir: Path) -> None:
    """``got`` holds every row of metrics.csv once (the final evaluation repeats t_max's keys in both), with its
    value; wall-clock rates may differ where a resumed run repeated steps the sink already had."""
    mine, theirs = sorted(got), sorted(csv_rows(run_dir))
    assert [(s, k) for s, k, _ in mine] == [(s, k) for s, k, _ in theirs]
    learned = [i for i, (_, key, _) in enumerate(theirs) if key != "charts/steps_per_sec"]
    assert [mine[i][2] for i in learned] == pytest.approx([theirs[i][2] for i in learned], rel=1e-5, abs=1e-6)


def test_a_killed_run_resumed_from_an_earlier_checkpoint_logs_each_step_to_wandb_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from decomp.training.trainer import Trainer

    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    saved, logged = killed_past_checkpoint(matrix_run("wandb"), tmp_path)
    assert logged > saved  # W&B got rows the resumed run will produce again
    record = json.loads((tmp_path / "wandb.json").read_text())
    assert record["logged_to"]["step"] == logged
    Trainer(matrix_run("wandb"), run_dir=tmp_path, resume_from=tmp_path).run()
    got = fake.logged(tmp_path)
    # every row of metrics.csv reached W&B once (the final evaluation repeats t_max's keys in both)
    assert_rows_of_metrics_csv(got, tmp_path)
    assert [s for s, _, _ in got] == sorted(s for s, _, _ in got)  # W&B's history only grows
    assert len(fake.histories) == 1  # one W&B run, continued


@pytest.mark.parametrize("later", ["wandb", "tensorboard"])
def test_a_sink_switched_on_at_a_resume_gets_the_run_so_far(later: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from decomp.training.trainer import Trainer

    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    saved, _ = killed_past_checkpoint(matrix_run("csv"), tmp_path)
    assert not (tmp_path / "tb").exists() and not (tmp_path / "wandb.json").exists()
    Trainer(matrix_run(later), run_dir=tmp_path, resume_from=tmp_path).run()
    assert min(s for s, _, _ in csv_rows(tmp_path)) == 0 < saved
    if later == "wandb":
        got = fake.logged(tmp_path)
    else:
        events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
        events.Reload()
        got = [(e.step, key, e.value) for key in events.Tags()["scalars"] for e in events.Scalars(key)]
    assert_rows_of_metrics_csv(got, tmp_path)


def test_a_wandb_record_from_before_logged_to_is_not_sent_the_history_again(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from decomp.training.trainer import Trainer

    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    saved, _ = killed_past_checkpoint(matrix_run("wandb"), tmp_path)
    record = json.loads((tmp_path / "wandb.json").read_text())
    del record["logged_to"]  # as written before it was kept: this W&B run logged from the start
    (tmp_path / "wandb.json").write_text(json.dumps(record))
    before = len(fake.logged(tmp_path))
    Trainer(matrix_run("wandb"), run_dir=tmp_path, resume_from=tmp_path).run()
    assert min(s for s, _, _ in fake.logged(tmp_path)[before:]) > saved


def test_resume_may_switch_the_logger_and_the_wandb_project(tmp_path: Path) -> None:
    from decomp.cli.run_folder import apply_overrides, refuse_changes
    from decomp.config.schema import ConfigError

    explicit = {"logger": "wandb", "wandb.project": "mine", "t_max": "640", "resume": "x"}
    refuse_changes(explicit)
    saved = compose_config(["env=matrix", "logger=csv"])
    asked = compose_config(["env=matrix", "logger=wandb", "wandb.project=mine", "t_max=640", "learner.lr=0.5"])
    apply_overrides(saved, asked, {**explicit, "learner.lr": "0.5"})
    assert (saved.logger, saved.wandb.project, saved.t_max) == ("wandb", "mine", 640)
    assert saved.learner.lr != 0.5  # not overridable: refuse_changes names it before this is reached
    with pytest.raises(ConfigError, match="cannot change learner.lr"):
        refuse_changes({**explicit, "learner.lr": "0.5"})


def test_a_key_logged_twice_at_the_top_step_is_skipped_only_as_often_as_wandb_has_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed between t_max's evaluation and the final one (both log eval/* at t_max): the second still goes."""
    from decomp.config.schema import WandbConfig
    from decomp.training.wandb_sink import WandbSink

    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    first = WandbSink(tmp_path, {}, WandbConfig())
    first.log(64, {"a": 1.0})
    first.log(128, {"eval/win_rate": 0.5, "b": 2.0})  # then killed; the checkpoint is at 64
    again = WandbSink(tmp_path, {}, WandbConfig())
    again.log(128, {"eval/win_rate": 0.5, "b": 2.0})  # repeated: W&B has it
    again.log(128, {"eval/win_rate": 0.75})  # the final evaluation: new
    again.log(192, {"a": 3.0})
    assert fake.logged(tmp_path) == [(64, "a", 1.0), (128, "eval/win_rate", 0.5), (128, "b", 2.0),
                                     (128, "eval/win_rate", 0.75), (192, "a", 3.0)]
