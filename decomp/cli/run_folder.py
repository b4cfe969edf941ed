"""A run's folder: its name, a fresh folder that never overwrites one, and what ``resume=`` continues.

Apart from the ``decomp.train`` entry point because a single run, a seed group (train_group.py) and a
sweep job (sweep.py) all name, create and resume folders by these rules.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from decomp.config.schema import Config, ConfigError, config_from_dict, get_key, set_key
from decomp.config.validation import validate
from decomp.training.checkpoint import load_checkpoint


def run_name(cfg: Config, seed_label: str | None = None) -> str:
    """``run_name`` or ``<env>-<game|map>__<method>__<seed_label or seed>__<time>``."""
    where = cfg.env.game if cfg.env.name == "matrix" else cfg.env.map_name
    label = seed_label if seed_label is not None else str(cfg.seed)
    return cfg.run_name or f"{cfg.env.name}-{where}__{cfg.method.name}__{label}__{time.strftime('%Y%m%d-%H%M%S')}"


def fresh_folder(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-1``, ``name-2``, … if taken: never reuses (so never overwrites) a run."""
    path, suffix = parent / name, 1
    while path.exists():
        path = parent / f"{name}-{suffix}"
        suffix += 1
    path.mkdir(parents=True)
    return path


def make_run_dir(cfg: Config) -> Path:
    """A fresh folder for one run."""
    return fresh_folder(Path(cfg.run_dir), run_name(cfg))


# What a resumed run may change: how long and how it trains on this machine, and where its metrics go (a
# sink switched on at a resume gets the run's history so far: decomp/training/metrics.py).
RESUME_OVERRIDABLE = ("t_max", "progress", "save_interval", "eval_interval", "log_interval", "threads", "device",
                      "logger", "wandb.project", "wandb.entity", "wandb.group")


def refuse_changes(explicit: dict[str, str]) -> None:
    """A resumed run keeps its config.yaml: only RESUME_OVERRIDABLE keys may be given with resume=."""
    refused = sorted(k for k in explicit if k not in (*RESUME_OVERRIDABLE, "resume"))
    if refused:
        raise ConfigError(f"cannot change {', '.join(refused)} when resuming (the run's config.yaml is kept); "
                          f"allowed with resume=: {', '.join(RESUME_OVERRIDABLE)}")


def apply_overrides(saved: Config, asked: Config, explicit: dict[str, str]) -> None:
    """Copy the RESUME_OVERRIDABLE keys given on the command line from ``asked`` onto the saved config."""
    for key in explicit:
        if key in RESUME_OVERRIDABLE:
            set_key(saved, key, get_key(asked, key))


def resolve_resume(cfg: Config, explicit: dict[str, str]) -> tuple[Config, Path, Path]:
    """resume=<run folder or .pt> -> (the run's own config, run folder, checkpoint).

    The saved config is authoritative; only keys in RESUME_OVERRIDABLE given on the command line
    change it (e.g. a larger t_max to train longer); anything else is refused.
    """
    target = Path(cfg.resume)
    ckpt = target if target.suffix == ".pt" else target / "checkpoints" / "latest.pt"
    run_dir = ckpt.parent.parent
    payload = load_checkpoint(ckpt)
    saved = config_from_dict(payload["config"])
    refuse_changes(explicit)
    apply_overrides(saved, cfg, explicit)
    saved.resume = str(target)
    validate(saved)
    if payload["env_steps"] >= saved.t_max:
        if (run_dir / "summary.json").exists():
            raise ConfigError(f"{run_dir} already reached t_max={saved.t_max:,} (checkpoint at {payload['env_steps']:,} "
                              "env steps); pass a larger t_max= to train longer")
        print(f"[decomp] {run_dir} was stopped after its last update, before its summary: finishing its final "
              "evaluation", file=sys.stderr)
    print(f"[decomp] resuming {run_dir} at env step {payload['env_steps']:,} of {saved.t_max:,}", file=sys.stderr)
    return saved, run_dir, ckpt
