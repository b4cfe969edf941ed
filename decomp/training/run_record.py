"""What a run folder records about the run itself: its config, its env's facts and its summary.

Apart from the training loop because the CLI, a seed group and the checkpoints write and read these
records too, and none of them needs the loop for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from decomp.config.schema import Config
from decomp.envs.base import EnvInfo
from decomp.training.checkpoint import atomic_write_text, write_json


@dataclass
class Summary:
    """A finished run's headline numbers (``summary.json``)."""

    env_steps: int
    episodes: int
    updates: int
    seconds: float
    eval_win_rate: float
    eval_return: float
    best_eval_win_rate: float
    run_dir: str | None
    best_policy_step: int = -1  # env step of the best periodic evaluation's weights (-1: none)
    best_policy_win_rate: float = float("nan")  # those weights re-evaluated on final_eval_rounds fresh rounds
    best_policy_return: float = float("nan")
    ema_win_rate: float = float("nan")  # the weights' moving average (ema_decay > 0) on final_eval_rounds rounds
    ema_return: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)


def config_dict(cfg: Config) -> dict[str, Any]:
    """The resolved config as plain containers (what checkpoints and config.yaml hold)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def write_config(run_dir: Path, cfg: Config, info: EnvInfo) -> None:
    """``config.yaml`` (resolved) and ``env_info.json`` of a run folder."""
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    write_json(run_dir / "env_info.json", info.as_dict())
