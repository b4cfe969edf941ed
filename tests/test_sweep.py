"""Sweeps on Hydra's launchers: deterministic job folders, skip finished jobs, resume killed ones.

The launcher runs use ``env=matrix`` (a job takes a second); the SMAX sweep through the same path,
with ``report smac`` on top, is in tests/test_smac_pipeline.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from decomp.cli.sweep import SweepRecord, clear_partial, config_differences, plan_job
from decomp.config.compose import SWEEP_NAME_EXCLUDES, compose_config, sweep_job_name
from decomp.config.schema import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MAPS = ("3m", "2s3z", "3s5z", "5m_vs_6m", "3s_vs_5z", "3s5z_vs_3s6z")


def sweep(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "decomp.train", "-m", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


# ---- job folders and decisions (no training) -----------------------------------------------------
def test_sweep_job_names_are_deterministic_and_unique_per_setting() -> None:
    assert sweep_job_name("smac", "qtran", "2s3z", "qatten", 0) == "smac-2s3z__qatten__0"
    assert sweep_job_name("matrix", "climbing", "3m", "vdn", 2) == "matrix-climbing__vdn__2"
    assert sweep_job_name("smac", "", "3m", "qmix", 1, "learner.lr=0.001") == "smac-3m__qmix__1__learner.lr=0.001"
    assert "/" not in sweep_job_name("smac", "", "3m", "qmix", 1, "x=a/b")
    assert sweep_job_name("smac", "", "3m", "iql", 0) == "smac-3m__none__0"  # IQL's folders from before the rename


def test_the_yaml_exclude_list_is_the_python_one() -> None:
    conf = OmegaConf.load(ROOT / "decomp" / "conf" / "config.yaml")
    assert tuple(conf.hydra.job.config.override_dirname.exclude_keys) == SWEEP_NAME_EXCLUDES


def _fake_run(folder: Path, cfg, steps: int | None = None, summary: bool = False) -> None:
    folder.mkdir(parents=True)
    OmegaConf.save(OmegaConf.structured(cfg), folder / "config.yaml")
    if steps is not None:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "latest.pt").write_bytes(b"")
    if summary:
        (folder / "summary.json").write_text(json.dumps({"env_steps": steps}))


def test_plan_skips_finished_resumes_killed_and_starts_new_jobs(tmp_path: Path) -> None:
    cfg = compose_config(["env=matrix", "method=vdn", "t_max=640"])
    _fake_run(tmp_path / "done", cfg, steps=640, summary=True)
    _fake_run(tmp_path / "killed", cfg, steps=320)
    assert plan_job(compose_config(["env=matrix", "method=vdn", "t_max=640"]), {}, tmp_path / "done").action == "skip"
    job = plan_job(compose_config(["env=matrix", "method=vdn", "t_max=640"]), {}, tmp_path / "killed")
    assert job.action == "resume" and job.cfg.resume == str(tmp_path / "killed") and "t_max" in job.explicit
    longer = plan_job(compose_config(["env=matrix", "method=vdn", "t_max=960"]), {"t_max": "960"}, tmp_path / "done")
    assert longer.action == "resume" and "extending" in longer.reason
    # where its metrics go: not another run
    wandb = ["env=matrix", "method=vdn", "t_max=640", "logger=wandb", "wandb.project=p"]
    relaunched = plan_job(compose_config(wandb), {"logger": "wandb", "wandb.project": "p"}, tmp_path / "killed")
    assert relaunched.action == "resume" and relaunched.explicit["logger"] == "wandb"
    fresh = plan_job(compose_config(["env=matrix", "method=vdn"]), {}, tmp_path / "new")
    assert fresh.action == "fresh" and fresh.cfg.run_name == "new" and fresh.cfg.threads == 1 and not fresh.cfg.progress


def test_plan_refuses_a_folder_holding_a_run_with_other_settings(tmp_path: Path) -> None:
    _fake_run(tmp_path / "job", compose_config(["env=matrix", "method=vdn", "learner.lr=0.01"]), steps=320)
    with pytest.raises(ConfigError, match=r"learner.lr: 0.01 in the folder vs 0.005 now.*hydra.sweep.dir"):
        plan_job(compose_config(["env=matrix", "method=vdn"]), {}, tmp_path / "job")


def test_plan_refuses_a_finished_run_with_other_settings_instead_of_skipping_it(tmp_path: Path) -> None:
    """A changed default (env=smac's regime) must not leave the old runs in the sweep as if they were its jobs."""
    old = compose_config(["env=smac", "regime=replay", "t_max=640"])
    _fake_run(tmp_path / "job", old, steps=640, summary=True)
    assert plan_job(compose_config(["env=smac", "regime=replay", "t_max=640"]), {}, tmp_path / "job").action == "skip"
    with pytest.raises(ConfigError, match=r"holds a finished run with other settings \(agent: 'rnn' in the folder vs "
                                          r"'rnn_ln' now;.*regime: 'replay' in the folder vs 'onpolicy_replay' now"):
        plan_job(compose_config(["env=smac", "t_max=640"]), {}, tmp_path / "job")


def test_plan_compares_only_the_keys_a_saved_config_holds(tmp_path: Path) -> None:
    """A key added after the run was saved (its file lacks it) is not a difference; one it holds is."""
    cfg = compose_config(["env=matrix", "method=coma", "t_max=640"])
    _fake_run(tmp_path / "job", cfg, steps=640, summary=True)
    saved = OmegaConf.load(tmp_path / "job" / "config.yaml")
    del saved.method.options["local_inputs"]
    saved.method.learner.mixed_policy = None
    OmegaConf.save(saved, tmp_path / "job" / "config.yaml")
    with pytest.raises(ConfigError, match=r"method.learner.mixed_policy: None in the folder vs False now"):
        plan_job(compose_config(["env=matrix", "method=coma", "t_max=640"]), {}, tmp_path / "job")
    del saved.method.learner["mixed_policy"]
    OmegaConf.save(saved, tmp_path / "job" / "config.yaml")
    assert plan_job(compose_config(["env=matrix", "method=coma", "t_max=640"]), {}, tmp_path / "job").action == "skip"


def test_config_differences_ignore_what_a_relaunch_may_change() -> None:
    a, b = compose_config(["env=matrix", "t_max=10"]), compose_config(["env=matrix", "t_max=20", "seed=1"])
    assert config_differences(a, b, ("t_max",)) == ["seed: 0 in the folder vs 1 now"]


def test_clear_partial_never_touches_a_resumable_run(tmp_path: Path) -> None:
    _fake_run(tmp_path / "job", compose_config(["env=matrix"]), steps=10)
    with pytest.raises(RuntimeError, match="refusing"):
        clear_partial(tmp_path / "job")
    _fake_run(tmp_path / "partial", compose_config(["env=matrix"]))
    (tmp_path / "partial" / "tb").mkdir()
    clear_partial(tmp_path / "partial")
    assert not any((tmp_path / "partial").iterdir())


def test_sweep_record_keeps_every_launch(tmp_path: Path, monkeypatch) -> None:
    conf = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "runtime": {"choices": {"hydra/launcher": "joblib"}}}})
    monkeypatch.setattr(sys, "argv", ["decomp/train.py", "-m", "env=smac", "seed=0,1"])
    for _ in range(2):
        rec = SweepRecord()
        rec.on_multirun_start(conf)
        rec.on_multirun_end(conf)
    launches = json.loads((tmp_path / "sweep.json").read_text())["launches"]
    assert len(launches) == 2 and launches[0]["command"] == "python -m decomp.train -m env=smac seed=0,1"
    assert launches[0]["launcher"] == "joblib" and launches[0]["seconds"] is not None and launches[0]["cores"]


