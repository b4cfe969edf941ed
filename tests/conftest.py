"""Shared test settings: single-threaded torch (fast for tiny nets, deterministic), fixed seeds."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")
# One JAX compilation cache for the whole session, set before anything imports jax: the CLI tests'
# subprocesses and the tests' many envs compile the same SMAX programs; all but the first are loaded
# from disk (a set-up user cache is kept). The sweep tests drop it to test the sweep's own cache.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="decomp-tests-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
    atexit.register(shutil.rmtree, _JAX_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


# Tiny SMAX 3m settings for a finished run folder (checkpoints, replay.npz with the model's view).
BATTLE_RUN = ["env=smac", "env.backend=smax", "regime=replay", "env.n_envs=8", "env.eval_envs=8", "t_max=800", "eval_interval=400",
              "save_interval=400", "log_interval=400", "batch_size=8", "buffer_size=100", "final_eval_rounds=1",
              "progress=false", "threads=1"]


@pytest.fixture(scope="session")
def battle_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Finished SMAX 3m runs of QMIX and Qatten (800 env steps each, through the CLI's own ``train``), shared
    by the battle-view tests and the browser test: the first SMAX run of a process pays the JAX compile."""
    from decomp.cli.train import train
    from decomp.config.compose import compose_config

    root = tmp_path_factory.mktemp("battle_runs")
    out = {}
    for mixer in ("qmix", "qatten"):
        assert train(compose_config([*BATTLE_RUN, f"method={mixer}", f"run_dir={root}", f"run_name={mixer}"])) == 0
        out[mixer] = root / mixer
    return out
