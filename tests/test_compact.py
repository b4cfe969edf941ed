"""`python -m decomp.compact`: old checkpoints with a dense replay become packed ones, losing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decomp.cli.compact import main
from decomp.training.checkpoint import load_checkpoint, save_checkpoint
from tests.test_training_core import _random_replay


def dense_checkpoint(run: Path, finished: bool) -> dict:
    """A run folder whose latest.pt holds its replay the old way (every padded slot)."""
    buf = _random_replay([3, 1, 6, 2, 5], capacity=4, seed=3)
    replay = {k: v for k, v in buf.state_dict().items() if k != "packed"}
    replay["data"] = {name: field[: buf.count].clone() for name, field in vars(buf.data).items()}
    save_checkpoint(run / "checkpoints" / "latest.pt",
                    {"config": {}, "env_info": buf.info.as_dict(), "learner": {}, "env_steps": 17, "buffer": replay})
    if finished:
        (run / "summary.json").write_text("{}")
    return replay


def test_compact_packs_finished_runs_and_skips_the_others(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    done = dense_checkpoint(tmp_path / "sweep" / "done", finished=True)
    dense_checkpoint(tmp_path / "sweep" / "running", finished=False)
    main([str(tmp_path / "sweep")])
    out = capsys.readouterr().out
    assert "running: not finished" in out and "2 checkpoint(s)" in out

    packed = load_checkpoint(tmp_path / "sweep" / "done")
    assert "data" not in packed["buffer"] and packed["env_steps"] == 17
    restored, original = _random_replay([], capacity=4, seed=0), _random_replay([], capacity=4, seed=0)
    restored.load_state_dict(packed["buffer"])
    original.load_state_dict(done)
    assert all(torch.equal(getattr(restored.data, k), v) for k, v in vars(original.data).items())
    assert "data" in load_checkpoint(tmp_path / "sweep" / "running")["buffer"]  # untouched

    main([str(tmp_path / "sweep" / "done")])  # a second pass has nothing to do
    assert "already packed" in capsys.readouterr().out


def test_compact_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="does not exist"):
        main([str(tmp_path / "nowhere")])
    with pytest.raises(SystemExit, match="no checkpoints/latest.pt under"):
        main([str(tmp_path)])
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as err:
        main([str(tmp_path / "broken.pt")])
    assert err.value.code == 1
