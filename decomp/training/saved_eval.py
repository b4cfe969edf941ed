"""Greedy evaluation of a saved policy with the trainer's own code (``python -m decomp.evaluate``).

A :class:`~decomp.training.trainer.Trainer` is rebuilt from the checkpoint's config, the saved weights
are loaded into its learner, and :meth:`Trainer.evaluate` runs, exactly as at the end of training
(``weights=best`` swaps the best evaluation's weights in with :meth:`BestPolicy.swapped_in`, as the
trainer's re-evaluation of ``checkpoints/best.pt`` does). There is no second evaluation loop to drift.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from decomp.analysis.stats import Interval, wilson
from decomp.training.checkpoint import BEST_KEYS, LATEST_KEYS, CheckpointError, load_checkpoint

Weights = Literal["final", "best"]
WEIGHTS: tuple[str, ...] = ("final", "best")
# Evaluation env seeds start here (+ seed=): far from every training seed and from the trainer's own
# evaluation env (run seed + 10_007), and the same for every run, so methods meet the same episodes.
EVAL_SEED_BASE = 1_000_003


@dataclass(frozen=True)
class SavedEvaluation:
    """What ``evaluate`` measured; ``as_dict`` is what eval.json stores under the weights' name."""

    checkpoint: str
    weights: str
    policy_step: int  # env step at which these weights were trained (the best evaluation's step for best)
    episodes: int
    wins: int
    win_rate: Interval  # with its 95 % Wilson interval
    mean_return: float
    seed: int
    env: str
    method: str
    seconds: float
    metrics: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "weights": self.weights, "policy_step": self.policy_step,
                "episodes": self.episodes, "wins": self.wins, "win_rate": self.win_rate.value,
                "win_rate_ci95": [self.win_rate.low, self.win_rate.high], "mean_return": self.mean_return,
                "seed": self.seed, "env": self.env, "method": self.method, "seconds": round(self.seconds, 2),
                "metrics": self.metrics}


def split_episodes(episodes: int, max_envs: int) -> tuple[int, int]:
    """``episodes`` -> (parallel envs ≤ max_envs, rounds) with envs × rounds ≥ episodes, as close as possible."""
    if episodes < 1 or max_envs < 1:
        raise ValueError(f"episodes and the env count must be >= 1, got {episodes}, {max_envs}")
    rounds = math.ceil(episodes / min(episodes, max_envs))
    return math.ceil(episodes / rounds), rounds


def locate(run: Path | None, checkpoint: Path | None, weights: Weights | None) -> tuple[Path, Weights]:
    """The checkpoint file to read and which weights in it, from ``run=`` or ``checkpoint=``."""
    if (run is None) == (checkpoint is None):
        raise CheckpointError("give exactly one of run=<run folder> or checkpoint=<file.pt>")
    if weights is not None and weights not in WEIGHTS:
        raise CheckpointError(f"weights={weights!r}; allowed: {', '.join(WEIGHTS)}")
    if run is not None:
        if not run.is_dir():
            raise CheckpointError(f"run={run} is not a folder (expected a run folder with checkpoints/)")
        if not (run / "config.yaml").exists():
            raise CheckpointError(f"{run} is not a run folder: it has no config.yaml")
        chosen: Weights = weights or "final"
        path = run / "checkpoints" / ("best.pt" if chosen == "best" else "latest.pt")
        if not path.exists() and chosen == "best" and (run / "checkpoints" / "latest.pt").exists():
            path = run / "checkpoints" / "latest.pt"  # latest.pt also carries the best evaluation's weights
        if not path.exists():
            raise CheckpointError(f"{run} has no checkpoints/{path.name} (a run killed before its first checkpoint?); "
                                  "evaluate a run folder with checkpoints/latest.pt or best.pt")
        return path, chosen
    assert checkpoint is not None
    if checkpoint.suffix != ".pt" or not checkpoint.is_file():
        raise CheckpointError(f"checkpoint={checkpoint} is not a .pt file (expected <run>/checkpoints/latest.pt "
                              "or best.pt)")
    return checkpoint, weights or ("best" if checkpoint.name == "best.pt" else "final")


