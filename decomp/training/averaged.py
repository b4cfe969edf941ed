"""An exponential moving average of the acting weights, evaluated beside the online weights.

A value-based greedy policy changes with every update: on SMAX 3m one run's 32-episode evaluations
moved between 0.66 and 0.97 over its last 100k steps, and the snapshot at 251k won 0.953 of 128
fresh battles while the final one won 0.805 (docs/benchmarks.md, "The learning study"). Averaging
the weights over the last few hundred updates (Polyak averaging) smooths that churn without touching
training: the average only acts in its own evaluations, on its own evaluation env, so a run with
``ema_decay > 0`` trains, and evaluates its online weights, exactly as the same run without it.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from decomp.core.learners.base import Learner
from decomp.training.best import acting_weights


class AveragedPolicy:
    """``avg ← decay · avg + (1 − decay) · online`` after every update, for the agent's and mixer's floats."""

    def __init__(self, decay: float, learner: Learner) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1) to average, got {decay}")
        self.decay = decay
        self.weights: dict[str, Any] = acting_weights(learner)
        self.updates = 0

    @torch.no_grad()
    def update(self, learner: Learner) -> None:
        """Move the average towards the learner's current online weights (non-float buffers are copied)."""
        avg, online = [], []
        for part, module in (("agent", learner.agent), ("mixer", learner.mixer)):
            for name, value in module.state_dict().items():
                if value.is_floating_point():
                    avg.append(self.weights[part][name])
                    online.append(value.to(avg[-1].device))
                else:  # counters such as BatchNorm's num_batches_tracked: not averageable
                    self.weights[part][name] = value.clone()
        torch._foreach_lerp_(avg, online, 1.0 - self.decay)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "weights": copy.deepcopy(self.weights)}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if sd["decay"] != self.decay:
            raise ValueError(f"the checkpoint averaged with ema_decay={sd['decay']}, this run asks for {self.decay}")
        self.updates, self.weights = int(sd["updates"]), copy.deepcopy(sd["weights"])
