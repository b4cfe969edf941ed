"""``seeds=[...]``: several seeds in one process, each equal to training it alone; resume of the group."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from decomp.cli.train import train
from decomp.config.compose import compose_config
from decomp.config.schema import ConfigError
from decomp.rollout import group as rollout_group
from decomp.training.group import SeedGroup
from decomp.training.trainer import Trainer
from tests.test_smac_training import SMALL, _metrics_without_clock

MATRIX = ["env=matrix", "method=qmix", "t_max=3000", "save_interval=1000", "progress=false"]


def _same_weights(a: Trainer, b: Trainer) -> bool:
    pa = [*a.learner.agent.parameters(), *a.learner.mixer.parameters()]
    pb = [*b.learner.agent.parameters(), *b.learner.mixer.parameters()]
    return len(pa) == len(pb) and all(torch.equal(x, y) for x, y in zip(pa, pb))


def test_smax_group_equals_each_seed_trained_alone(tmp_path: Path) -> None:
    """Two SMAX seeds collected by one jitted call per chunk write the metrics and weights of solo runs."""
    args = ["env=smac", "env.backend=smax", "method=qmix", "threads=1", *SMALL]
    members = []
    for seed in (0, 1):
        run = tmp_path / f"group{seed}"
        run.mkdir()
        members.append(Trainer(compose_config([*args, f"seed={seed}"]), run_dir=run))
    compiled = rollout_group.compile_count()
    SeedGroup(members).run(show_bar=False)
    assert rollout_group.compile_count() == compiled + 1  # one compilation for the whole run, none per round
    for seed, member in zip((0, 1), members):
        run = tmp_path / f"solo{seed}"
        run.mkdir()
        solo = Trainer(compose_config([*args, f"seed={seed}"]), run_dir=run)
        solo.run()
        rows = _metrics_without_clock(run)
        assert len(rows) > 50 and any(",losses/td," in r for r in rows)
        assert _metrics_without_clock(tmp_path / f"group{seed}") == rows, f"seed {seed}"
        assert _same_weights(member, solo)
    assert _metrics_without_clock(tmp_path / "group0") != _metrics_without_clock(tmp_path / "group1")


def _members(group: Path) -> dict[int, list[str]]:
    return {int(p.name.removeprefix("seed_")): _metrics_without_clock(p) for p in sorted(group.glob("seed_*"))}


def test_cli_group_folder_and_resume_equal_solo_runs(tmp_path: Path, capsys) -> None:
    """A group's folder holds one ordinary run per seed; resuming the group = resuming each seed alone."""
    cfg = compose_config([*MATRIX, "seeds=[0,1,2]", f"run_dir={tmp_path}", "run_name=g"])
    assert train(cfg, {"seeds": "[0,1,2]"}) == 0
    group = tmp_path / "g"
    assert json.loads((group / "group.json").read_text())["seeds"] == [0, 1, 2]
    assert (group / "learning_curves.png").exists()
    out = capsys.readouterr().out
    assert "seeds 0, 1, 2: final greedy win rate" in out and "median" in out and "range" in out
    for seed in (0, 1, 2):
        assert "seed: %d" % seed in (group / f"seed_{seed}" / "config.yaml").read_text()
    # solo runs of the same seeds, then both trained on to t_max=5000 with resume=
    for seed in (0, 1, 2):
        solo = compose_config([*MATRIX, f"seed={seed}", f"run_dir={tmp_path}", f"run_name=solo{seed}"])
        assert train(solo, {}) == 0
        assert _metrics_without_clock(tmp_path / f"solo{seed}") == _members(group)[seed]
    # seed 2 was killed before its first checkpoint: the group starts it again from scratch
    shutil.rmtree(group / "seed_2" / "checkpoints")
    (group / "seed_2" / "summary.json").unlink()
    more = compose_config([*MATRIX, f"resume={group}", "t_max=5000"])
    assert train(more, {"resume": str(group), "t_max": "5000"}) == 0
    for seed in (0, 1):
        solo = compose_config([*MATRIX, f"resume={tmp_path / f'solo{seed}'}", "t_max=5000"])
        assert train(solo, {"resume": str(tmp_path / f"solo{seed}"), "t_max": "5000"}) == 0
        assert _metrics_without_clock(tmp_path / f"solo{seed}") == _members(group)[seed], f"seed {seed}"
    fresh = compose_config([*MATRIX, "seed=2", "t_max=5000", f"run_dir={tmp_path}", "run_name=fresh2"])
    assert train(fresh, {}) == 0
    assert _metrics_without_clock(tmp_path / "fresh2") == _members(group)[2]


def test_group_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seeds must be distinct"):
        train(compose_config([*MATRIX, "seeds=[1,1]", f"run_dir={tmp_path}"]), {})
    assert not any(tmp_path.iterdir())  # nothing written
    cfg = compose_config([*MATRIX, "t_max=1000", "seeds=[0,1]", f"run_dir={tmp_path}", "run_name=g"])
    assert train(cfg, {}) == 0
    again = compose_config([*MATRIX, f"resume={tmp_path / 'g'}", "seeds=[0,1,2]"])
    with pytest.raises(ConfigError, match="cannot change seeds"):
        train(again, {"resume": str(tmp_path / "g"), "seeds": "[0,1,2]"})