def test_sweep_record_closes_its_own_launch_when_another_started_after_it(tmp_path: Path, monkeypatch) -> None:
    """Two sweeps into one folder at once (e.g. a cheap method beside a long sweep): each end record
    replaces its own start record, not the other launch's."""
    conf = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "runtime": {"choices": {"hydra/launcher": "joblib"}}}})
    first, second = SweepRecord(), SweepRecord()
    monkeypatch.setattr(sys, "argv", ["decomp/train.py", "-m", "method=qmix"])
    first.on_multirun_start(conf)
    monkeypatch.setattr(sys, "argv", ["decomp/train.py", "-m", "method=coma"])
    second.on_multirun_start(conf)
    second.on_multirun_end(conf)
    monkeypatch.setattr(sys, "argv", ["decomp/train.py", "-m", "method=qmix"])
    first.on_multirun_end(conf)
    launches = json.loads((tmp_path / "sweep.json").read_text())["launches"]
    assert [x["command"].split()[-1] for x in launches] == ["method=qmix", "method=coma"]
    assert all(x["seconds"] is not None for x in launches)


def test_active_spans_split_at_pauses_and_their_union_counts_overlaps_once(tmp_path: Path) -> None:
    from decomp.analysis.sweep_runs import active_spans, union_seconds

    csv = tmp_path / "metrics.csv"
    stamps = [1000, 1004, 1100, 1399, 2000, 2050]  # 1399 -> 2000 is a pause > 300 s: killed, resumed later
    csv.write_text("step,wall_time,key,value\n" + "".join(f"{i},{t},k,0\n" for i, t in enumerate(stamps)))
    assert active_spans(csv) == ((1000.0, 1399.0), (2000.0, 2050.0))
    assert active_spans(tmp_path / "missing.csv") == ()
    spans = [(0.0, 3600.0), (1800.0, 2400.0), (3000.0, 4200.0), (5000.0, 5060.0)]  # 2nd inside the 1st; 3rd adds 600
    assert union_seconds(spans) == pytest.approx(3600 + 600 + 60)


