"""Which episodes the learner trains on after a collection: sampled from a replay, or the fresh ones.

The trainer asks :func:`next_round` once per collection; the two regimes differ only in the batches
it returns (and in whether the targets are synced first), so the update itself is the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from decomp.config.schema import Config
from decomp.core.buffer import EpisodeBatch, ReplayBuffer


@dataclass
class Round:
    """The updates due now: their batches (drawn lazily, in order) and what is left pending."""

    batches: Iterator[EpisodeBatch]
    pending_left: int
    sync_targets: bool  # onpolicy: targets := online weights before the first batch


def next_round(cfg: Config, buffer: ReplayBuffer, pending: int) -> Round | None:
    """The round due after ``pending`` newly collected episodes, or None when none is due yet."""
    if cfg.regime == "onpolicy":
        if pending < cfg.episodes_per_update:
            return None
        return Round(onpolicy_batches(buffer, min(pending, len(buffer)), cfg.batch_size, cfg.epochs), 0, True)
    if len(buffer) < cfg.batch_size or pending < cfg.episodes_per_update:
        return None
    rounds = pending // cfg.episodes_per_update
    updates = rounds * cfg.updates_per_round
    return Round((buffer.sample(cfg.batch_size) for _ in range(updates)),
                 pending - rounds * cfg.episodes_per_update, False)


def onpolicy_batches(buffer: ReplayBuffer, k: int, batch_size: int, epochs: int) -> Iterator[EpisodeBatch]:
    """The last ``k`` episodes, ``epochs`` times, each time shuffled into round(k / batch_size) near-equal
    minibatches (PQN's epochs × minibatches over one rollout). Shuffles draw from the buffer's RNG, so a
    seed reproduces them and a checkpoint resumes them."""
    idx = buffer.recent(k)  # (k,)
    parts = max(1, round(k / batch_size))
    for _ in range(epochs):
        order = torch.from_numpy(buffer.rng.permutation(k))
        for part in torch.tensor_split(idx[order], parts):
            yield buffer.gather(part)
