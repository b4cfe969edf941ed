"""Preallocated replay of whole episodes (padded to episode_limit), sampled as a batch."""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, fields

import numpy as np
import torch

from decomp.envs.base import EnvInfo


@dataclass
class EpisodeBatch:
    """A padded batch of episodes; time index t has T+1 slots for observations."""

    obs: torch.Tensor  # (B, T+1, N, obs_dim)
    state: torch.Tensor  # (B, T+1, state_dim)
    avail: torch.Tensor  # (B, T+1, N, A) bool
    feats: torch.Tensor  # (B, T+1, N, feat_dim)
    actions: torch.Tensor  # (B, T, N) long
    reward: torch.Tensor  # (B, T)
    terminated: torch.Tensor  # (B, T) float: 1 where the step ended the episode for real
    mask: torch.Tensor  # (B, T) float: 1 where the step happened

    @property
    def size(self) -> int:
        return self.obs.shape[0]

    def to(self, device: torch.device) -> "EpisodeBatch":
        """The batch on ``device`` (itself when it is there already: no copy on CPU)."""
        if self.obs.device == device:
            return self
        return EpisodeBatch(**{f.name: getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)})

    def truncate(self, t: int) -> "EpisodeBatch":
        """Keep the first t steps (t+1 observation slots)."""
        return EpisodeBatch(**{
            f.name: getattr(self, f.name)[:, : t + 1] if f.name in OBS_FIELDS
            else getattr(self, f.name)[:, :t]
            for f in fields(self)
        })


OBS_FIELDS = ("obs", "state", "avail", "feats")  # EpisodeBatch fields with T+1 slots (the others have T)