# ---- map presets -----------------------------------------------------------------------------------
@pytest.mark.parametrize("map_name", MAPS)
def test_every_map_preset_composes_and_cites_its_source(map_name: str) -> None:
    text = (ROOT / "decomp" / "conf" / "map" / f"{map_name}.yaml").read_text()
    assert "oxwhirl/smac docs/smac.md" in text  # what the map is
    assert "docs/benchmarks.md" in text or "pymarl2" in text  # where its settings come from
    preset = OmegaConf.to_container(OmegaConf.load(ROOT / "decomp" / "conf" / "map" / f"{map_name}.yaml"))
    assert isinstance(preset, dict) and preset.pop("env") == {"map_name": map_name} and preset  # the map and a setting
    cfg = compose_config(["env=smac", f"map={map_name}", "regime=replay"])  # the regime presets set the buffer after it
    assert cfg.env.map_name == map_name and all(getattr(cfg, k) == v for k, v in preset.items())
    assert compose_config(["env=smac", f"map={map_name}"]).t_max == preset["t_max"]


def test_every_map_decomp_runs_without_sc2_has_a_preset_that_names_it() -> None:
    """map=<name> is how a map is chosen, so every SMAX and SMAX+ map needs its file (the file sets env.map_name)."""
    from decomp.envs.smax import smax_map_names
    from decomp.envs.smax_plus import PLUS_MAP_NAMES

    files = {p.stem: p for p in (ROOT / "decomp" / "conf" / "map").glob("*.yaml")}
    assert set(smax_map_names()) | set(PLUS_MAP_NAMES) <= set(files)
    for name, path in files.items():
        assert OmegaConf.load(path).env.map_name == name and path.read_text().startswith("# @package _global_\n")


def test_map_preset_wins_over_the_regime_and_yields_to_the_method_and_the_command_line() -> None:
    assert compose_config(["env=smac"]).env.map_name == "3m"  # env=smac's default map preset
    assert compose_config(["env=smac", "map=2s3z"]).t_max == 1_000_000
    assert compose_config(["env=smac", "map=2s3z", "t_max=5000"]).t_max == 5000
    assert compose_config(["env=smac", "map=2s3z"]).buffer_size == 5000  # the regime's, where a map sets none
    assert compose_config(["env=smac", "map=2s3z", "regime=onpolicy"]).buffer_size == 512  # holds a round
    for regime in ("replay", "onpolicy_replay", "onpolicy"):  # what a map needs holds in every regime
        assert compose_config(["env=smac", "map=3s5z_vs_3s6z", f"regime={regime}"]).buffer_size == 2500
        assert compose_config(["env=smac", "map=bane_vs_bane", f"regime={regime}"]).buffer_size == 800  # memory
    assert compose_config(["env=smac", "map=3s5z_vs_3s6z"]).buffer_size == 2500
    assert compose_config(["env=smac", "map=3s5z_vs_3s6z", "method=coma"]).buffer_size == 32  # on-policy
    coma = compose_config(["env=smac", "map=2s3z", "method=coma", "buffer_size=64"])
    assert (coma.t_max, coma.buffer_size, coma.batch_size) == (1_000_000, 64, 32)  # map, command line, method


