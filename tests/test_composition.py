"""One method unit: Hydra composes everything a run uses, so ``--cfg job`` prints what runs; old runs still load.

For every method on the matrix game, SMAC 3m and SMAC 3s5z (QTRAN and COMA bring run settings of their own on
SMAC), the config that ``python -m decomp.train … --cfg job --resolve`` prints equals the config.yaml the same
command's run writes. Both go through the CLI's entry point (``decomp.cli.train.main``, Hydra's app) in one fresh
process, the trainer replaced by a stub that only records (SMAX would compile for minutes): nothing is applied
between Hydra and the trainer. A real ``python -m decomp.train`` matrix run writes the config its ``--cfg job``
printed.

A run folder written before ``mixer:`` became ``method:`` (IQL saved as ``none``) resumes, loads and is
recognised by a relaunched sweep.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import yaml

from decomp.cli.sweep import plan_job
from decomp.config.compose import compose_config, in_todays_keys, sweep_job_name
from decomp.core.methods import METHODS

ROOT = Path(__file__).resolve().parents[1]
PLACES = (("env=matrix",), ("env=smac", "map=3m"), ("env=smac", "map=3s5z"))
CASES = [(*place, f"method={m}") for m in sorted(METHODS) for place in PLACES] + [
    ("env=smac", "map=3s5z", "method=qtran", "hidden_dim=128"),  # QTRAN's Q_jt width follows the agents' (${hidden_dim})
    ("env=smac", "map=3s5z_vs_3s6z", "method=coma", "learner.td_lambda=0.5"),  # map < method < command line
    ("env=smac", "map=2s3z", "method=qmix", "regime=onpolicy"),
]


class _RecordingTrainer:
    """Stands in for the Trainer: the CLI writes config.yaml from the config it hands over, nothing is trained."""

    def __init__(self, cfg: object, run_dir: Path, resume_from: Path | None = None) -> None:
        self.info = types.SimpleNamespace(as_dict=dict)

    def run(self) -> None:
        return None


def record_cli_configs(out: Path, cases: list[list[str]]) -> None:
    """Run in a fresh process (Hydra's entry point sets up logging for the whole process): for each case, what
    ``--cfg job --resolve`` prints and the config.yaml the same command's run writes, through ``main()``."""
    import decomp.cli.train as cli_train

    cli_train.Trainer, cli_train.report_run = _RecordingTrainer, lambda *a: None  # type: ignore[assignment]
    cli_train.keep_freed_memory = lambda: None  # type: ignore[assignment]
    for i, case in enumerate(cases):
        args = [*case, f"run_dir={out}", f"run_name=r{i}", "progress=false"]
        sys.argv = ["decomp.train", *args, "--cfg", "job", "--resolve"]
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            cli_train.main()
        (out / f"r{i}.printed.yaml").write_text(printed.getvalue())
        sys.argv = ["decomp.train", *args]
        cli_train.main()


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res


def test_cfg_job_prints_the_config_every_method_runs_with(tmp_path: Path) -> None:
    _python("-c", f"import json, sys, test_composition as t; t.record_cli_configs(t.Path(sys.argv[1]), "
                  f"json.loads(sys.argv[2]))", str(tmp_path), json.dumps([list(c) for c in CASES]), cwd=tmp_path)
    written = {}
    for i, case in enumerate(CASES):
        printed = yaml.safe_load((tmp_path / f"r{i}.printed.yaml").read_text())
        written[case] = yaml.safe_load((tmp_path / f"r{i}" / "config.yaml").read_text())
        assert printed == written[case], case
        assert written[case]["method"]["name"] == next(a for a in case if a.startswith("method="))[len("method="):]
    qtran, coma = written[CASES[-3]], written[CASES[-2]]
    assert qtran["method"]["options"]["hidden_dim"] == 128 and qtran["method"]["learner"]["nopt_weight"] == 0.1
    assert (coma["t_max"], coma["buffer_size"], coma["learner"]["td_lambda"]) == (5_000_000, 32, 0.5)
    assert written[CASES[-1]]["t_max"] == 1_000_000 and written[CASES[-1]]["buffer_size"] == 512  # the regime's (no map sets it)


def test_the_command_prints_what_its_real_run_writes(tmp_path: Path) -> None:
    """The same through ``python -m decomp.train`` itself, with the real trainer (a short matrix run)."""
    matrix = ("env=matrix", "method=qtran", "t_max=640", "progress=false", "run_name=m")
    printed = yaml.safe_load(_python("-m", "decomp.train", *matrix, "--cfg", "job", "--resolve", cwd=tmp_path).stdout)
    _python("-m", "decomp.train", *matrix, cwd=tmp_path)
    assert printed == yaml.safe_load((tmp_path / "runs" / "m" / "config.yaml").read_text())


def test_the_old_mixer_key_is_refused_by_the_command_with_the_method_override_to_give(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "decomp.train", "env=matrix", "mixer=qatten"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and not (tmp_path / "runs").exists()
    assert "error: mixer=qatten: the method is chosen with method=" in res.stderr and "give method=qatten" in res.stderr


@pytest.mark.parametrize("old, new", [("mixer=none,qmix", "method=iql,qmix"),
                                      ("mixer.options.n_heads=8", "method.options.n_heads=8"),
                                      ("+mixer.learner.alpha=1", "+method.learner.alpha=1")])
def test_every_form_of_the_old_key_names_its_replacement(old: str, new: str) -> None:
    with pytest.raises(ValueError, match="the method is chosen with method=") as err:
        compose_config(["env=smac", old])
    assert f"give {new}." in str(err.value) and "method.options.*, method.learner.*" in str(err.value)


@pytest.mark.parametrize("old, new", [
    # a sweep launched before method= and map=: both keys rewritten, the rest kept in order
    (["-m", "env=smac", "env.map_name=3m,2s3z", "mixer=qatten,none", "seed=0,1", "hydra/launcher=joblib"],
     ["-m", "env=smac", "map=3m,2s3z", "method=qatten,iql", "seed=0,1", "hydra/launcher=joblib"]),
    (["env=smac", "map=2s3z", "env.map_name=2s3z"], ["env=smac", "map=2s3z", "env.map_name=2s3z"]),  # map= given
    (["env=smac", "env.map_name=4m_vs_5m"], ["env=smac", "env.map_name=4m_vs_5m"]),  # no preset: left to check_map
    (["env=matrix", "mixer.learner.alpha=1"], ["env=matrix", "method.learner.alpha=1"]),
])
def test_an_older_command_line_in_todays_keys(old: list[str], new: list[str]) -> None:
    assert in_todays_keys(old) == new


def test_an_older_sweep_command_in_todays_keys_names_the_same_job_folders() -> None:
    """``env=smac env.map_name=2s3z mixer=none`` made smac-2s3z__none__0; today's form of it makes the same folder."""
    cfg = compose_config(in_todays_keys(["env=smac", "env.map_name=2s3z", "mixer=none", "seed=0"]))
    assert (cfg.env.map_name, cfg.method.name) == ("2s3z", "iql")
    assert sweep_job_name(cfg.env.name, cfg.env.game, cfg.env.map_name, cfg.method.name, cfg.seed) == "smac-2s3z__none__0"


# ---- run folders saved before the rename ----------------------------------------------------------
def _to_old_format(cfg: dict) -> dict:
    """A config as decomp saved it when the method was the ``mixer:`` node and IQL was ``none``."""
    old = {k: v for k, v in cfg.items() if k != "method"}
    old["mixer"] = {**cfg["method"], "name": "none" if cfg["method"]["name"] == "iql" else cfg["method"]["name"]}
    return old


def _make_old_run(folder: Path) -> None:
    """Rewrite a finished run's config.yaml and its checkpoints' copies into the old format."""
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert "method" in config
    (folder / "config.yaml").write_text(yaml.safe_dump(_to_old_format(config), sort_keys=False))
    for ckpt in (folder / "checkpoints").glob("*.pt"):
        payload = torch.load(ckpt, weights_only=False)
        payload["config"] = _to_old_format(payload["config"])
        torch.save(payload, ckpt)
    (folder / "summary.json").unlink()  # as if killed after its last checkpoint: resuming finishes it


def test_a_run_folder_saved_before_the_rename_resumes_loads_and_is_the_same_sweep_job(tmp_path: Path) -> None:
    from decomp.analysis.sweep_runs import read_run
    from decomp.cli.train import train
    from decomp.training.checkpoint import load_checkpoint, load_model

    args = ["env=matrix", "env.game=climbing", "method=iql", "seed=0", "t_max=640", "save_interval=320",
            "eval_interval=320", "progress=false", f"run_dir={tmp_path}", "run_name=matrix-climbing__none__0"]
    folder = tmp_path / "matrix-climbing__none__0"
    assert train(compose_config(args)) == 0
    _make_old_run(folder)
    assert "mixer:\n  name: none" in (folder / "config.yaml").read_text()
    assert read_run(folder).method == "iql" and load_model(folder, "best").method == "iql"  # report, explorer, theory
    killed = plan_job(compose_config(args[:-2]), {}, folder)  # a relaunched sweep finds its job ...
    assert (killed.action, killed.reason) == ("resume", "resuming a killed run")
    old = yaml.safe_load((folder / "config.yaml").read_text())
    assert old["mixer"]["name"] == "none" and "method" not in old
    resumed = compose_config([f"resume={folder}", "t_max=960"])
    assert train(resumed, {"resume": str(folder), "t_max": "960"}) == 0  # ... and resume= continues it
    assert load_checkpoint(folder)["env_steps"] == 960 and (folder / "summary.json").exists()
    new = yaml.safe_load((folder / "config.yaml").read_text())
    assert new["method"]["name"] == "iql" and "mixer" not in new  # rewritten in today's keys on resume