def _load(path: Path, weights: Weights) -> dict[str, Any]:
    """The payload with the requested weights, or an error saying which file holds them."""
    try:
        return load_checkpoint(path, LATEST_KEYS if weights == "final" else BEST_KEYS)
    except CheckpointError as err:
        if weights == "final" and "lacks 'learner'" in str(err):
            raise CheckpointError(f"{path} holds only the best evaluation's weights; weights=final needs "
                                  "checkpoints/latest.pt (or pass weights=best)") from None
        raise


def read_saved(path: Path, weights: Weights) -> tuple[dict[str, Any], Any]:
    """The checkpoint's payload (with the requested weights) and the run's config, or a clear error."""
    from decomp.config.schema import config_from_dict

    payload = _load(path, weights)
    try:
        return payload, config_from_dict(payload["config"])
    except Exception as err:  # OmegaConf names the unknown key or the wrong type
        raise CheckpointError(f"{path} was saved with a config this decomp cannot read: {err}") from None


@contextlib.contextmanager
def saved_policy(path: Path, weights: Weights, n_envs: int, env_seed: int, threads: int | None = None,
                 saved: tuple[dict[str, Any], Any] | None = None) -> Iterator[tuple[Any, int]]:
    """A :class:`~decomp.training.trainer.Trainer` rebuilt from the checkpoint's config (``n_envs`` envs
    whose seeds start at ``env_seed``, no replay) with the saved ``weights`` in its learner, and the env
    step those weights were trained to. Loading errors become :class:`CheckpointError`; errors of the
    caller's block pass through unchanged."""
    from decomp.config.schema import ConfigError
    from decomp.envs import make_env
    from decomp.training.checkpoint import check_compatible
    from decomp.training.trainer import Trainer

    payload, cfg = saved if saved is not None else read_saved(path, weights)
    saved_env = str(payload["env_info"].get("name", ""))
    if cfg.env.name == "smac" and ":" in saved_env:
        cfg.env.backend = saved_env.split(":", 1)[0]  # the backend it was trained on, not today's auto choice
    cfg.env.n_envs = cfg.env.eval_envs = n_envs  # one env size: the evaluation reuses the compiled SMAX step
    cfg.buffer_size = max(cfg.batch_size, cfg.episodes_per_update)  # the replay is not used (the smallest valid one)
    cfg.resume, cfg.progress = "", False
    cfg.device = "cpu"  # evaluation only acts, and acting is cheap on the CPU: a GPU-trained run evaluates anywhere
    if threads is not None:
        cfg.threads = threads
    try:
        trainer = Trainer(cfg, run_dir=None, env_factory=lambda n, s: make_env(cfg.env, n, seed=env_seed + (s - cfg.seed)))
    except ConfigError as err:
        raise CheckpointError(f"{path} does not describe a run this decomp can build: {err}") from None
    check_compatible(payload["env_info"], trainer.info, str(path))
    with contextlib.ExitStack() as stack:
        try:
            if weights == "final":
                trainer.learner.load_state_dict(payload["learner"])
                step = int(payload["env_steps"])
            else:
                trainer.best.load_state_dict(payload["best"])
                if trainer.best.weights is None:
                    raise CheckpointError(f"{path} has no best weights yet (no periodic evaluation before it was "
                                          "saved); use weights=final")
                step = trainer.best.step
                stack.enter_context(trainer.best.swapped_in(trainer.learner))
        except (RuntimeError, KeyError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"the weights in {path} do not fit the model its config builds "
                                  f"({cfg.method.name} on {trainer.info.name}): {err}") from None
        yield trainer, step


def evaluate_saved(path: Path, weights: Weights, episodes: int | None = None, seed: int = 0,
                   threads: int | None = None) -> SavedEvaluation:
    """Greedy win rate and return of the saved ``weights`` over ``episodes`` fresh episodes (default: the
    run's own final evaluation size, final_eval_rounds × eval_envs)."""
    saved = read_saved(path, weights)
    cfg = saved[1]
    wanted = episodes if episodes is not None else cfg.final_eval_rounds * cfg.env.eval_envs
    envs, rounds = split_episodes(wanted, cfg.env.eval_envs)
    start = time.time()
    with saved_policy(path, weights, envs, EVAL_SEED_BASE + seed, threads, saved) as (trainer, step):
        evals = trainer.evaluate(rounds)
    n = envs * rounds
    wins = round(evals["eval/win_rate"] * n)
    return SavedEvaluation(str(path), weights, step, n, wins, wilson(wins, n), evals["eval/return"], seed,
                           trainer.info.name, cfg.method.name, time.time() - start, evals)
