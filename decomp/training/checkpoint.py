"""Atomic checkpoints: a killed run loses nothing beyond its last checkpoint.

Files are written to a temporary name in the same folder and moved into place with
``os.replace`` (atomic on POSIX), so a crash mid-write never leaves a truncated checkpoint.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from decomp.envs.base import EnvInfo

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or belongs to another configuration."""


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(fileobj)`` on a temp file next to ``path`` and move it into place.

    A process killed mid-write leaves its temp file behind; a run has one writer per file, so the next
    write of the same file removes such leftovers first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def check_compatible(saved: dict[str, Any], info: EnvInfo, where: str) -> None:
    """Refuse to resume onto an env whose sizes differ from the checkpoint's ``env_info``, naming each mismatch."""
    diffs = [f"{k}: checkpoint {saved.get(k)} vs env {getattr(info, k)}"
             for k in ("n_agents", "n_actions", "obs_dim", "state_dim", "feat_dim", "episode_limit")
             if saved.get(k) != getattr(info, k)]
    if diffs:
        raise CheckpointError(f"checkpoint {where} does not fit this env ({info.name}): " + "; ".join(diffs))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    payload = {"format_version": FORMAT_VERSION, **payload}
    atomic_write_bytes(path, lambda fh: torch.save(payload, fh))


LATEST_KEYS = ("config", "env_info", "learner", "env_steps")  # checkpoints/latest.pt: everything to resume
BEST_KEYS = ("config", "env_info", "best")  # checkpoints/best.pt: the best evaluation's weights only


def load_checkpoint(path: Path, required: tuple[str, ...] = LATEST_KEYS) -> dict[str, Any]:
    """Load and sanity-check a checkpoint holding ``required``; errors say which file and what is wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoints" / "latest.pt"
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path} (expected <run>/checkpoints/latest.pt or a .pt file)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for corrupt files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a decomp checkpoint: {err}") from err
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        got = payload.get("format_version") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path} has format {got!r}; this decomp reads format {FORMAT_VERSION}")
    for key in required:
        if key not in payload:
            raise CheckpointError(f"checkpoint {path} lacks {key!r}: not a complete decomp checkpoint")
    return payload


@dataclass
class TrainedModel:
    """A trained agent + mixer restored from a run folder (for theory checks and the explorer)."""

    cfg: dict[str, Any]  # the saved config in today's keys (decomp.config.schema.migrate_saved)
    env_info: Any
    agent: nn.Module
    mixer: nn.Module
    method: str
    env_steps: int


def load_model(run_dir: str | Path, weights: str = "final") -> TrainedModel:
    """Rebuild the agent and mixer of a run folder: its latest checkpoint's weights (``final``), or
    the best evaluation's (``best``: checkpoints/best.pt, else the copy latest.pt carries)."""
    from decomp.core.build import build_modules
    from decomp.config.schema import config_from_dict, migrate_saved
    from decomp.envs.base import EnvInfo

    run = Path(run_dir)
    if not (run / "config.yaml").exists():
        raise CheckpointError(f"{run} is not a run folder: it has no config.yaml (expected a folder under runs/)")
    if weights not in ("final", "best"):
        raise CheckpointError(f"weights={weights!r}; allowed: final, best")
    best_file = run / "checkpoints" / "best.pt"
    if weights == "best" and best_file.exists():
        payload = load_checkpoint(best_file, BEST_KEYS)
    else:
        payload = load_checkpoint(run, LATEST_KEYS if weights == "final" else BEST_KEYS)
    if weights == "best":
        if not payload["best"].get("weights"):
            raise CheckpointError(f"{run} has no best weights yet (no periodic evaluation before it was saved)")
        nets, step = payload["best"]["weights"], int(payload["best"]["step"])
    else:
        nets, step = payload["learner"], int(payload["env_steps"])
    cfg = config_from_dict(payload["config"])
    info = EnvInfo(**payload["env_info"])
    agent, mixer = build_modules(cfg, info)
    agent.load_state_dict(nets["agent"])
    mixer.load_state_dict(nets["mixer"])
    agent.eval()
    mixer.eval()
    return TrainedModel(migrate_saved(payload["config"]), info, agent, mixer, cfg.method.name, step)


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=str))
