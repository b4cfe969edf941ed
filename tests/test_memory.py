"""The replay's memory is checked before training (decomp/training/memory.py), with a buffer_size that fits."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from decomp.config.compose import compose_config
from decomp.config.schema import ConfigError
from decomp.core.buffer import ReplayBuffer, layout, live_replay_bytes, replay_bytes
from decomp.envs.base import EnvInfo
from decomp.training import memory
from decomp.training.memory import check_replay_fits

GB = 10**9
# SMAX+ bane_vs_bane's sizes (docs/smax_plus.md): 24 agents, 813 observation floats, a 768-float state
BANE = EnvInfo(n_agents=24, n_actions=29, obs_dim=813, state_dim=768, feat_dim=14, episode_limit=100, n_envs=32,
               name="smax:bane_vs_bane (SMAX+)")
SMALL = EnvInfo(n_agents=3, n_actions=9, obs_dim=30, state_dim=48, feat_dim=14, episode_limit=60, n_envs=4, name="small")


@pytest.fixture(autouse=True)
def _no_live_replays():
    gc.collect()  # replays of earlier tests in this process
    assert live_replay_bytes() == 0
    yield


def test_replay_bytes_are_the_allocated_tensors_bytes() -> None:
    buffer = ReplayBuffer(SMALL, 7)
    allocated = sum(t.numel() * t.element_size() for t in vars(buffer.data).values())
    assert replay_bytes(SMALL, 7) == allocated == 7 * replay_bytes(SMALL, 1)
    assert set(layout(SMALL, 1)) == set(vars(buffer.data))
    assert live_replay_bytes() == allocated
    del buffer
    gc.collect()
    assert live_replay_bytes() == 0


def test_a_replay_that_cannot_fit_is_refused_with_a_buffer_size_that_does() -> None:
    assert 41 * GB < replay_bytes(BANE, 5000) < 43 * GB  # the number the docstring quotes
    with pytest.raises(ConfigError) as err:
        check_replay_fits(BANE, 5000, memory=(24 * GB, 20 * GB))
    msg = str(err.value)
    assert "buffer_size=5000 episodes of smax:bane_vs_bane (SMAX+) need 42.1 GB (8.4 MB per episode" in msg and "24 agents × 813" in msg
    fit = int(msg.split("Give buffer_size=")[1].split()[0])
    assert fit == 1400 and replay_bytes(BANE, fit) <= 12 * GB < replay_bytes(BANE, fit + 100)
    check_replay_fits(BANE, fit, memory=(24 * GB, 20 * GB))  # the suggestion passes


def test_a_replay_larger_than_the_free_memory_is_only_a_warning(capsys) -> None:
    check_replay_fits(BANE, 1000, memory=(24 * GB, 5 * GB))
    assert "warning: buffer_size=1000" in capsys.readouterr().err
    check_replay_fits(BANE, 1000, memory=(24 * GB, 20 * GB))
    assert capsys.readouterr().err == ""


def test_replays_already_in_the_process_count(capsys) -> None:
    first = ReplayBuffer(SMALL, 1000)
    held = replay_bytes(SMALL, 1000)
    total = int(1.5 * held / memory.MAX_SHARE)  # room for one and a half such replays
    check_replay_fits(SMALL, 400, memory=(total, total))
    with pytest.raises(ConfigError, match="beside this process's other replays.*train fewer seeds"):
        check_replay_fits(SMALL, 1000, memory=(total, total))
    del first


def test_the_trainer_refuses_before_training(tmp_path: Path, monkeypatch) -> None:
    from decomp.cli.train import train

    monkeypatch.setattr(memory, "machine_memory", lambda: (10**4, 10**4))
    cfg = compose_config(["env=matrix", "method=vdn", "t_max=640", "progress=false", f"run_dir={tmp_path}",
                          "run_name=r"])
    with pytest.raises(ConfigError, match=r"buffer_size=\d+ episodes of matrix:qtran need .* Give buffer_size=\d+ or less"):
        train(cfg)
    assert not (tmp_path / "r").exists(), "a refused fresh run must leave no folder behind"
