"""`python -m decomp.evaluate run=<folder>|checkpoint=<file.pt> [episodes=N] [weights=final|best] [seed=S] [threads=T] [replay=true]`.

Greedy evaluation of a trained policy with the trainer's own evaluation (decomp/training/saved_eval.py):
prints the win rate with its 95 % Wilson interval and the mean return, and stores them in the run
folder's ``eval.json`` (one entry per weights, written atomically). Every run is evaluated on the same
episodes for a given ``seed`` (default 0), which differ from those seen in training.

``replay=true`` records the run's greedy SMAX replay with the model's view of every step (Q^i, Q_tot,
λ_i; the explorer's battle view) into the run folder's ``replay.npz`` instead of evaluating: the way to
give a run trained before that view existed its battle view.

Examples::

    python -m decomp.evaluate run=runs/sweep/smac-2s3z__qatten__0
    python -m decomp.evaluate run=runs/sweep/smac-2s3z__qatten__0 weights=best episodes=320
    python -m decomp.evaluate checkpoint=runs/sweep/smac-2s3z__qatten__0/checkpoints/best.pt
    python -m decomp.evaluate run=runs/sweep/smac-2s3z__qatten__0 replay=true
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from decomp.training.checkpoint import CheckpointError

EVAL_FILE = "eval.json"
KEYS = ("run", "checkpoint", "episodes", "weights", "seed", "threads", "replay")
FLAGS = {"true": True, "false": False}


@dataclass
class EvalArgs:
    run: Path | None = None
    checkpoint: Path | None = None
    episodes: int | None = None
    weights: str | None = None
    seed: int = 0
    threads: int | None = None
    replay: bool = False


def parse(argv: Sequence[str]) -> EvalArgs:
    """``key=value`` words -> EvalArgs; an unknown key, a missing ``=`` or a bad number is a CheckpointError
    naming what is allowed (same style as ``python -m decomp.train``)."""
    args = EvalArgs()
    for word in argv:
        key, sep, value = word.partition("=")
        if not sep or key not in KEYS:
            raise CheckpointError(f"cannot read {word!r}; allowed: " + " ".join(f"{k}=…" for k in KEYS))
        if key in ("run", "checkpoint"):
            setattr(args, key, Path(value))
        elif key == "weights":
            args.weights = value
        elif key == "replay":
            if value.lower() not in FLAGS:
                raise CheckpointError(f"replay= takes true or false, got {value!r}")
            args.replay = FLAGS[value.lower()]
        else:
            try:
                number = int(value)
            except ValueError:
                raise CheckpointError(f"{key}= needs an integer, got {value!r}") from None
            if number < (0 if key in ("seed", "threads") else 1):
                raise CheckpointError(f"{key}= must be >= {0 if key in ('seed', 'threads') else 1}, got {number}")
            setattr(args, key, number)
    return args


def run_folder_of(ckpt: Path) -> Path:
    """``<run>/checkpoints/x.pt`` -> ``<run>``; a checkpoint outside a run folder -> its own folder."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def write_eval(folder: Path, entry: dict) -> Path:
    """Merge ``entry`` into ``folder/eval.json`` under its weights' name (final and best live side by side)."""
    from decomp.training.checkpoint import write_json

    path = folder / EVAL_FILE
    try:
        old = json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        old = {}  # a file from elsewhere: replaced, never half-merged
    write_json(path, {**old, entry["weights"]: entry})
    return path


def main(argv: Sequence[str] | None = None) -> None:
    from decomp.config.schema import ConfigError
    from decomp.envs.smac_select import BackendUnavailable
    from decomp.training.saved_eval import evaluate_saved, locate

    words = list(sys.argv[1:] if argv is None else argv)
    if any(w in ("-h", "--help", "help") for w in words):
        print(__doc__.strip())
        return
    try:
        args = parse(words)
        path, weights = locate(args.run, args.checkpoint, args.weights)  # type: ignore[arg-type]
        if args.replay:
            _replay(path, weights)
            return
        result = evaluate_saved(path, weights, args.episodes, args.seed, args.threads)
        out = write_eval(run_folder_of(path), result.as_dict())
    except (CheckpointError, ConfigError, BackendUnavailable, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    wr = result.win_rate
    print(f"{result.env} · {result.method} · {weights} weights (trained to env step {result.policy_step:,}): "
          f"win rate {wr.value:.3f} (95 % Wilson interval {wr.low:.3f}–{wr.high:.3f}; {result.wins}/{result.episodes} "
          f"episodes, seed {result.seed}), mean return {result.mean_return:.3g}")
    if args.episodes is not None and result.episodes != args.episodes:
        print(f"(episodes={args.episodes} was rounded up to {result.episodes}: whole rounds of parallel envs)")
    print(f"wrote {out}")


def _replay(path: Path, weights: str) -> None:
    """``replay=true``: record the run's replay.npz with the model's view from the saved weights."""
    from decomp.training.battle_replay import REPLAY_FILE, record_saved_replay

    out = run_folder_of(path) / REPLAY_FILE
    frames, step = record_saved_replay(path, weights, out)  # type: ignore[arg-type]
    print(f"{weights} weights (trained to env step {step:,}): one greedy episode of {frames - 1} steps "
          f"with the model's view; wrote {out}")
