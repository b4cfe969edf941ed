"""`python -m decomp.compact PATH [PATH ...]`: shrink checkpoints written before the replay was packed.

Checkpoints now save only the replay's live slots (decomp/core/buffer.py, ``ReplayBuffer.state_dict``);
older ones hold the whole padded replay: 1.6–1.8 GB for a 5000-episode SMAX replay whose episodes use
16–80 of 100 steps. A resumed run writes the packed form at its next save; a finished run (one with a
``summary.json``) never saves again, so this rewrites its ``latest.pt`` in the packed form, atomically;
unfinished runs are skipped. Nothing is lost: loading
either form gives the same replay (tested). Each PATH is a .pt file or a folder searched for
``checkpoints/latest.pt`` (a run folder or a whole sweep).

Example::

    python -m decomp.compact results/smac_table
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import torch

from decomp.core.buffer import pack_slots
from decomp.training.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint

class Unfinished(CheckpointError):
    """The checkpoint belongs to a run that has not finished (it may still be writing)."""


USAGE = "usage: python -m decomp.compact PATH [PATH ...]   (a checkpoint .pt, a run folder or a sweep folder)"


def find_checkpoints(paths: Sequence[str]) -> list[Path]:
    """The ``latest.pt`` files under each path (a .pt file stands for itself); a missing path is an error."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(path.rglob("checkpoints/latest.pt")))
        else:
            raise CheckpointError(f"{path} does not exist ({USAGE})")
    return found


def compact(path: Path) -> tuple[int, int] | None:
    """Rewrite one checkpoint with a packed replay -> (bytes before, after); None when there is nothing to do.

    Only finished runs' checkpoints (``summary.json`` beside ``checkpoints/``) are touched: a run still
    training writes its own packed checkpoint at its next save, and two writers of one file could
    lose the newer one. The file is also only replaced if nobody rewrote it meanwhile.
    """
    run = path.parent.parent
    if path.name == "latest.pt" and path.parent.name == "checkpoints" and not (run / "summary.json").exists():
        raise Unfinished(f"{run}: not finished (a run repacks its replay at its next save); skipped")
    before = path.stat()
    payload = load_checkpoint(path)
    replay = payload.get("buffer")
    if not isinstance(replay, dict) or "data" not in replay:
        return None  # already packed, or a checkpoint without a replay (best.pt)
    n = replay["count"]
    replay["packed"] = pack_slots({k: v[:n] for k, v in replay.pop("data").items()}, replay["lengths"][:n])

    def write(fh: object) -> None:
        torch.save(payload, fh)
        now = path.stat()  # checked last, so only the final rename could race with a writer
        if (now.st_mtime_ns, now.st_size) != (before.st_mtime_ns, before.st_size):
            raise CheckpointError(f"{path} changed while it was being compacted (a run is writing it); left as it is")

    atomic_write_bytes(path, write)
    return before.st_size, path.stat().st_size


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a in ("-h", "--help") for a in args):
        print(__doc__.strip() if args else USAGE, file=sys.stdout if args else sys.stderr)
        raise SystemExit(0 if args else 2)
    try:
        files = find_checkpoints(args)
    except CheckpointError as err:
        raise SystemExit(f"[decomp] {err}") from None
    if not files:
        raise SystemExit(f"[decomp] no checkpoints/latest.pt under {', '.join(args)}")
    saved, failed = 0, 0
    for path in files:
        try:
            result = compact(path)
        except Unfinished as err:
            print(f"[decomp] {err}")
            continue
        except CheckpointError as err:
            print(f"[decomp] {err}", file=sys.stderr)
            failed += 1
            continue
        if result is None:
            print(f"[decomp] {path}: already packed")
            continue
        old, new = result
        saved += old - new
        print(f"[decomp] {path}: {old / 2**20:,.0f} MB -> {new / 2**20:,.0f} MB")
    print(f"[decomp] {len(files)} checkpoint(s), {saved / 2**30:.2f} GB freed" + (f", {failed} failed" if failed else ""))
    if failed:
        raise SystemExit(1)
