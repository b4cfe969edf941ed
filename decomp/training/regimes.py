"""Which episodes the learner trains on after a collection: sampled from a replay, or the fresh ones.

The trainer asks :func:`next_round` once per collection; the regimes differ only in the batches it
returns (and in when the targets are synced), so the update itself is the same code. ``onpolicy_replay``
is ``onpolicy`` until env step ``handover.at`` and replay after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from decomp.config.schema import Config, in_replay_phase
from decomp.core.buffer import EpisodeBatch, ReplayBuffer


@dataclass
class Round:
    """The updates due now: their batches (drawn lazily, in order) and what is left pending."""

    batches: Iterator[EpisodeBatch]
    pending_left: int
    sync_targets: bool  # onpolicy: targets := online weights before the first batch
    sync_every: int = 0  # > 0: the trainer copies the targets after every sync_every-th learner update


def next_round(cfg: Config, buffer: ReplayBuffer, pending: int, env_steps: int) -> Round | None:
    """The round due after ``pending`` newly collected episodes at ``env_steps``, or None when none is due yet."""
    if in_replay_phase(cfg, env_steps):  # the learner's own target copying is off in this regime (core/build.py)
        hand = cfg.handover
        return replay_round(buffer, pending, hand.batch_size, hand.episodes_per_update, 1, hand.target_update_interval)
    if cfg.regime != "replay":  # onpolicy, or onpolicy_replay before the handover
        if pending < cfg.episodes_per_update:
            return None
        return Round(onpolicy_batches(buffer, min(pending, len(buffer)), cfg.batch_size, cfg.epochs), 0, True)
    return replay_round(buffer, pending, cfg.batch_size, cfg.episodes_per_update, cfg.updates_per_round, 0)


def replay_round(buffer: ReplayBuffer, pending: int, batch_size: int, episodes_per_update: int,
                 updates_per_round: int, sync_every: int) -> Round | None:
    """``updates_per_round`` updates on ``batch_size`` sampled episodes per ``episodes_per_update`` collected ones."""
    if len(buffer) < batch_size or pending < episodes_per_update:
        return None
    rounds = pending // episodes_per_update
    return Round((buffer.sample(batch_size) for _ in range(rounds * updates_per_round)),
                 pending - rounds * episodes_per_update, False, sync_every)


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
