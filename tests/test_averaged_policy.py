"""The moving average of the weights (``ema_decay``): exact arithmetic, no effect on training, resumable."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from decomp.config.schema import ConfigError
from decomp.config.validation import validate
from decomp.training.averaged import AveragedPolicy
from decomp.training.checkpoint import CheckpointError
from decomp.training.matrix_lab import matrix_config
from decomp.training.run_record import write_config
from decomp.training.trainer import Trainer


class Holder:  # the two modules the average reads
    def __init__(self) -> None:
        torch.manual_seed(0)
        self.agent, self.mixer = torch.nn.Linear(3, 2), torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))


@settings(max_examples=20, deadline=None)
@given(decay=st.floats(0.05, 0.95), steps=st.lists(st.floats(-2, 2), min_size=1, max_size=6))
def test_the_average_follows_the_recursion(decay: float, steps: list[float]) -> None:
    learner = Holder()
    avg = AveragedPolicy(decay, learner)
    expected = learner.agent.weight.detach().clone()
    for shift in steps:
        with torch.no_grad():
            learner.agent.weight.add_(shift)
        avg.update(learner)
        expected = decay * expected + (1 - decay) * learner.agent.weight.detach()
    torch.testing.assert_close(avg.weights["agent"]["weight"], expected)
    assert avg.weights["mixer"]["1.num_batches_tracked"].dtype == torch.long  # non-float buffers are copied
    assert avg.updates == len(steps)


def test_the_average_is_a_copy_and_round_trips() -> None:
    learner = Holder()
    avg = AveragedPolicy(0.9, learner)
    with torch.no_grad():
        learner.agent.weight.add_(1.0)
    assert not torch.equal(avg.weights["agent"]["weight"], learner.agent.weight)  # not aliased
    other = AveragedPolicy(0.9, Holder())
    other.load_state_dict(avg.state_dict())
    torch.testing.assert_close(other.weights["agent"]["weight"], avg.weights["agent"]["weight"])
    with pytest.raises(ValueError, match="ema_decay=0.9"):
        AveragedPolicy(0.5, Holder()).load_state_dict(avg.state_dict())


def test_ema_decay_out_of_range_is_refused() -> None:
    cfg = matrix_config("qtran", "qmix", seed=0, steps=64, data="uniform", epsilon=1.0)
    cfg.ema_decay = 1.0
    with pytest.raises(ConfigError, match=r"ema_decay must lie in \[0, 1\)"):
        validate(cfg)


def cfg_for(ema: float, t_max: int = 960):
    cfg = matrix_config("qtran", "qmix", seed=3, steps=t_max, data="egreedy", epsilon=0.2)
    cfg.eval_interval, cfg.save_interval, cfg.ema_decay = 320, 320, ema
    cfg.epsilon_anneal_steps = 480  # the same schedule whatever t_max (a resumed run extends a shorter one)
    return cfg


def test_averaging_leaves_training_and_the_online_evaluations_unchanged() -> None:
    plain, averaged = Trainer(cfg_for(0.0)), Trainer(cfg_for(0.9))
    a, b = plain.run(), averaged.run()
    for key, series in plain.logger.history.items():
        if key != "charts/steps_per_sec":
            assert averaged.logger.history[key] == series, key
    assert (a.eval_win_rate, a.eval_return, a.updates) == (b.eval_win_rate, b.eval_return, b.updates)
    assert math.isnan(a.ema_win_rate) and not math.isnan(b.ema_win_rate)
    assert len(averaged.logger.history["eval/ema_return"]) >= 3  # every evaluation and the final one
    for mine, online in zip(averaged.average.weights["agent"].values(), averaged.learner.agent.state_dict().values()):
        assert mine.shape == online.shape


def test_a_resumed_run_keeps_its_average(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    whole = Trainer(cfg_for(0.9, 960))
    whole.run()
    first = Trainer(cfg_for(0.9, 640), run_dir=run)
    write_config(run, first.cfg, first.info)
    first.run()
    resumed = Trainer(cfg_for(0.9, 960), run_dir=run, resume_from=run)
    resumed.run()
    assert resumed.average.updates == whole.average.updates
    for name, value in whole.average.weights["agent"].items():
        torch.testing.assert_close(resumed.average.weights["agent"][name], value)
    with pytest.raises(CheckpointError, match="without ema_decay"):
        Trainer(cfg_for(0.9, 960), resume_from=_plain_run(tmp_path))


def _plain_run(tmp_path: Path) -> Path:
    run = tmp_path / "plain"
    run.mkdir()
    t = Trainer(cfg_for(0.0, 320), run_dir=run)
    write_config(run, t.cfg, t.info)
    t.run()
    return run
