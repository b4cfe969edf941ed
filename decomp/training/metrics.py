"""Metrics to CSV (long format: step,wall_time,key,value), TensorBoard and optionally W&B, with the same keys."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from decomp.config.schema import Config
from decomp.training.wandb_sink import WandbSink


class MetricLogger:
    """Appends scalars; on resume, rows logged after the checkpoint's step are dropped first."""

    def __init__(self, run_dir: Path | None, resume_step: int | None = None, tensorboard: bool = True,
                 wandb: WandbSink | None = None) -> None:
        self.run_dir = run_dir
        self._wandb = wandb
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._csv = None
        self._tb = None
        if run_dir is None:
            return
        path = run_dir / "metrics.csv"
        kept: list[list[str]] = []
        if resume_step is not None and path.exists():
            with path.open() as fh:
                rows = [r for r in csv.reader(fh)][1:]
            kept = [r for r in rows if int(r[0]) <= resume_step]
            with path.open("w", newline="") as fh:
                csv.writer(fh).writerows([["step", "wall_time", "key", "value"], *kept])
            for r in kept:
                self.history.setdefault(r[2], []).append((int(r[0]), float(r[3])))
        new = not path.exists()
        self._csv = path.open("a", newline="")
        self._writer = csv.writer(self._csv)
        if new:
            self._writer.writerow(["step", "wall_time", "key", "value"])
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            tb_new = not (run_dir / "tb").exists()
            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=resume_step)
            if tb_new:  # switched on at this resume: the run so far, as metrics.csv holds it
                for r in kept:
                    self._tb.add_scalar(r[2], float(r[3]), int(r[0]))
        if wandb is not None and wandb.wants_history:  # the sink skips what its W&B run already holds
            for step, values in rows_by_step(kept):
                wandb.log(step, values)

    def log(self, step: int, values: dict[str, float]) -> None:
        now = time.time()
        for key, value in values.items():
            value = float(value)
            self.history.setdefault(key, []).append((step, value))
            if self._csv is not None:
                self._writer.writerow([step, f"{now:.3f}", key, f"{value:.6g}"])
            if self._tb is not None:
                self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log(step, values)
        if self._csv is not None:
            self._csv.flush()

    def last(self, key: str, default: float = float("nan")) -> float:
        seq = self.history.get(key)
        return seq[-1][1] if seq else default

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Close every sink; ``summary`` (the run's final numbers) goes to the sinks that keep one (W&B)."""
        if self._wandb is not None:
            if summary is not None:
                self._wandb.summarise(summary)
            self._wandb.close()
        if self._csv is not None:
            self._csv.close()
        if self._tb is not None:
            self._tb.close()


def rows_by_step(rows: list[list[str]]) -> list[tuple[int, dict[str, float]]]:
    """metrics.csv rows (step, wall_time, key, value) -> ``(step, {key: value})`` in order, one per run of
    rows at one step, a new one when a key repeats (a run's final evaluation repeats t_max's keys)."""
    out: list[tuple[int, dict[str, float]]] = []
    for step, _, key, value in rows:
        if not out or out[-1][0] != int(step) or key in out[-1][1]:
            out.append((int(step), {}))
        out[-1][1][key] = float(value)
    return out


def open_logger(cfg: Config, run_dir: Path | None, resume_step: int | None = None) -> MetricLogger:
    """The run's logger as ``cfg.logger`` asks: metrics.csv always, tb/ unless ``csv``, a W&B run for ``wandb``.

    An in-memory run (``run_dir=None``: the matrix lab, evaluation of saved weights) logs nowhere.
    """
    sink = None
    if run_dir is not None and cfg.logger == "wandb":
        config = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
        sink = WandbSink(run_dir, config, cfg.wandb)  # type: ignore[arg-type]
    return MetricLogger(run_dir, resume_step, tensorboard=cfg.logger != "csv", wandb=sink)
