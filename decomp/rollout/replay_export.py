"""Record one greedy SMAX episode for the explorer's replay and battle view (``replay.npz``).

Arrays (T decisions, T + 1 frames; N allies, M enemies, A actions):

* the battle: ally_pos (T+1, N, 2), ally_health (T+1, N), enemy_pos (T+1, M, 2), enemy_health (T+1, M);
  health as a fraction of the unit's starting health;
* what the model saw and did (written when a mixer is given): obs (T, N, O), state (T, S), feats (T, N, F),
  avail (T, N, A) bool, actions (T, N), reward (T,) in the trained scale, q (T, N, A) the agents' outputs;
* what it thought (``model_view.py``): q_tot (T,), lam (T, N) (NaN where undefined), and for Qatten
  head_lam (T, H, N) and head_w (T, H);
* meta: a JSON string (mixer, kind, weights, policy step, γ, action names, what λ is or why it is undefined).

Replays written before the model's view existed hold only the battle arrays; readers say how to
regenerate them (``python -m decomp.evaluate run=<folder> replay=true``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from decomp.core.methods import kind_of
from decomp.rollout.model_view import model_view
from decomp.rollout.policy import Policy, as_tensor
from decomp.training.checkpoint import atomic_write_bytes

VIEW_VERSION = 1  # meta["view_version"]: the layout of the model's view arrays
SMAX_MOVES = ("N", "E", "S", "W")  # jaxmarl's SMAX movement actions 0..3 (then stop, then attacks)


def smax_action_names(n_actions: int) -> list[str]:
    """SMAX's action indices as short labels: N, E, S, W, stop, then 'e<j>' = attack enemy j."""
    return [*SMAX_MOVES, "stop", *(f"e{j}" for j in range(n_actions - len(SMAX_MOVES) - 1))]


def record_smax_replay(map_name: str, policy: Policy, path: Path, seed: int = 0, mixer: nn.Module | None = None,
                       reward_scale: float = 1.0, reward: str = "native", meta: dict[str, Any] | None = None) -> int:
    """Play one greedy episode of ``map_name`` with ``policy`` and write it to ``path``; returns its frame count.

    With ``mixer`` the file also carries the model's view of every step (module docstring); ``reward_scale``
    and ``reward`` must be the run's, so Q_tot and the return-to-go share a scale; ``meta`` is stored as is.
    """
    from decomp.envs.smax import SmaxEnv

    env = SmaxEnv(map_name, 1, seed=seed, reward_scale=reward_scale, reward=reward)
    info = env.info
    ob = env.reset()
    acting = policy.initial_state(info.n_envs, info.n_agents)
    frames: list[tuple[np.ndarray, np.ndarray]] = []
    seen: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "state", "feats", "avail", "actions", "reward",
                                                           "q", "hidden")}
    gen = torch.Generator().manual_seed(seed)
    ended = False
    for _ in range(info.episode_limit):
        frames.append(_units(env))
        decision = policy.act(ob, acting, 0.0, gen)  # actions (1, N), outputs (1, N, A)
        res = env.step(decision.actions.numpy())
        for key, value in (("obs", ob.obs), ("state", ob.state), ("feats", ob.feats), ("avail", ob.avail),
                           ("actions", decision.actions.numpy()), ("reward", res.reward),
                           ("q", decision.outputs.numpy()), ("hidden", acting.h.cpu().numpy())):
            seen[key].append(np.asarray(value)[0])
        if res.done[0]:
            alive = res.next.feats[0, :, 0] > 0  # final frame: allies' health from the last observation
            pos, health = frames[-1]
            frames.append((pos, np.concatenate([health[: info.n_agents] * alive, health[info.n_agents:] * 0
                                                if res.won[0] else health[info.n_agents:]])))
            ended = True
            break
        ob = res.restart
    if not ended:
        frames.append(_units(env))  # the episode limit without a done flag: the state after the last step
    arrays = _battle_arrays(frames, info.n_agents)
    if mixer is not None:
        arrays.update(_view_arrays(mixer, seen))
        about = {"view_version": VIEW_VERSION, "map_name": map_name, "kind": kind_of(mixer).value,
                 "action_names": smax_action_names(info.n_actions), "won": bool(ended and res.won[0]),
                 "lam_label": arrays.pop("lam_label"), "no_lambda": arrays.pop("no_lambda"), **(meta or {})}
        arrays["meta"] = np.array(json.dumps(about))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, lambda fh: fh.write(buf.getvalue()))
    return len(frames)


def _units(env: Any) -> tuple[np.ndarray, np.ndarray]:
    """(positions (U, 2), health (U,)) of every unit, allies first, from the env's device state."""
    inner = env.snapshot().states.state  # jaxmarl's per-unit arrays; batch of 1 env
    return np.asarray(inner.unit_positions)[0].copy(), np.asarray(inner.unit_health)[0].copy()


def _battle_arrays(frames: list[tuple[np.ndarray, np.ndarray]], n: int) -> dict[str, Any]:
    pos = np.stack([f[0] for f in frames])  # (T+1, U, 2)
    health = np.stack([f[1] for f in frames])  # (T+1, U)
    health = health / np.maximum(health[:1], 1e-9)
    return {"ally_pos": pos[:, :n], "ally_health": health[:, :n], "enemy_pos": pos[:, n:],
            "enemy_health": health[:, n:]}


def _view_arrays(mixer: nn.Module, seen: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """The model's inputs and outputs over the episode, and its view (Q_tot, λ_i, heads) in one batched call."""
    steps = {k: np.stack(v) for k, v in seen.items()}  # each (T, ...)
    dev = next(mixer.parameters(), torch.empty(0)).device
    tensors = {k: as_tensor(v).to(dev) for k, v in steps.items()}
    view = model_view(mixer, tensors["q"].float(), tensors["actions"].long(), tensors["avail"].bool(),
                      tensors["state"].float(), tensors["feats"].float(), tensors["hidden"].float())
    out: dict[str, Any] = {k: steps[k] for k in ("obs", "state", "feats", "avail", "actions", "reward", "q")}
    out.update(q_tot=view.q_tot, lam=view.lam, lam_label=view.lam_label, no_lambda=view.no_lambda, **view.heads)
    return out