def live_slots(lengths: torch.Tensor, episode_limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which slots of episodes of these ``lengths`` (n,) hold data: (n, T+1) for the observation
    fields (t ≤ length: the last one is the bootstrap observation), (n, T) for the step fields (t < length)."""
    lengths = lengths[:, None]  # (n, 1)
    return torch.arange(episode_limit + 1) <= lengths, torch.arange(episode_limit) < lengths


def pack_slots(data: dict[str, torch.Tensor], lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    """Padded episodes {field: (n, T[+1], ...)} -> {field: (live slots, ...)}, episode by episode in order."""
    obs_live, step_live = live_slots(lengths, data["mask"].shape[1])
    return {name: v[obs_live if name in OBS_FIELDS else step_live] for name, v in data.items()}


def layout(info: EnvInfo, capacity: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Each EpisodeBatch field's (shape, dtype) in a replay of ``capacity`` padded episodes."""
    t, n, real = info.episode_limit, info.n_agents, torch.get_default_dtype()
    return {
        "obs": ((capacity, t + 1, n, info.obs_dim), real),
        "state": ((capacity, t + 1, info.state_dim), real),
        "avail": ((capacity, t + 1, n, info.n_actions), torch.bool),
        "feats": ((capacity, t + 1, n, info.feat_dim), real),
        "actions": ((capacity, t, n), torch.long),
        "reward": ((capacity, t), real),
        "terminated": ((capacity, t), real),
        "mask": ((capacity, t), real),
    }


def replay_bytes(info: EnvInfo, capacity: int) -> int:
    """Bytes a full replay of ``capacity`` episodes holds (pages are touched as episodes arrive)."""
    return sum(math.prod(shape) * dtype.itemsize for shape, dtype in layout(info, capacity).values())


_LIVE: "weakref.WeakSet[ReplayBuffer]" = weakref.WeakSet()  # this process's replays (a seed group holds several)


def live_replay_bytes() -> int:
    """Bytes the replays alive in this process will hold when full."""
    return sum(replay_bytes(b.info, b.capacity) for b in list(_LIVE))


class ReplayBuffer:
    """Ring buffer of ``capacity`` episodes stored as torch tensors (CPU)."""

    def __init__(self, info: EnvInfo, capacity: int, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1 episode, got {capacity}")
        self.capacity, self.info = capacity, info
        self.data = EpisodeBatch(**{name: torch.zeros(shape, dtype=dtype)
                                    for name, (shape, dtype) in layout(info, capacity).items()})
        _LIVE.add(self)
        self.lengths = torch.zeros(capacity, dtype=torch.long)
        self.pos = 0  # next slot to write
        self.count = 0  # episodes stored
        self.episodes_added = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.count

    def add(self, episodes: dict[str, np.ndarray], lengths: np.ndarray) -> None:
        """Store k episodes: arrays with leading dim k and time dims of the buffer's size."""
        k = len(lengths)
        if k == 0:
            return
        idx = (self.pos + np.arange(k)) % self.capacity
        idx_t = torch.from_numpy(idx)
        for f in fields(self.data):
            getattr(self.data, f.name)[idx_t] = torch.as_tensor(episodes[f.name])
        self.lengths[idx_t] = torch.as_tensor(lengths, dtype=torch.long)
        self.pos = int((self.pos + k) % self.capacity)
        self.count = min(self.count + k, self.capacity)
        self.episodes_added += k

    def sample(self, batch_size: int) -> EpisodeBatch:
        """Uniformly sample episodes, longest first, truncated to the longest one in the batch."""
        if self.count < batch_size:
            raise ValueError(f"cannot sample {batch_size} episodes from a buffer holding {self.count}")
        return self.gather(torch.from_numpy(self.rng.choice(self.count, size=batch_size, replace=False)))

    def recent(self, k: int) -> torch.Tensor:
        """Slots of the ``k`` episodes added last, oldest first: (k,) long (the on-policy regime's rollout)."""
        if not 0 < k <= self.count:
            raise ValueError(f"cannot take the last {k} episodes of a buffer holding {self.count}")
        return torch.from_numpy((self.pos - k + np.arange(k)) % self.capacity)

    def gather(self, idx: torch.Tensor) -> EpisodeBatch:
        """The episodes in slots ``idx`` (n,) as one batch, longest first, truncated to the longest."""
        # Longest first: recurrent agents can then drop finished episodes from a prefix of the
        # batch without re-sorting (see RNNAgent); the loss does not depend on the order.
        idx = idx[torch.argsort(self.lengths[idx], descending=True, stable=True)]
        t = int(self.lengths[idx[0]])
        # Truncate (views) before gathering: episodes are often far shorter than the episode limit
        # (SMAX 3m: ≤ 21 of 101 slots), and copying whole padded episodes out of the replay was
        # ~10 % of a 3m-sized update (docs/benchmarks.md, "Small batches").
        kept = self.data.truncate(t)
        return EpisodeBatch(**{f.name: getattr(kept, f.name)[idx] for f in fields(kept)})

    def live_slots(self, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return live_slots(lengths, self.info.episode_limit)

    def state_dict(self) -> dict:
        """Everything needed to continue exactly (for resumable checkpoints).

        Only the live slots are saved (``packed``: each field's rows of live (episode, t) slots, in
        order); the padding is zeros by construction (the runner zeroes its staging rows, ``add``
        writes whole padded episodes), so loading restores the buffer exactly. Episodes are often
        far shorter than the limit (SMAX 5m_vs_6m: ≈ 16 of 100 steps), and a dense 5000-episode
        replay made each checkpoint 1.6–1.8 GB.
        """
        n = self.count
        return {
            "packed": pack_slots({f.name: getattr(self.data, f.name)[:n] for f in fields(self.data)}, self.lengths[:n]),
            "lengths": self.lengths[:n].clone(), "pos": self.pos, "count": self.count,
            "episodes_added": self.episodes_added, "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, sd: dict) -> None:
        """Restore a replay saved by :meth:`state_dict` (packed) or by older versions (dense ``data``)."""
        n = sd["count"]
        if n > self.capacity:
            raise ValueError(f"checkpoint buffer holds {n} episodes but capacity is {self.capacity}")
        packed = "packed" in sd
        obs_live, step_live = self.live_slots(sd["lengths"])
        for f in fields(self.data):  # check everything before changing anything
            src, dst = sd["packed" if packed else "data"][f.name], getattr(self.data, f.name)
            ours, theirs = tuple(dst.shape[2:] if packed else dst.shape[1:]), tuple(src.shape[1:])
            if ours != theirs:
                raise ValueError(
                    f"checkpoint replay field {f.name!r} has {'per-slot' if packed else 'per-episode'} shape "
                    f"{theirs}, this env needs {ours}: the checkpoint belongs to a different env/map"
                )
            live = obs_live if f.name in OBS_FIELDS else step_live
            if packed and int(live.sum()) != src.shape[0]:
                raise ValueError(f"checkpoint replay field {f.name!r} holds {src.shape[0]} slots where its "
                                 f"episode lengths need {int(live.sum())}: the checkpoint is corrupt")
        for f in fields(self.data):  # slots past count were never written when it was saved: zeros
            src, dst = sd["packed" if packed else "data"][f.name], getattr(self.data, f.name)
            dst.zero_()
            if packed:
                dst[:n][obs_live if f.name in OBS_FIELDS else step_live] = src  # writes through the view
            else:
                dst[:n] = src
        self.lengths.zero_()
        self.lengths[:n] = sd["lengths"]
        self.pos, self.count, self.episodes_added = sd["pos"], sd["count"], sd["episodes_added"]
        self.rng.bit_generator.state = sd["rng"]
