"""``logger=wandb``: a run's config, its metrics (the keys of metrics.csv) and its summary in Weights & Biases.

wandb is optional (``pip install 'decomp[wandb]'``), so it is imported only here and only when asked for.
W&B's own environment variables apply: ``WANDB_MODE=offline`` writes the run under ``<run folder>/wandb/``
for a later ``wandb sync``. The W&B run id is kept in ``<run folder>/wandb.json``, so ``resume=`` continues
the same W&B run; the x-axis of every chart is ``env_step`` (the step column of metrics.csv).

W&B's history only grows, so a killed run resumed from an earlier checkpoint must not log its replayed
steps twice: wandb.json also records the last env step handed to W&B and how often each key was logged
at it, and those are skipped on the way back up (a resumed run repeats them exactly, wall-clock rates
aside). A W&B run started on an existing run folder (``logger=wandb`` given at a resume, or a new
project) gets the rows of metrics.csv it has not seen (decomp/training/metrics.py), so its charts start
where the CSV does.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from decomp.config.schema import ConfigError, WandbConfig
from decomp.training.checkpoint import write_json

WANDB_EXTRA = "pip install 'decomp[wandb]'"
RUN_RECORD = "wandb.json"
STEP_KEY = "env_step"
# Files that mark a folder as a collection of runs: a sweep's (decomp/cli/sweep.py) or a seed group's.
COLLECTION_RECORDS = ("sweep.json", "group.json")


def require_wandb() -> ModuleType:
    """The wandb module, or a ConfigError naming the extra that installs it."""
    try:
        import wandb
    except ImportError as err:
        raise ConfigError(f"logger=wandb needs the wandb package, which is not installed ({err}); install the "
                          f"optional extra with {WANDB_EXTRA}, or choose logger=tensorboard or logger=csv") from None
    return wandb


def group_of(run_dir: Path, given: str) -> str | None:
    """The W&B group: ``given``, else the name of the sweep or seed-group folder that holds the run, else none."""
    if given:
        return given
    parent = run_dir.parent
    return parent.name if any((parent / name).exists() for name in COLLECTION_RECORDS) else None


class WandbSink:
    """One W&B run per run folder; :class:`~decomp.training.metrics.MetricLogger` hands it every scalar."""

    def __init__(self, run_dir: Path, config: dict[str, Any], settings: WandbConfig) -> None:
        wandb = require_wandb()
        self._record_path = record_path = run_dir / RUN_RECORD
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
        if (record.get("project"), record.get("entity")) != (settings.project, settings.entity):
            record = {"id": uuid.uuid4().hex[:12]}  # first W&B run of this folder, or another project: a new run
        # A record from before logged_to was kept belongs to a W&B run that logged from the start: it is not
        # sent metrics.csv's history again.
        self.wants_history = "logged_to" in record or "project" not in record
        logged = record.get("logged_to") or {}
        # the env step at the top of W&B's history and how often each key was logged at it: rows below it,
        # and that many of each key at it, are already there and not sent again
        self._top: int | None = int(logged["step"]) if logged else None
        self._owed = Counter({k: int(n) for k, n in logged.get("keys", {}).items()})
        group = group_of(run_dir, settings.group)
        try:
            self.run = wandb.init(project=settings.project, entity=settings.entity or None, group=group,
                                  name=run_dir.name, id=record["id"], resume="allow", dir=str(run_dir), config=config,
                                  reinit="create_new")  # several seeds of one process: one W&B run each
        except Exception as err:  # wandb raises its own types (no login, no network, bad entity)
            raise ConfigError(f"logger=wandb could not start a W&B run: {str(err).rstrip('.')}. Log in with "
                              "`wandb login`, or set WANDB_MODE=offline to keep the run under the run folder and "
                              "`wandb sync` it later") from None
        self.run.define_metric(STEP_KEY)
        self.run.define_metric("*", step_metric=STEP_KEY)
        record.update(project=settings.project, entity=settings.entity, group=group,
                      url=None if self.run.offline else self.run.url)
        write_json(record_path, record)
        self._record = record

    def log(self, step: int, values: dict[str, float]) -> None:
        if self._top is not None and step <= self._top:
            if step < self._top:
                return
            fresh = {}
            for key, value in values.items():
                if self._owed[key] > 0:
                    self._owed[key] -= 1
                else:
                    fresh[key] = value
            if not fresh:
                return
            values = fresh
        self.run.log({**values, STEP_KEY: step})
        top = self._record.get("logged_to")
        counts = Counter(top["keys"]) if top and top["step"] == step else Counter()
        counts.update(values.keys())
        self._record["logged_to"] = {"step": step, "keys": dict(counts)}
        write_json(self._record_path, self._record)

    def summarise(self, values: dict[str, Any]) -> None:
        self.run.summary.update(values)

    def close(self) -> None:
        self.run.finish()
