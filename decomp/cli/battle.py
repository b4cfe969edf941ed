"""`python -m decomp.battle run=<folder> [out=<file.gif|.mp4>] [fps=4] [dpi=60] [every=1]`.

The battle view of a run's greedy replay (``replay.npz`` with the model's view: the map with allies
coloured by λ_i(s_t), each agent's Q^i, Q_tot against the return-to-go, λ_i over the episode) as an
animation, for papers and talks; the explorer's run viewer draws the same frames. ``every=k`` keeps
every k-th step (and the last) for a smaller file. Default ``out``: ``<run>/battle.gif``.

Examples::

    python -m decomp.battle run=runs/sweep/smac-2s3z__qmix__0
    python -m decomp.battle run=runs/sweep/smac-2s3z__qmix__0 out=docs/img/battle.gif fps=3 every=2
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

KEYS = ("run", "out", "fps", "dpi", "every")


@dataclass
class BattleArgs:
    run: Path | None = None
    out: Path | None = None
    fps: float = 4.0
    dpi: int = 60
    every: int = 1


def parse(argv: Sequence[str]) -> BattleArgs:
    """``key=value`` words -> BattleArgs; anything else is a ValueError naming what is allowed."""
    args = BattleArgs()
    for word in argv:
        key, sep, value = word.partition("=")
        if not sep or key not in KEYS:
            raise ValueError(f"cannot read {word!r}; allowed: " + " ".join(f"{k}=…" for k in KEYS))
        if key in ("run", "out"):
            setattr(args, key, Path(value))
            continue
        try:
            number = float(value) if key == "fps" else int(value)
        except ValueError:
            raise ValueError(f"{key}= needs a {'number' if key == 'fps' else 'whole number'}, got {value!r}") from None
        if number <= 0:
            raise ValueError(f"{key}= must be > 0, got {value}")
        setattr(args, key, number)
    if args.run is None:
        raise ValueError("give run=<run folder> (a SMAX run with replay.npz)")
    return args


def frames_of(steps: int, every: int) -> list[int]:
    """Every ``every``-th frame, always ending on the last one (the outcome of the battle)."""
    keep = list(range(0, steps, every))
    return keep if keep[-1] == steps - 1 else [*keep, steps - 1]


def main(argv: Sequence[str] | None = None) -> None:
    from decomp.analysis.battle import BattleFileError, read_battle, regenerate_hint
    from decomp.analysis.battle_plot import save_animation

    words = list(sys.argv[1:] if argv is None else argv)
    if any(w in ("-h", "--help", "help") for w in words):
        print(__doc__.strip())
        return
    try:
        args = parse(words)
        assert args.run is not None
        battle = read_battle(args.run / "replay.npz")
        if battle is None:
            raise ValueError(f"{args.run} has no replay.npz (SMAX runs write one at the end of training); "
                             f"record it with: {regenerate_hint(args.run)}")
        if battle.view is None:
            raise ValueError(f"{args.run / 'replay.npz'} was written before replays carried the model's view "
                             f"(Q^i, Q_tot, λ_i); record it again with: {regenerate_hint(args.run)}")
        frames = frames_of(battle.steps, args.every)
        out = save_animation(battle, args.out or args.run / "battle.gif", args.fps, args.dpi, frames)
    except (BattleFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB: {len(frames)} of the replay's {battle.steps} frames "
          f"at {args.fps:g} fps)")