def test_the_map_is_chosen_with_map_and_the_old_keys_are_refused_with_what_to_give() -> None:
    with pytest.raises(ConfigError, match="env.map_name=2s3z disagrees with the map preset map=3m: .*give map=2s3z"):
        compose_config(["env=smac", "env.map_name=2s3z"])
    with pytest.raises(ConfigError, match="no preset for corridor .* add decomp/conf/map/corridor.yaml"):
        compose_config(["env=smac", "env.map_name=corridor"])
    assert compose_config(["env=smac", "map=2s3z", "env.map_name=2s3z"]).t_max == 1_000_000  # agreeing is fine
    with pytest.raises(ConfigError, match="map=2s3z is a SMAC map preset; it applies to env=smac, not env=matrix"):
        compose_config(["env=matrix", "+map=2s3z"])
    with pytest.raises(ConfigError, match=r"mixer=qatten,none: .*give method=qatten,iql\. Its options are method"):
        compose_config(["env=smac", "mixer=qatten,none"])
    with pytest.raises(ConfigError, match=r"give method\.options\.n_heads=8"):
        compose_config(["mixer.options.n_heads=8"])


# ---- real sweeps through Hydra's launchers (env=matrix) -----------------------------------------
def test_relaunch_skips_finished_jobs_and_resumes_a_killed_one(tmp_path: Path) -> None:
    """Jobs run one after the other (n_jobs=1); the sweep is killed while the second trains."""
    args = ["env=matrix", "env.game=qtran", "method=vdn,qmix", "seed=0", "t_max=16000", "save_interval=1600",
            "log_interval=1600", "hydra/launcher=joblib", "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={tmp_path / 'sw'}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "decomp.train", "-m", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    vdn, qmix = tmp_path / "sw" / "matrix-qtran__vdn__0", tmp_path / "sw" / "matrix-qtran__qmix__0"
    deadline = time.time() + 120
    while not (qmix / "checkpoints" / "latest.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (vdn / "summary.json").exists() and (qmix / "checkpoints" / "latest.pt").exists()
    assert not (qmix / "summary.json").exists(), "the second job finished before it could be killed"
    res = sweep(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "sweep job matrix-qtran__vdn__0: finished (16,000 env steps, summary.json), skipped" in res.stderr
    assert "sweep job matrix-qtran__qmix__0: resuming a killed run" in res.stderr
    assert f"resuming {qmix} at env step" in res.stderr
    assert json.loads((qmix / "summary.json").read_text())["env_steps"] == 16000
    assert sorted(p.name for p in (tmp_path / "sw").iterdir() if p.is_dir()) == [qmix.name, vdn.name]
    launches = json.loads((tmp_path / "sw" / "sweep.json").read_text())["launches"]
    assert len(launches) == 2 and launches[0]["seconds"] is None and launches[1]["seconds"] is not None


def test_submitit_local_runs_the_same_sweep_and_a_failing_job_fails_the_sweep(tmp_path: Path) -> None:
    """Two jobs through submitit's local executor; then a bad job (Hydra's basic launcher) fails the sweep."""
    res = sweep("env=matrix", "env.game=qtran,climbing", "method=vdn", "seed=0", "t_max=640",
                "hydra/launcher=submitit_local", f"hydra.sweep.dir={tmp_path / 'sw'}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for name in ("matrix-qtran__vdn__0", "matrix-climbing__vdn__0"):
        host = json.loads((tmp_path / "sw" / name / "host.json").read_text())
        assert (tmp_path / "sw" / name / "summary.json").exists() and host["launches"][0]["threads"] == 1
    bad = sweep("env=matrix", "method=vdn", "seed=0", "t_max=0", f"hydra.sweep.dir={tmp_path / 'bad'}", cwd=tmp_path)
    assert bad.returncode != 0 and "t_max must be a positive integer" in bad.stderr


def test_a_run_stopped_between_its_last_checkpoint_and_its_summary_is_finished_on_resume(tmp_path: Path,
                                                                                         capsys) -> None:
    """The last periodic checkpoint can land at t_max before the final evaluation: resuming must finish it."""
    from decomp.cli.train import train

    cfg = compose_config(["env=matrix", "method=vdn", "t_max=640", "save_interval=320", "progress=false",
                          f"run_dir={tmp_path}", "run_name=r"])
    assert train(cfg) == 0
    (tmp_path / "r" / "summary.json").unlink()  # as if killed during the final evaluation
    assert train(compose_config([f"resume={tmp_path / 'r'}"]), {"resume": str(tmp_path / "r")}) == 0
    assert "finishing its final evaluation" in capsys.readouterr().err
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["env_steps"] == 640
    with pytest.raises(ConfigError, match="already reached t_max=640"):
        train(compose_config([f"resume={tmp_path / 'r'}"]), {"resume": str(tmp_path / "r")})
