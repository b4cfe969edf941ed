"""A runner's episodes in progress as a small host-side record, so a resumed run continues them mid-way.

Why: episodes run on across ``collect`` calls, so at a checkpoint every env is somewhere inside a
battle. Restarting them would both lose those steps and change every later draw; saving them (the
staging rows written so far, the clocks, the returns so far, the observation the policy acts on next)
lets the resumed run record exactly what the uninterrupted one records.

Only the steps written so far are kept (``t`` rows per env, not the padded ``episode_limit``): a
staging row beyond an env's clock is always zero (``Runner.record`` clears a row when its episode ends).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from decomp.envs.base import Observation

FIELDS = tuple(f.name for f in fields(Observation))  # obs, state, avail, feats


def written(t: np.ndarray, width: int) -> np.ndarray:
    """(E, width) bool: the staging cells an env with clock ``t`` (E,) has written, ``[0, t)``."""
    return np.arange(width)[None, :] < t[:, None]


def pack_staging(staging: dict[str, np.ndarray], t: np.ndarray) -> dict[str, np.ndarray]:
    """Each staging array's written cells, concatenated over the envs: ``(sum(t), ...)``."""
    return {k: v[written(t, v.shape[1])].copy() for k, v in staging.items()}


def unpack_staging(staging: dict[str, np.ndarray], t: np.ndarray, packed: dict[str, np.ndarray]) -> None:
    """Write :func:`pack_staging`'s output back into ``staging`` (in place; every other cell zero)."""
    if set(packed) != set(staging):
        raise ValueError(f"saved staging holds {sorted(packed)}, the runner's {sorted(staging)}")
    for k, v in staging.items():
        cells = written(t, v.shape[1])
        src = np.asarray(packed[k])
        if src.shape != (int(cells.sum()), *v.shape[2:]):
            raise ValueError(f"saved staging {k!r} has shape {src.shape}, the clocks need "
                             f"{(int(cells.sum()), *v.shape[2:])}")
        v[...] = 0
        v[cells] = src


def observation_dict(ob: Observation) -> dict[str, np.ndarray]:
    """An Observation as plain (copied) arrays for a checkpoint."""
    return {k: np.array(getattr(ob, k)) for k in FIELDS}


def observation_of(saved: dict[str, Any], n_envs: int) -> Observation:
    """:func:`observation_dict`'s output back as an Observation of ``n_envs`` envs (a clear error otherwise)."""
    ob = Observation(obs=np.asarray(saved["obs"], np.float32), state=np.asarray(saved["state"], np.float32),
                     avail=np.asarray(saved["avail"], bool), feats=np.asarray(saved["feats"], np.float32))
    if any(len(getattr(ob, k)) != n_envs for k in FIELDS):
        raise ValueError(f"saved observation is of {len(ob.obs)} envs, the runner steps {n_envs}")
    return ob
