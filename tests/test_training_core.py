"""Agents, replay, runner, targets: the pieces of the training loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

from decomp.core.agents import AgentInputs, RNNAgent, build_inputs
from decomp.core.buffer import ReplayBuffer
from decomp.envs.matrix import MatrixEnv
from decomp.core.ops import lambda_returns
from decomp.rollout.policy import Policy, select_actions
from decomp.rollout.runner import Runner
from games import TwoStepGame


def test_gru_over_sequence_equals_step_by_step() -> None:
    agent = RNNAgent(input_dim=6, n_actions=4, hidden_dim=8)
    x = torch.randn(2, 5, 3, 6)  # (B, T, N, in)
    q_seq, _ = agent(x)
    h = agent.init_hidden(2, 3)
    steps = []
    for t in range(5):
        q, h = agent.step(x[:, t], h)
        steps.append(q)
    torch.testing.assert_close(q_seq, torch.stack(steps, 1), atol=1e-5, rtol=1e-5)


def test_build_inputs_id_and_last_action() -> None:
    obs = torch.zeros(2, 3, 1)
    last = torch.tensor([[-1, 0, 2], [1, 1, 1]])
    x = build_inputs(obs, last, n_actions=3, agent_id=True, last_action=True)
    assert x.shape == (2, 3, 1 + 3 + 3)
    assert x[0, 0, 4:].sum() == 0  # no previous action at t = 0
    assert x[0, 2, 4:].tolist() == [0, 0, 1] and x[1, 1, 1:4].tolist() == [0, 1, 0]


def test_epsilon_greedy_respects_availability() -> None:
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(500, 2, 4)
    avail = torch.zeros(500, 2, 4, dtype=torch.bool)
    avail[..., 1] = avail[..., 3] = True
    for eps in (0.0, 0.5, 1.0):
        a = select_actions(q, avail, eps, gen)
        assert set(a.unique().tolist()) <= {1, 3}
    a = select_actions(q, avail, 1.0, gen)
    assert 0.4 < (a == 1).float().mean() < 0.6  # uniform among available


def test_runner_stores_whole_episodes_without_dead_steps() -> None:
    env = MatrixEnv(TwoStepGame(), n_envs=4)
    agent = RNNAgent(env.info.obs_dim + 2, 2, 8)
    buf = ReplayBuffer(env.info, capacity=50)
    runner = Runner(env, Policy(agent, env.info.n_actions, AgentInputs(agent_id=True, last_action=False)))
    stats = runner.collect(6, epsilon=1.0, buffer=buf)
    assert len(stats) == 12 and len(buf) == 12  # 6 steps × 4 envs / 2 steps per episode
    assert buf.data.mask[:12].sum(1).tolist() == [2.0] * 12
    assert buf.data.terminated[:12, 1].tolist() == [1.0] * 12 and buf.data.terminated[:12, 0].sum() == 0
    s = buf.data.state[:12]  # (episodes, T+1, S): start, then 2A/2B, then the final (same) state
    assert (s[:, 0, 0] == 1).all() and (s[:, 1, 1:].sum(-1) == 1).all()
    batch = buf.sample(5)
    assert batch.obs.shape[:2] == (5, 3) and batch.actions.shape[:2] == (5, 2)


def test_replay_ring_buffer_overwrites_oldest() -> None:
    env = MatrixEnv(TwoStepGame(), n_envs=1)
    buf = ReplayBuffer(env.info, capacity=3)
    ep = {k: np.zeros((2, *v.shape[1:]), dtype=v.numpy().dtype) for k, v in vars(buf.data).items()}
    for i in range(2):
        ep["reward"][:] = i
        buf.add(ep, np.array([2, 2]))
    assert len(buf) == 3 and buf.pos == 1 and buf.data.reward[0, 0] == 1


def test_lambda_returns_match_naive_recursion() -> None:
    torch.manual_seed(1)
    b, t = 3, 6
    reward, next_q = torch.randn(b, t, 1), torch.randn(b, t, 1)
    mask = torch.ones(b, t, 1)
    mask[0, 4:] = 0
    term = torch.zeros(b, t, 1)
    term[0, 3] = 1
    gamma, lam = 0.9, 0.6
    got = lambda_returns(reward, term, mask, next_q, gamma, lam)
    for i in range(b):
        length = int(mask[i].sum())
        g = None
        for k in reversed(range(length)):
            boot = next_q[i, k] if g is None else lam * g + (1 - lam) * next_q[i, k]
            g = reward[i, k] + gamma * (1 - term[i, k]) * boot
            torch.testing.assert_close(got[i, k], g)
    one_step = lambda_returns(reward, term, mask, next_q, gamma, 0.0)
    torch.testing.assert_close(one_step, reward + gamma * (1 - term) * next_q)


def test_best_policy_keeps_the_best_weights_and_swaps_them_in_temporarily() -> None:
    from decomp.training.best import BestPolicy

    class Holder:  # the two modules BestPolicy touches
        def __init__(self) -> None:
            self.agent, self.mixer = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)

    learner = Holder()
    best = BestPolicy()
    assert best.offer(100, {"eval/win_rate": 0.5, "eval/return": 3.0}, learner)
    kept = learner.agent.weight.detach().clone()
    with torch.no_grad():
        learner.agent.weight.add_(1.0)
    assert not best.offer(200, {"eval/win_rate": 0.5, "eval/return": 2.0}, learner)  # worse return
    assert not best.offer(300, {"eval/win_rate": 0.4, "eval/return": 9.0}, learner)  # worse win rate
    current = learner.agent.weight.detach().clone()
    with best.swapped_in(learner):
        torch.testing.assert_close(learner.agent.weight, kept)
    torch.testing.assert_close(learner.agent.weight, current)  # restored afterwards
    restored = BestPolicy()
    restored.load_state_dict(best.state_dict())
    assert (restored.step, restored.win_rate) == (100, 0.5)
    assert best.offer(400, {"eval/win_rate": 0.6, "eval/return": 0.0}, learner) and best.step == 400


# ---- replay checkpoints: only the live slots are saved -------------------------------------------
def _random_replay(lengths: list[int], capacity: int, seed: int) -> ReplayBuffer:
    """A replay filled the way the runner fills it: random values in each episode's live slots, zeros after."""
    from decomp.envs.base import EnvInfo

    info = EnvInfo(n_agents=2, n_actions=3, obs_dim=4, state_dim=5, feat_dim=2, episode_limit=6, n_envs=1)
    buf = ReplayBuffer(info, capacity, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    for length in lengths:
        ep = {}
        for name, field in vars(buf.data).items():
            slots = length + 1 if field.shape[1] == info.episode_limit + 1 else length
            full = torch.zeros(1, *field.shape[1:], dtype=field.dtype)
            if field.dtype == torch.bool:
                full[:, :slots] = torch.rand(1, slots, *field.shape[2:], generator=gen) < 0.5
            elif field.dtype == torch.long:
                full[:, :slots] = torch.randint(0, info.n_actions, (1, slots, *field.shape[2:]), generator=gen)
            else:
                full[:, :slots] = torch.randn(1, slots, *field.shape[2:], generator=gen)
            ep[name] = full.numpy()
        buf.add(ep, np.array([length]))
    return buf


@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=12), capacity=st.integers(1, 8),
       seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_replay_checkpoint_restores_every_field_exactly(lengths: list[int], capacity: int, seed: int) -> None:
    """Saving only the live slots loses nothing: a fresh (or a used) buffer loaded from the packed
    state equals the original in every slot, padding included, and samples the same episodes."""
    buf = _random_replay(lengths, capacity, seed)
    other = _random_replay([6] * capacity, capacity, seed + 1)  # full of other, longer episodes
    other.load_state_dict(buf.state_dict())
    for name, field in vars(buf.data).items():
        assert torch.equal(getattr(other.data, name), field), name
    assert torch.equal(other.lengths, buf.lengths) and (other.pos, other.count) == (buf.pos, buf.count)
    if len(buf) >= 2:
        a, b = buf.sample(2), other.sample(2)
        assert all(torch.equal(getattr(a, k), getattr(b, k)) for k in vars(a))


