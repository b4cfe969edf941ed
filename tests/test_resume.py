"""A killed and resumed run continues bit for bit like the uninterrupted run: the same metrics.csv rows (but
the clock's), the same weights, optimiser and replay, on SMAX and the matrix games, for every regime.

The episodes in progress, the env's own key and battles, the eval envs' keys and the policy's memory
travel in the checkpoint (decomp/training/resume.py); restored SMAX arrays must not recompile anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from decomp.config.compose import compose_config
from decomp.config.schema import Config
from decomp.envs.base import ResumableEnv
from decomp.envs.matrix import MatrixEnv
from decomp.training.checkpoint import load_checkpoint, save_checkpoint
from decomp.training.matrix_lab import matrix_config
from decomp.training.resume import fresh_seed
from decomp.training.trainer import Trainer
from tests.compiles import CompileCounter
from tests.test_smac_training import _metrics_without_clock


class Killed(Exception):
    """What SIGKILL does to a run, short of the process: it stops right after writing its first checkpoint."""


def killed_after_first_checkpoint(cfg: Config, run: Path) -> int:
    """Train ``cfg`` in ``run`` and stop in the collection after the first checkpoint, before anything else
    reaches the disk. -> the checkpoint's env step."""
    trainer: Trainer

    def on_progress(_frac: float) -> None:  # called before any log, evaluation or save of the round
        if trainer.last_saved_step is not None:
            raise Killed

    trainer = Trainer(cfg, run_dir=run, on_progress=on_progress)
    with pytest.raises(Killed):
        trainer.run()
    trainer.logger.close()
    return int(load_checkpoint(run)["env_steps"])


