"""One batched multi-agent env protocol that every backend (matrix, SMAX, SC2) implements.

The runner sees ``n_envs`` environments at once as numpy arrays. Episodes end independently:
``step`` returns the observation *after* the step (for bootstrapping) and, for envs whose episode
ended, the first observation of their next episode in ``restart`` (auto-reset), so the runner never
stores a step of a finished episode as live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class EnvInfo:
    """Static facts about an env (pymarl's ``get_env_info`` plus Qatten's feature size)."""

    n_agents: int
    n_actions: int
    obs_dim: int
    state_dim: int
    feat_dim: int  # per-agent features for Qatten's keys (ally block of the state)
    episode_limit: int
    n_envs: int
    name: str = ""
    action_kinds: tuple[str, ...] = ()  # per action index: "noop" | "stop" | "move" | "attack" ("" = n/a)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Observation:
    """What every agent and the mixer see at one time step of ``n_envs`` envs."""

    obs: np.ndarray  # (n_envs, n_agents, obs_dim) float32
    state: np.ndarray  # (n_envs, state_dim) float32
    avail: np.ndarray  # (n_envs, n_agents, n_actions) bool
    feats: np.ndarray  # (n_envs, n_agents, feat_dim) float32


@dataclass
class StepResult:
    next: Observation  # after the step, before any auto-reset (bootstrap target)
    reward: np.ndarray  # (n_envs,) float32, shared team reward
    terminated: np.ndarray  # (n_envs,) bool: true terminal, no bootstrap
    done: np.ndarray  # (n_envs,) bool: episode over (terminated or hit episode_limit)
    won: np.ndarray  # (n_envs,) bool: battle won (meaningful where done)
    restart: Observation  # rows where done: first obs of the next episode; elsewhere == next
    info: dict[str, Any] = field(default_factory=dict)
    aborted: np.ndarray | None = None  # (n_envs,) bool: episode cut short by the backend (SC2 crash): drop it


@runtime_checkable
class BattleEnv(Protocol):
    """A battle env (SMAX, SC2) that can say how a battle stands from an observation."""

    def battle_stats(self, ob: Observation) -> dict[str, np.ndarray]:
        """``{"allies_alive": (n_envs,), "enemy_health_lost": (n_envs,) in [0, 1]}`` at ``ob``.

        ``enemy_health_lost`` is 1 − the enemies' mean remaining health fraction: the damage dealt
        so far, independent of the reward's scale and win bonus.
        """
        ...


@runtime_checkable
class ResumableEnv(Protocol):
    """An env whose whole state (RNG key, battles in progress) can be saved and put back (SMAX, matrix games).

    Why: a resumed run must step the very battles the killed one was stepping, from the same key, or it
    leaves the uninterrupted run's path at once. SC2 runs a real game and cannot be snapshotted: it does
    not implement this, and a resumed SC2 run starts new episodes.
    """

    def state_dict(self) -> dict[str, Any]:
        """Host-side (numpy) copies of everything that decides the env's next outputs; small."""
        ...

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Continue exactly from ``saved`` (the same env kind and ``n_envs``); a mismatch is a ValueError."""
        ...


@runtime_checkable
class BatchedEnv(Protocol):
    info: EnvInfo

    def reset(self, seed: int | None = None) -> Observation:
        """Reset all envs and return the first observation."""
        ...

    def step(self, actions: np.ndarray) -> StepResult:
        """actions (n_envs, n_agents) int; every action must be available."""
        ...

    def close(self) -> None: ...


def check_actions(actions: np.ndarray, avail: np.ndarray) -> None:
    """Refuse unavailable actions with a message naming the first offender."""
    n_envs, n_agents, n_actions = avail.shape
    if actions.shape != (n_envs, n_agents):
        raise ValueError(f"actions must have shape (n_envs, n_agents) = {(n_envs, n_agents)}, got {actions.shape}")
    if (actions < 0).any() or (actions >= n_actions).any():
        raise ValueError(f"actions must lie in [0, {n_actions}), got min {actions.min()} max {actions.max()}")
    ok = np.take_along_axis(avail, actions[..., None], axis=-1)[..., 0]
    if not ok.all():
        e, a = map(int, np.argwhere(~ok)[0])
        raise ValueError(f"env {e} agent {a}: action {int(actions[e, a])} is not available")