def test_replay_checkpoint_saves_only_live_slots_and_loads_the_old_dense_form() -> None:
    buf = _random_replay([1, 2, 1, 3], capacity=10, seed=0)
    sd = buf.state_dict()
    assert sd["packed"]["obs"].shape == (1 + 2 + 1 + 3 + 4, 2, 4)  # length + 1 slots an episode
    assert sd["packed"]["actions"].shape == (7, 2)
    dense = {k: v for k, v in sd.items() if k != "packed"}
    dense["data"] = {name: field[: buf.count].clone() for name, field in vars(buf.data).items()}
    fresh = _random_replay([], capacity=10, seed=0)
    fresh.load_state_dict(dense)
    assert all(torch.equal(getattr(fresh.data, k), v) for k, v in vars(buf.data).items())


def test_replay_checkpoint_from_another_env_or_corrupt_is_refused_untouched() -> None:
    sd = _random_replay([2, 3], capacity=4, seed=0).state_dict()
    target = _random_replay([6], capacity=4, seed=1)
    before = {k: v.clone() for k, v in vars(target.data).items()}
    wrong = {**sd, "packed": {**sd["packed"], "obs": sd["packed"]["obs"][:, :, :3]}}
    with pytest.raises(ValueError, match=r"field 'obs' has per-slot shape \(2, 3\), this env needs \(2, 4\)"):
        target.load_state_dict(wrong)
    short = {**sd, "packed": {**sd["packed"], "reward": sd["packed"]["reward"][:-1]}}
    with pytest.raises(ValueError, match="'reward' holds 4 slots where its episode lengths need 5"):
        target.load_state_dict(short)
    assert all(torch.equal(getattr(target.data, k), v) for k, v in before.items()) and target.count == 1
