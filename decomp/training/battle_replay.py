"""A run folder's ``replay.npz``: one greedy SMAX episode with the model's view of every step.

Two writers share this code so that they record the same thing: the trainer at the end of a run
(``cli/run_report.py``) and ``python -m decomp.evaluate run=<folder> replay=true``, which rebuilds the run from
its checkpoint (``saved_eval.saved_policy``) — the way to give a run trained before the model's view
existed its battle view.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from decomp.training.saved_eval import Weights, read_saved, saved_policy

REPLAY_FILE = "replay.npz"


def record_replay(trainer: Any, path: Path, weights: str, policy_step: int) -> int:
    """Record ``trainer``'s current acting policy and online mixer (the weights it holds now, named
    ``weights`` and trained to ``policy_step``) on the run's map; returns the number of frames."""
    from decomp.rollout.replay_export import record_smax_replay

    cfg = trainer.cfg
    meta = {"method": cfg.method.name, "weights": weights, "policy_step": int(policy_step), "seed": int(cfg.seed),
            "gamma": float(cfg.learner.gamma), "reward_scale": float(cfg.env.reward_scale), "reward": cfg.env.reward,
            "agent_outputs": "logits" if trainer.policy.kind == "sampled" else "q"}
    return record_smax_replay(cfg.env.map_name, trainer.policy, path, seed=cfg.seed, mixer=trainer.learner.mixer,
                              reward_scale=cfg.env.reward_scale, reward=cfg.env.reward, meta=meta)


def record_saved_replay(checkpoint: Path, weights: Weights, out: Path) -> tuple[int, int]:
    """Rebuild the run saved in ``checkpoint`` with its ``weights`` and record its replay to ``out``;
    returns (frames, the env step those weights were trained to). Only SMAX runs have a replay."""
    from decomp.training.checkpoint import CheckpointError

    saved = read_saved(checkpoint, weights)
    env_name = str(saved[0]["env_info"].get("name", ""))
    if not env_name.startswith("smax:"):
        raise CheckpointError(f"{checkpoint} was trained on {env_name or 'an unnamed env'}; replays (replay=true) "
                              "are recorded on SMAX maps only")
    with saved_policy(checkpoint, weights, 1, saved[1].seed, saved=saved) as (trainer, step):
        return record_replay(trainer, out, weights, step), step
