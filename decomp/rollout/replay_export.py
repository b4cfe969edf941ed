"""Record one greedy SMAX episode (unit positions and health per step) for the explorer's replay.

Written as ``replay.npz`` in the run folder: ally_pos (T, N, 2), ally_health (T, N),
enemy_pos (T, M, 2), enemy_health (T, M); health as a fraction of the unit's starting health.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from decomp.training.checkpoint import atomic_write_bytes
from decomp.rollout.policy import Policy


def record_smax_replay(map_name: str, policy: Policy, path: Path, seed: int = 0) -> int:
    """Play one greedy episode of ``map_name`` with ``policy``; returns its length."""
    from decomp.envs.smax import SmaxEnv

    env = SmaxEnv(map_name, 1, seed=seed)
    info = env.info
    ob = env.reset()
    acting = policy.initial_state(info.n_envs, info.n_agents)
    frames: list[tuple[np.ndarray, np.ndarray]] = []
    gen = torch.Generator().manual_seed(seed)
    for _ in range(info.episode_limit):
        inner = env.snapshot().states.state  # jaxmarl's per-unit arrays, allies first; batch of 1 env
        frames.append((np.asarray(inner.unit_positions)[0].copy(), np.asarray(inner.unit_health)[0].copy()))
        actions = policy.act(ob, acting, 0.0, gen).actions  # (1, N)
        res = env.step(actions.numpy())
        if res.done[0]:
            alive = res.next.feats[0, :, 0] > 0  # final frame: allies' health from the last observation
            pos, health = frames[-1]
            frames.append((pos, np.concatenate([health[: info.n_agents] * alive, health[info.n_agents:] * 0
                                                if res.won[0] else health[info.n_agents:]])))
            break
        ob = res.restart
    pos = np.stack([f[0] for f in frames])  # (T, U, 2)
    health = np.stack([f[1] for f in frames])  # (T, U)
    health = health / np.maximum(health[:1], 1e-9)
    n = info.n_agents
    buf = io.BytesIO()
    np.savez_compressed(buf, ally_pos=pos[:, :n], ally_health=health[:, :n], enemy_pos=pos[:, n:],
                        enemy_health=health[:, n:])
    atomic_write_bytes(path, lambda fh: fh.write(buf.getvalue()))
    return len(frames)
