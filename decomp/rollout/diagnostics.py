"""What an evaluation records per episode besides return, length and win: *how* a policy fails.

Kept apart from the episode loop (:meth:`decomp.rollout.runner.Runner.evaluate`) because each
diagnostic is its own bookkeeping: the fractions of move / stop / attack choices (agents with more
than one available action), allies alive and enemy health lost at the end (battle envs), and, with a
value function, the mean Q_tot over the episode's steps next to the mean discounted return-to-go
from those steps.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from decomp.envs.base import BatchedEnv, BattleEnv, Observation, StepResult
from decomp.rollout.policy import as_tensor

# chosen Q^i (E, N), state (E, S), feats (E, N, F) -> Q_tot (E,): the learner's value of a joint action
ValueFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class EpisodeDiagnostics:
    """The per-episode diagnostics of one evaluation over ``env``'s envs (module docstring)."""

    def __init__(self, env: BatchedEnv, value_fn: ValueFn | None, gamma: float) -> None:
        info = env.info
        e, limit = info.n_envs, info.episode_limit
        self.env, self.value_fn, self.gamma, self.n_envs = env, value_fn, gamma, e
        self.kinds = np.asarray(info.action_kinds) if info.action_kinds else None
        self.kind_counts = {k: np.zeros(e) for k in ("move", "stop", "attack")}
        self.rewards = np.zeros((e, limit))  # (E, T)
        self.q_tot = np.zeros((e, limit))  # (E, T)
        self.battle: dict[str, np.ndarray] = {}

    def choice(self, t: int, ob: Observation, actions: torch.Tensor, q: torch.Tensor, live: np.ndarray) -> None:
        """Step ``t``'s decision: actions (E, N) chosen on the agents' outputs q (E, N, A) at ``ob``."""
        if self.kinds is not None:
            chooses = (ob.avail.sum(-1) > 1) & live[:, None]  # (E, N) agents with a real choice
            picked = self.kinds[actions.numpy()]  # (E, N)
            for k, c in self.kind_counts.items():
                c += (chooses & (picked == k)).sum(-1)
        if self.value_fn is not None:
            chosen = q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # (E, N)
            self.q_tot[:, t] = self.value_fn(chosen, as_tensor(ob.state), as_tensor(ob.feats)).numpy()

    def outcome(self, t: int, res: StepResult, live: np.ndarray, finished: np.ndarray) -> None:
        """Step ``t``'s result for the envs still ``live`` before it; ``finished``: whose episode it ended."""
        self.rewards[:, t] = res.reward * live
        if isinstance(self.env, BattleEnv) and finished.any():
            for key, v in self.env.battle_stats(res.next).items():
                self.battle.setdefault(key, np.zeros(self.n_envs))[finished] = v[finished]

    def extras(self, length: np.ndarray, valid: np.ndarray) -> dict[str, list[float]]:
        """Each diagnostic's per-episode values for the ``valid`` episodes, ``length`` (E,) steps long."""
        out: dict[str, list[float]] = {}
        if self.kinds is not None:
            total = np.maximum(sum(self.kind_counts.values()), 1)
            for k, c in self.kind_counts.items():
                out[f"frac_{k}"] = (c / total)[valid].tolist()
        for key, v in self.battle.items():
            out[key] = v[valid].tolist()
        if self.value_fn is not None:
            out.update(self._value_extras(length, valid))
        return out

    def _value_extras(self, length: np.ndarray, valid: np.ndarray) -> dict[str, list[float]]:
        """Mean Q_tot over each episode's live steps next to the mean discounted return-to-go from them."""
        e, limit = self.rewards.shape
        steps = np.arange(limit)[None, :] < length[:, None]  # (E, T) live steps
        to_go = np.zeros_like(self.rewards)
        acc = np.zeros(e)
        for t in range(limit - 1, -1, -1):
            acc = self.rewards[:, t] + self.gamma * acc
            to_go[:, t] = acc
        n = np.maximum(steps.sum(1), 1)
        return {"q_tot": ((self.q_tot * steps).sum(1) / n)[valid].tolist(),
                "discounted_return": ((to_go * steps).sum(1) / n)[valid].tolist()}
