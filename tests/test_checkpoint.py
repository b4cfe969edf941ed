"""Checkpoints: save → load round trip, resume continues, bad checkpoints are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decomp.training.checkpoint import CheckpointError, load_checkpoint, load_model
from decomp.training.matrix_lab import matrix_config
from decomp.training.run_record import write_config
from decomp.training.trainer import Trainer


def make_cfg(t_max: int, mixer: str = "qatten"):
    cfg = matrix_config("qtran", mixer, seed=1, steps=t_max, data="uniform", epsilon=0.2)
    cfg.save_interval = 320
    return cfg


def trained(tmp_path: Path, t_max: int = 960, mixer: str = "qatten") -> tuple[Trainer, Path]:
    run = tmp_path / "run"
    run.mkdir()
    trainer = Trainer(make_cfg(t_max, mixer), run_dir=run)
    write_config(run, trainer.cfg, trainer.info)
    trainer.run()
    return trainer, run


@pytest.mark.parametrize("mixer", ["qatten", "qtran"])
def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path, mixer: str) -> None:
    trainer, run = trained(tmp_path, mixer=mixer)
    model = load_model(run)
    obs = torch.randn(4, 1, 2, trainer.info.obs_dim + 2)  # (B, T, N, in): obs + agent id
    q_a, _ = trainer.learner.agent(obs)
    q_b, _ = model.agent(obs)
    torch.testing.assert_close(q_a, q_b, rtol=0, atol=0)
    state, feats = torch.randn(4, trainer.info.state_dim), torch.randn(4, 2, trainer.info.feat_dim)
    if mixer == "qtran":
        acts = torch.nn.functional.one_hot(torch.randint(0, 3, (4, 2)), 3).float()
        torch.testing.assert_close(trainer.learner.mixer.q_jt(state, acts), model.mixer.q_jt(state, acts), rtol=0, atol=0)
    else:
        qs = torch.randn(4, 2)
        torch.testing.assert_close(trainer.learner.mixer(qs, state, feats), model.mixer(qs, state, feats), rtol=0, atol=0)


def test_resume_continues_counters_replay_and_parameters(tmp_path: Path) -> None:
    first, run = trained(tmp_path, t_max=960)
    resumed = Trainer(make_cfg(1920), run_dir=run, resume_from=run)
    assert resumed.runner.env_steps == 960 and resumed.learner.updates == first.learner.updates
    assert len(resumed.buffer) == len(first.buffer)
    torch.testing.assert_close(resumed.buffer.data.actions, first.buffer.data.actions)
    for p, q in zip(resumed.learner.agent.parameters(), first.learner.agent.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    summary = resumed.run()
    assert summary.env_steps == 1920 and resumed.learner.updates > first.learner.updates


def test_corrupt_checkpoint_is_refused_and_not_overwritten(tmp_path: Path) -> None:
    bad = tmp_path / "run" / "checkpoints" / "latest.pt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a decomp checkpoint"):
        Trainer(make_cfg(320), run_dir=tmp_path / "run", resume_from=tmp_path / "run")
    assert bad.read_bytes() == b"not a checkpoint"
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing")


def test_resume_onto_a_different_env_names_the_mismatch(tmp_path: Path) -> None:
    _, run = trained(tmp_path, t_max=320)
    other = make_cfg(640)
    other.env.game = "qplex3"  # 3 agents instead of 2
    with pytest.raises(CheckpointError, match=r"n_agents: checkpoint 2 vs env 3"):
        Trainer(other, run_dir=run, resume_from=run)


def test_a_write_removes_temp_files_left_by_a_killed_writer(tmp_path: Path) -> None:
    from decomp.training.checkpoint import atomic_write_text

    target = tmp_path / "latest.pt"
    (tmp_path / ".latest.pt.abc123.tmp").write_bytes(b"half")  # what SIGKILL mid-write leaves
    (tmp_path / ".other.pt.abc123.tmp").write_bytes(b"not ours")
    atomic_write_text(target, "x")
    assert target.read_text() == "x"
    assert [p.name for p in tmp_path.glob(".*.tmp")] == [".other.pt.abc123.tmp"]


def test_linear_lr_schedule_follows_the_env_step_and_survives_resume(tmp_path: Path) -> None:
    """lr falls linearly to lr_finish at t_max; a resumed run picks the schedule up where it was."""
    from decomp.config.schema import ConfigError, lr_scale_at
    from decomp.config.validation import validate

    def cfg_at(t_max: int):
        cfg = make_cfg(t_max)
        cfg.learner.lr_schedule, cfg.learner.lr_finish, cfg.log_interval = "linear", cfg.learner.lr / 10, 64
        return cfg

    cfg = cfg_at(1920)
    assert [lr_scale_at(cfg, s) for s in (0, 960, 1920, 5000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    run = tmp_path / "run"
    run.mkdir()
    half = Trainer(cfg_at(960), run_dir=run)
    write_config(run, half.cfg, half.info)
    half.run()
    lr0 = half.cfg.learner.lr
    first = [v for _, v in half.logger.history["charts/lr"]]
    assert first[0] > first[-1] >= lr0 / 10 * (1 - 1e-9) and first == sorted(first, reverse=True)
    resumed = Trainer(cfg_at(1920), run_dir=run, resume_from=run)  # a longer budget: the schedule stretches
    resumed.run()
    steps, lrs = zip(*[(s, v) for s, v in resumed.logger.history["charts/lr"] if s > 960])
    assert lrs[0] == pytest.approx(lr0 * lr_scale_at(cfg, steps[0]), rel=0.05)  # on the 1920-step schedule
    assert resumed.learner.optimizer.param_groups[0]["lr"] == pytest.approx(lr0 / 10, rel=0.05)
    bad = cfg_at(960)
    bad.learner.lr_finish = 2 * bad.learner.lr
    with pytest.raises(ConfigError, match=r"learner.lr_finish must lie in \[0, learner.lr"):
        validate(bad)
