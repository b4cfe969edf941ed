"""Matrix games (one-step payoffs and the two-step game) as a batched env.

Each agent observes the game's state one-hot; Qatten's per-agent features are the agent's id
one-hot, so every mixer trains here through the same runner and learner as on SMAC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from decomp.envs.base import EnvInfo, Observation, StepResult, check_actions
from games import Payoff, TwoStepGame


class MatrixEnv:
    """``n_envs`` copies of a matrix game. States: 0 = start; for the two-step game 1 = 2A, 2 = 2B."""

    def __init__(self, game: Payoff | TwoStepGame, n_envs: int = 1) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.game = game
        if isinstance(game, TwoStepGame):
            self.stages: list[Payoff] = list(game.stage_payoffs())
            self.n_states, limit, n_agents = 3, 2, game.n_agents
            self.action_counts = (game.n_actions_each,) * n_agents
        else:
            self.stages = [game]
            self.n_states, limit, n_agents = 1, 1, game.n_agents
            self.action_counts = game.n_actions
        n_actions = max(self.action_counts)
        self.info = EnvInfo(
            n_agents=n_agents, n_actions=n_actions, obs_dim=self.n_states, state_dim=self.n_states,
            feat_dim=n_agents, episode_limit=limit, n_envs=n_envs, name=f"matrix:{game.name}",
        )
        avail = np.zeros((n_agents, n_actions), dtype=bool)  # (N, A)
        for i, k in enumerate(self.action_counts):
            avail[i, :k] = True
        self._avail = avail
        self._feats = np.eye(n_agents, dtype=np.float32)  # (N, N)
        self.s = np.zeros(n_envs, dtype=np.int64)  # (E,) current state index

    def observe(self, s: np.ndarray) -> Observation:
        """What the agents see in states ``s`` (E,): also used to read learned tables at a chosen state."""
        e, n = len(s), self.info.n_agents
        state = np.eye(self.n_states, dtype=np.float32)[s]  # (E, S)
        return Observation(
            obs=np.repeat(state[:, None, :], n, axis=1),  # (E, N, S)
            state=state,
            avail=np.broadcast_to(self._avail, (e, *self._avail.shape)).copy(),
            feats=np.broadcast_to(self._feats, (e, n, n)).copy(),
        )

    def reset(self, seed: int | None = None) -> Observation:
        self.s[:] = 0
        return self.observe(self.s)

    def step(self, actions: np.ndarray) -> StepResult:
        actions = np.asarray(actions, dtype=np.int64)
        check_actions(actions, self.observe(self.s).avail)
        e = self.info.n_envs
        reward = np.zeros(e, dtype=np.float32)
        if len(self.stages) == 1:
            reward[:] = self.stages[0].values[tuple(actions.T)]
            done = np.ones(e, dtype=bool)
            nxt = self.s.copy()
        else:  # two-step: state 0 -> 1 (2A) or 2 (2B) by agent 0's action; states 1, 2 pay and end
            first = self.s == 0
            nxt = np.where(first, 1 + actions[:, 0], self.s)
            for k, stage in enumerate(self.stages, start=1):
                here = self.s == k
                reward[here] = stage.values[tuple(actions[here].T)]
            done = ~first
        next_obs = self.observe(nxt)
        self.s = np.where(done, 0, nxt)
        return StepResult(
            next=next_obs, reward=reward, terminated=done.copy(), done=done,
            won=done & (reward >= self.game.optimum), restart=self.observe(self.s),
        )

    def close(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """The games' current states (the games draw nothing at random): :class:`~decomp.envs.base.ResumableEnv`."""
        return {"s": self.s.copy()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        s = np.asarray(saved["s"], dtype=np.int64)
        if s.shape != self.s.shape or (s < 0).any() or (s >= self.n_states).any():
            raise ValueError(f"saved matrix-game states {s.tolist()} do not fit {self.info.n_envs} envs with "
                             f"{self.n_states} states")
        self.s = s.copy()