def tensors(tree: Any) -> list[tuple[str, Any]]:
    """Every leaf of a (nested) state dict with its path, tensors and arrays included."""
    if isinstance(tree, dict):
        return [(f"{k}/{p}", v) for k in sorted(tree, key=str) for p, v in tensors(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [(f"{i}/{p}", v) for i, x in enumerate(tree) for p, v in tensors(x)]
    return [("", tree)]


def assert_same_state(a: Trainer, b: Trainer) -> None:
    """Learner (online and target nets, optimiser, update count), replay and the episodes in progress."""
    for what, x, y in (("learner", a.learner.state_dict(), b.learner.state_dict()),
                       ("buffer", a.buffer.state_dict(), b.buffer.state_dict()),
                       ("runner", a.runner.state_dict(), b.runner.state_dict())):
        xs, ys = tensors(x), tensors(y)
        assert [p for p, _ in xs] == [p for p, _ in ys], what
        for (path, u), (_, v) in zip(xs, ys):
            if isinstance(u, torch.Tensor):
                assert torch.equal(u, v), f"{what} {path}"
            elif isinstance(u, np.ndarray):
                assert np.array_equal(u, v), f"{what} {path}"
            else:
                assert u == v, f"{what} {path}"
    assert (a.runner.env_steps, a.runner.episodes) == (b.runner.env_steps, b.runner.episodes)


def whole_and_resumed(make_cfg: Any, tmp_path: Path) -> tuple[Trainer, Trainer, int]:
    """The run trained in one go (``whole/``) and killed + resumed (``resumed/``); both finished."""
    whole_dir, resumed_dir = tmp_path / "whole", tmp_path / "resumed"
    whole_dir.mkdir()
    resumed_dir.mkdir()
    whole = Trainer(make_cfg(), run_dir=whole_dir)
    whole.run()
    step = killed_after_first_checkpoint(make_cfg(), resumed_dir)
    resumed = Trainer(make_cfg(), run_dir=resumed_dir, resume_from=resumed_dir)
    assert resumed.runner.env_steps == step < make_cfg().t_max
    resumed.run()
    return whole, resumed, step


def assert_resumed_equals_whole(whole: Trainer, resumed: Trainer, tmp_path: Path) -> None:
    rows = _metrics_without_clock(tmp_path / "whole")
    assert any(",eval/win_rate," in r for r in rows) and any(",losses/" in r for r in rows)
    assert _metrics_without_clock(tmp_path / "resumed") == rows
    assert_same_state(whole, resumed)


# ---- matrix games ---------------------------------------------------------------------------------------------
def matrix_cfg(regime: str) -> Config:
    """The two-step game (2-step episodes, collected one step at a time: a checkpoint falls mid-episode),
    ε-greedy data, evaluations, a moving average (its own eval env) and a checkpoint at an odd collection."""
    extra: dict[str, Any] = {}
    if regime != "replay":
        extra = {"regime": regime, "episodes_per_update": 32, "batch_size": 16, "epochs": 2}
    if regime == "onpolicy_replay":
        extra["handover.at"] = 640
    cfg = matrix_config("two_step", "qmix", 3, 1280, "egreedy", 0.3, **extra)
    cfg.eval_interval, cfg.log_interval, cfg.save_interval = 160, 64, 7 * 32  # 32 envs: the 7th step is mid-episode
    cfg.ema_decay, cfg.logger = 0.9, "csv"
    return cfg


@pytest.mark.parametrize("regime", ["replay", "onpolicy", "onpolicy_replay"])
def test_a_resumed_matrix_run_equals_the_uninterrupted_one(regime: str, tmp_path: Path) -> None:
    whole, resumed, step = whole_and_resumed(lambda: matrix_cfg(regime), tmp_path)
    saved = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "latest.pt")
    assert saved["env_steps"] == whole.runner.env_steps  # the final save; the killed one was at `step`
    assert step == 224
    assert_resumed_equals_whole(whole, resumed, tmp_path)


def test_the_matrix_checkpoint_holds_the_episodes_in_progress(tmp_path: Path) -> None:
    """At the 7th step of 2-step episodes every env is in its second state: the clocks, the env's states and the
    staging rows written so far are saved (only those rows: the checkpoint stays small)."""
    run = tmp_path / "run"
    run.mkdir()
    killed_after_first_checkpoint(matrix_cfg("replay"), run)
    saved = load_checkpoint(run)["runner"]
    assert saved["t"].tolist() == [1] * 32 and set(saved["env"]["s"].tolist()) <= {1, 2}
    assert saved["staging"]["obs"].shape == (32, 2, 3) and saved["staging"]["actions"].shape == (32, 2)
    assert set(load_checkpoint(run)["eval_envs"]) == {"eval", "ema"}


def test_an_old_checkpoint_without_episodes_resumes_with_fresh_episodes(tmp_path: Path) -> None:
    """Checkpoints written before the episodes were saved still resume: the episodes restart, with env keys of
    their own for (seed, env step) rather than the run's first ones."""
    run = tmp_path / "run"
    run.mkdir()
    step = killed_after_first_checkpoint(matrix_cfg("replay"), run)
    path = run / "checkpoints" / "latest.pt"
    old = {k: v for k, v in load_checkpoint(path).items() if k not in ("runner", "eval_envs", "loop", "format_version")}
    save_checkpoint(path, old)
    resumed = Trainer(matrix_cfg("replay"), run_dir=run, resume_from=run)
    assert resumed.runner.current is None and resumed.runner.episode_seed == fresh_seed(3, step)
    assert resumed.eval_seeds == {"eval": fresh_seed(3 + 10_007, step), "ema": fresh_seed(3 + 20_011, step)}
    assert fresh_seed(3, step) != fresh_seed(3, step + 32) and 0 <= fresh_seed(3, step) < 2**31
    assert resumed.run().env_steps == 1280


def test_which_envs_can_be_snapshotted() -> None:
    from decomp.envs.sc2 import SC2Env
    from decomp.envs.smax import SmaxEnv

    assert issubclass(SmaxEnv, ResumableEnv) and issubclass(MatrixEnv, ResumableEnv)
    assert not issubclass(SC2Env, ResumableEnv)  # a real game: a resumed SC2 run starts new episodes


# ---- SMAX -----------------------------------------------------------------------------------------------------
SMAX = ["env=smac", "env.backend=smax", "map=3m", "method=qmix", "env.n_envs=8", "env.eval_envs=8", "t_max=2000",
        "eval_interval=400", "log_interval=400", "save_interval=800", "final_eval_rounds=1", "progress=false",
        "threads=1", "logger=csv"]  # 400 env steps per collection: the checkpoint at 800, killed at 1200
REGIMES = {
    "replay": ["batch_size=8", "buffer_size=100", "ema_decay=0.9"],
    "onpolicy": ["regime=onpolicy", "episodes_per_update=8", "batch_size=4", "buffer_size=16", "epochs=2"],
    "onpolicy_replay": ["regime=onpolicy_replay", "handover.at=1200", "handover.batch_size=8",
                        "episodes_per_update=8", "batch_size=4", "buffer_size=100", "epochs=2"],
}


@pytest.mark.parametrize("regime", list(REGIMES))
def test_a_resumed_smax_run_equals_the_uninterrupted_one_and_compiles_nothing(regime: str, tmp_path: Path) -> None:
    """Battles in progress continue from their saved states and key; the ε-greedy key, GRU state and last actions
    of the JAX rollout too. The restored arrays have the avals the compiled step and rollout expect."""
    make = lambda: compose_config([*SMAX, *REGIMES[regime]])  # noqa: E731
    whole_dir, resumed_dir = tmp_path / "whole", tmp_path / "resumed"
    whole_dir.mkdir()
    resumed_dir.mkdir()
    whole = Trainer(make(), run_dir=whole_dir)
    whole.run()  # compiles everything this config uses
    cached = whole.runner.compile_count(), whole.env.compile_count()  # type: ignore[attr-defined]
    step = killed_after_first_checkpoint(make(), resumed_dir)
    assert step == 800
    saved = load_checkpoint(resumed_dir)
    assert (saved["runner"]["t"] > 0).any() and saved["runner"]["env"]["states"] is not None
    with CompileCounter() as counter:
        resumed = Trainer(make(), run_dir=resumed_dir, resume_from=resumed_dir)
        resumed.run()
    assert counter.compiles == [], f"{len(counter.compiles)} XLA compilations after the resume"
    # not even a new entry in the dispatch caches: the restored arrays look exactly like the ones the run made
    assert (resumed.runner.compile_count(), resumed.env.compile_count()) == cached  # type: ignore[attr-defined]
    assert_resumed_equals_whole(whole, resumed, tmp_path)


def test_smax_env_state_round_trip_steps_identically_without_recompiling() -> None:
    from decomp.envs.smax import SmaxEnv

    a, b = SmaxEnv("3m", 8, seed=5), SmaxEnv("3m", 8, seed=99)
    a.reset()
    stop = np.full((8, a.info.n_agents), 4)  # "stop" is always available
    for _ in range(3):
        a.step(stop)
    compiled = a.compile_count()
    saved = a.state_dict()
    assert saved["key"].dtype == np.uint32 and all(isinstance(x, np.ndarray) for x in saved["states"])
    b.load_state_dict(saved)
    for _ in range(5):
        ra, rb = a.step(stop), b.step(stop)
        for field in ("obs", "state", "avail", "feats"):
            assert np.array_equal(getattr(ra.restart, field), getattr(rb.restart, field)), field
        assert np.array_equal(ra.reward, rb.reward) and np.array_equal(ra.done, rb.done)
    assert a.compile_count() == b.compile_count() == compiled
    with pytest.raises(ValueError, match="shape"):
        SmaxEnv("3m", 4, seed=0).load_state_dict(saved)
