"""Evaluation diagnostics on one scripted battle whose every number is known by hand.

Ranges cannot tell a right diagnostic from a plausible wrong one (enemies counted instead of allies,
another γ in the discounted return, the target mixer's Q_tot); exact values on a scripted episode can.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from decomp.envs.base import EnvInfo, Observation, StepResult
from decomp.rollout.policy import Policy
from decomp.rollout.runner import Runner

KINDS = ("stop", "move", "attack")
# avail per step (agent 0, agent 1): agent 0 has a choice at steps 0-1, agent 1 at steps 1-2
AVAIL = [((0, 1, 1), (1, 0, 0)), ((1, 1, 1), (1, 1, 1)), ((0, 0, 1), (0, 1, 1))]
REWARDS = (1.0, 0.0, 2.0)
GAMMA = 0.5


class ScriptedBattle:
    """One env, two agents, three steps, then a won battle with 1 ally alive and 3/4 of the enemy health gone."""

    info = EnvInfo(n_agents=2, n_actions=3, obs_dim=1, state_dim=1, feat_dim=1, episode_limit=5, n_envs=1,
                   name="scripted", action_kinds=KINDS)

    def __init__(self) -> None:
        self.t = 0

    def _ob(self) -> Observation:
        avail = np.array([AVAIL[min(self.t, 2)]], bool)  # (1, 2, 3)
        return Observation(obs=np.zeros((1, 2, 1), np.float32), state=np.zeros((1, 1), np.float32), avail=avail,
                           feats=np.zeros((1, 2, 1), np.float32))

    def reset(self, seed: int | None = None) -> Observation:
        self.t = 0
        return self._ob()

    def step(self, actions: np.ndarray) -> StepResult:
        assert all(AVAIL[self.t][i][a] for i, a in enumerate(actions[0])), "an unavailable action was taken"
        reward = np.array([REWARDS[self.t]], np.float32)
        self.t += 1
        done = np.array([self.t == 3])
        ob = self._ob()
        return StepResult(next=ob, reward=reward, terminated=done, done=done, won=done, restart=ob)

    def battle_stats(self, ob: Observation) -> dict[str, np.ndarray]:
        return {"allies_alive": np.array([1.0], np.float32), "enemy_health_lost": np.array([0.75], np.float32)}

    def close(self) -> None:
        pass


class FixedQ(nn.Module):
    """Agent 0 values (stop, move, attack) at (0, 2, 1), agent 1 at (0, 1, 2), whatever it sees."""

    recurrent = False

    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Parameter(torch.tensor([[0.0, 2.0, 1.0], [0.0, 1.0, 2.0]]))

    def step(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q.expand(*inputs.shape[:-1], 3).clone(), h  # (E, N, A)

    def init_hidden(self, n_envs: int, n_agents: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(n_envs, n_agents, 1, device=device)  # (E, N, 1): no memory


def test_greedy_evaluation_diagnostics_of_a_scripted_battle_are_exact() -> None:
    env = ScriptedBattle()
    policy = Policy(FixedQ(), n_actions=3)
    runner = Runner(env, policy, seed=0)
    value_fn = lambda qs, state, feats: qs.sum(-1)  # noqa: E731  Q_tot = Σ chosen Q^i
    stats = runner.evaluate(env, value_fn=value_fn, gamma=GAMMA)
    # greedy picks: step 0 a0 move (choice), a1 stop (no choice); step 1 a0 move, a1 attack (both choices);
    # step 2 a0 attack (no choice), a1 attack (choice) -> 4 choices: 2 moves, 2 attacks, 0 stops
    assert stats.returns == [3.0] and stats.lengths == [3] and stats.wins == [True]
    assert stats.extras["frac_move"] == [0.5] and stats.extras["frac_attack"] == [0.5]
    assert stats.extras["frac_stop"] == [0.0]
    assert stats.extras["allies_alive"] == [1.0] and stats.extras["enemy_health_lost"] == [0.75]
    # chosen Q sums per step: 2 + 0, 2 + 2, 1 + 2 -> mean 3
    assert stats.extras["q_tot"] == [pytest.approx(3.0)]
    # return-to-go with γ = 0.5: G2 = 2, G1 = 0 + 0.5·2 = 1, G0 = 1 + 0.5·1 = 1.5 -> mean 1.5
    assert stats.extras["discounted_return"] == [pytest.approx(1.5)]
