"""What ``checkpoints/latest.pt`` holds and how a :class:`~decomp.training.trainer.Trainer` is put back from it.

Why: a killed run resumed from its checkpoint must continue exactly as the uninterrupted run would have
(the same metrics.csv rows and weights), so the checkpoint holds every piece of state that decides
what happens next, not only the learner: the replay, counters and schedule, every RNG stream (torch,
numpy, the runner's generator, the replay's), the episodes in progress with the training env's own key
and battles (:meth:`decomp.rollout.runner.Runner.state_dict`), the evaluation envs' keys, and the
loop's running numbers (recent episodes, last losses, last evaluation). Envs that cannot be
snapshotted (SC2) restart their episodes on resume.

Checkpoints written before the episodes and eval envs were saved still resume: their episodes restart,
with the env keys reseeded from (seed, env step) (:func:`fresh_seed`) so that the resumed run does not
replay the battles of the run's start.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from decomp.envs.base import ResumableEnv
from decomp.training.checkpoint import CheckpointError
from decomp.training.run_record import config_dict

# ``tr`` below is a decomp.training.trainer.Trainer, typed Any: trainer.py imports this module, not the reverse
Trainer = Any


def fresh_seed(seed: int, env_steps: int) -> int:
    """A seed of its own for (``seed``, ``env_steps``): the env keys of a resume whose episodes restart."""
    return int(np.random.SeedSequence([seed, env_steps]).generate_state(1)[0] >> 1)  # < 2**31


def training_state(tr: Trainer) -> dict[str, Any]:
    """The checkpoint payload (``save_checkpoint`` adds the format version)."""
    runner = tr.runner
    return {
        "config": config_dict(tr.cfg), "env_info": tr.info.as_dict(),
        "learner": tr.learner.state_dict(), "buffer": tr.buffer.state_dict(),
        "env_steps": runner.env_steps, "episodes": runner.episodes,
        "pending_episodes": tr.pending_episodes, "best": tr.best.state_dict(),
        "average": None if tr.average is None else tr.average.state_dict(),
        "progress_check": tr.progress_check.state_dict(),
        "schedule": {"next_log": tr.next_log, "next_eval": tr.next_eval, "next_save": tr.next_save},
        "runner": runner.state_dict(),  # None: no episode to continue (not started, or SC2)
        "eval_envs": {name: env.state_dict() for name, env in tr.eval_envs.items() if isinstance(env, ResumableEnv)},
        "loop": {"recent": list(tr.recent), "train_logs": dict(tr.train_logs), "evals": dict(tr.latest_evals),
                 "last_eval_step": tr.last_eval_step},
        "rng": {"torch": torch.get_rng_state(), "runner": runner.gen.get_state(), "numpy": np.random.get_state()},
    }


def restore_training(tr: Trainer, p: dict[str, Any], where: str) -> None:
    """Put ``tr`` (freshly built from the same config) where the checkpoint ``p`` (read from ``where``) left it."""
    tr.learner.load_state_dict(p["learner"])
    tr.buffer.load_state_dict(p["buffer"])
    tr.pending_episodes = p["pending_episodes"]
    if "best" in p:
        tr.best.load_state_dict(p["best"])
    if tr.average is not None:
        if p.get("average") is None:
            raise CheckpointError("this checkpoint was trained without ema_decay; resume it without ema_decay")
        tr.average.load_state_dict(p["average"])
    if "progress_check" in p:
        tr.progress_check.load_state_dict(p["progress_check"])
    s = p["schedule"]
    tr.next_log, tr.next_eval, tr.next_save = s["next_log"], s["next_eval"], s["next_save"]
    _restore_envs(tr, p, where)
    if "loop" in p:
        loop = p["loop"]
        tr.recent.extend(tuple(r) for r in loop["recent"])
        tr.train_logs, tr.last_eval_step = dict(loop["train_logs"]), int(loop["last_eval_step"])
        tr.latest_evals = dict(loop["evals"])
    torch.set_rng_state(p["rng"]["torch"])  # last: nothing above may draw from the restored streams
    tr.runner.restore_progress(p["env_steps"], p["episodes"], p["rng"]["runner"])  # its counts and generator
    np.random.set_state(p["rng"]["numpy"])
    tr.last_saved_step = p["env_steps"]


def _restore_envs(tr: Trainer, p: dict[str, Any], where: str) -> None:
    """The episodes in progress and the eval envs' keys; older checkpoints: fresh episodes, reseeded keys."""
    steps = p["env_steps"]
    try:
        if p.get("runner") is not None:
            tr.runner.load_state_dict(p["runner"])
        else:  # an older checkpoint, or an env that cannot be snapshotted (SC2): the episodes restart
            tr.runner.restart_episodes(fresh_seed(tr.cfg.seed, steps))
        if "eval_envs" in p:
            for name, saved in p["eval_envs"].items():
                tr.eval_env(name).load_state_dict(saved)
        else:
            tr.eval_seeds = {name: fresh_seed(seed, steps) for name, seed in tr.eval_seeds.items()}
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"checkpoint {where}: its episodes in progress do not fit this env: {err}") from err
