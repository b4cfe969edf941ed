"""device=auto|cpu|cuda: the learner's modules and batches go there; acting and the replay stay on the CPU.

The device-generic path runs here on the CPU; the CUDA checks skip with a reason on machines without a GPU.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from decomp.config.compose import compose_config
from decomp.config.schema import ConfigError
from decomp.config.validation import validate
from decomp.training.runtime import resolve_device
from decomp.training.trainer import Trainer

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU visible to torch on this machine")


def matrix_cfg(device: str, mixer: str = "qmix"):
    cfg = compose_config(["env=matrix", "env.game=qtran", f"method={mixer}", "t_max=640", "progress=false",
                          f"device={device}"])
    return dataclasses.replace(cfg, eval_interval=320)


def test_auto_picks_the_gpu_only_when_torch_sees_one() -> None:
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_bad_device_names_are_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"device='tpu'; allowed: auto, cpu, cuda or cuda:N"):
        validate(dataclasses.replace(matrix_cfg("cpu"), device="tpu"))
    validate(dataclasses.replace(matrix_cfg("cpu"), device="cuda:1"))  # well-formed; availability is checked at start


@pytest.mark.skipif(HAS_CUDA, reason="checks the message on a machine without a GPU")
def test_cuda_without_a_gpu_fails_before_any_work_and_says_what_to_use() -> None:
    with pytest.raises(ValueError, match="sees no CUDA GPU.*device=cpu or device=auto"):
        Trainer(matrix_cfg("cuda"), run_dir=None)


@pytest.mark.parametrize("mixer", ["qmix", "qtran", "ow_qmix"])
def test_the_learner_lives_on_the_configured_device_and_trains(mixer: str) -> None:
    trainer = Trainer(matrix_cfg("cpu", mixer), run_dir=None)
    learner = trainer.learner
    for online, target in learner.pairs.values():  # extra modules (WQMIX's central agent) included
        assert {p.device.type for p in [*online.parameters(), *target.parameters()]} == {"cpu"}
    assert trainer.policy.device == learner.device == torch.device("cpu")
    batch = trainer.buffer.data
    assert batch.to(torch.device("cpu")) is batch  # no copy where the batch already is
    summary = trainer.run()
    assert summary.env_steps >= 640


@needs_cuda
@pytest.mark.parametrize("mixer", ["qmix", "qtran"])
def test_training_on_cuda_matches_the_cpu_run_closely(mixer: str) -> None:
    cpu = Trainer(matrix_cfg("cpu", mixer), run_dir=None)
    gpu = Trainer(matrix_cfg("cuda", mixer), run_dir=None)
    assert gpu.learner.device.type == "cuda"
    s_cpu, s_gpu = cpu.run(), gpu.run()
    assert s_gpu.env_steps == s_cpu.env_steps
    for p, q in zip(cpu.learner.params, gpu.learner.params):
        torch.testing.assert_close(p, q.cpu(), rtol=1e-3, atol=1e-4)
