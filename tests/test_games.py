"""Payoff validation, presets and optima."""

from __future__ import annotations

import numpy as np
import pytest

from decomp.envs.matrix import MatrixEnv
from games import GAMES, Payoff, TwoStepGame, make_game


def test_qtran_game_optimum() -> None:
    g = make_game("qtran")
    assert g.optimal_actions() == [(0, 0)] and g.optimum == 8
    assert g.is_optimal((0, 0)) and not g.is_optimal((1, 1))


@pytest.mark.parametrize("name, values, optimal", [
    # the published tables (README "Matrix games"), written out independently of games/presets.py
    ("qmix_easy", [[12, -0.1, -0.1], [-0.1, 0, 0], [-0.1, 0, 0]], [(0, 0)]),
    ("climbing", [[11, -30, 0], [-30, 7, 6], [0, 0, 5]], [(0, 0)]),
    ("penalty", [[10, 0, -100], [0, 2, 0], [-100, 0, 10]], [(0, 0), (2, 2)]),
])
def test_two_agent_presets_match_their_published_payoffs(name: str, values: list, optimal: list) -> None:
    g = make_game(name)
    np.testing.assert_array_equal(g.values, np.array(values, dtype=float))
    assert g.optimal_actions() == optimal


def test_qplex3_pays_8_for_all_a_minus_12_for_some_else_0() -> None:
    g = make_game("qplex3")
    assert g.values.shape == (3, 3, 3)
    for joint in np.ndindex(3, 3, 3):
        n_a = sum(a == 0 for a in joint)
        expected = 8.0 if n_a == 3 else (-12.0 if n_a > 0 else 0.0)
        assert g.values[joint] == expected, joint
    assert g.optimal_actions() == [(0, 0, 0)]


def test_penalty_game_parameter_and_two_optima() -> None:
    g = make_game("penalty", k=-30)
    assert g.values[0, 2] == -30
    assert g.optimal_actions() == [(0, 0), (2, 2)]


@pytest.mark.parametrize("name", sorted(GAMES))
def test_every_preset_builds_an_env(name: str) -> None:
    env = MatrixEnv(make_game(name), n_envs=3)
    ob = env.reset()
    assert ob.obs.shape == (3, env.info.n_agents, env.info.obs_dim)
    actions = np.zeros((3, env.info.n_agents), dtype=np.int64)
    res = env.step(actions)
    assert res.reward.shape == (3,)


def test_n_agent_payoff_and_uneven_actions() -> None:
    p = Payoff(np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4), "uneven")
    env = MatrixEnv(p, n_envs=2)
    assert env.info.n_agents == 3 and env.info.n_actions == 4
    assert env.reset().avail[0, 0].tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="action 3 is not available"):
        env.step(np.array([[0, 0, 0], [3, 0, 0]]))


@pytest.mark.parametrize(
    "values, match",
    [
        ([[1.0, float("nan")], [0.0, 1.0]], r"entries must be finite numbers; entry \(0, 1\) is nan"),
        ([[1.0, float("inf")], [0.0, 1.0]], r"entry \(0, 1\) is inf"),
        ([1.0, 2.0], r"need at least 2 agents"),
        (np.zeros((2, 0)), r"every agent needs at least 1 action"),
        ([["a", "b"], ["c", "d"]], r"entries must be numbers"),
    ],
)
def test_bad_payoffs_are_refused(values, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Payoff(values)


def test_unknown_game_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown game 'qtrn'; valid games: .*climbing.*qtran"):
        make_game("qtrn")


def test_two_step_game_dynamics() -> None:
    env = MatrixEnv(TwoStepGame(), n_envs=2)
    env.reset()
    r1 = env.step(np.array([[0, 1], [1, 0]]))  # env 0 -> 2A, env 1 -> 2B
    assert not r1.done.any() and r1.reward.tolist() == [0, 0]
    r2 = env.step(np.array([[0, 0], [1, 1]]))
    assert r2.done.all() and r2.reward.tolist() == [7, 8]
    assert r2.restart.state[:, 0].tolist() == [1, 1]  # auto-reset to the start state


# ---- the reward's value, not just its shape (issue "Checks that can fail, part 2", item 1) -------------
def _all_joint(shape: tuple[int, ...]) -> np.ndarray:
    """(K, N) every joint action of a payoff of this shape, C order."""
    return np.array(list(np.ndindex(*shape)), dtype=np.int64).reshape(-1, len(shape))


def _assert_one_step_rewards(payoff: Payoff, seed: int) -> None:
    """Step all joint actions at once (shuffled across envs) and one env at a time: reward = payoff entry."""
    joint = _all_joint(payoff.values.shape)
    order = np.random.default_rng(seed).permutation(len(joint))  # an env's index says nothing of its action
    env = MatrixEnv(payoff, n_envs=len(joint))
    env.reset()
    res = env.step(joint[order])
    expected = np.array([payoff.values[tuple(a)] for a in joint[order]], dtype=np.float32)  # env reward is float32
    np.testing.assert_array_equal(res.reward, expected)
    assert res.done.all()
    single = MatrixEnv(payoff, n_envs=1)
    single.reset()
    for a in joint:
        assert single.step(a[None]).reward[0] == np.float32(payoff.values[tuple(a)]), tuple(a)


@pytest.mark.parametrize("name", sorted(set(GAMES) - {"two_step"}))
def test_every_one_step_preset_pays_its_payoff_entry(name: str) -> None:
    """The env's reward is the payoff at the joint action taken (a transposed or shifted lookup fails)."""
    game = make_game(name)
    assert isinstance(game, Payoff)
    _assert_one_step_rewards(game, seed=0)


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 4), (3, 2, 2, 2)], ids=lambda s: "x".join(map(str, s)))
def test_a_random_n_agent_payoff_is_paid_entry_by_entry(shape: tuple[int, ...]) -> None:
    """Random, asymmetric, distinct entries (float32-exact): only the right lookup can match every one."""
    rng = np.random.default_rng(sum(shape))
    values = rng.permutation(np.arange(np.prod(shape), dtype=np.float64) - 7.5).reshape(shape) * 1.25
    _assert_one_step_rewards(Payoff(values, "random"), seed=1)


def test_two_step_game_pays_the_stage_two_entry_after_each_stage_one_choice() -> None:
    """Every (stage-1, stage-2) joint action: stage 1 pays 0, stage 2 pays 2A's or 2B's entry as agent 1 chose."""
    game = make_game("two_step")
    assert isinstance(game, TwoStepGame)
    stages = game.stage_payoffs()
    joint = _all_joint((game.n_actions_each,) * game.n_agents)  # (4, 2)
    first, second = np.repeat(joint, len(joint), 0), np.tile(joint, (len(joint), 1))  # all 16 pairs
    env = MatrixEnv(game, n_envs=len(first))
    env.reset()
    r1 = env.step(first)
    np.testing.assert_array_equal(r1.reward, np.zeros(len(first), dtype=np.float32))
    assert not r1.done.any()
    r2 = env.step(second)
    expected = [stages[int(a1[0])].values[tuple(a2)] for a1, a2 in zip(first, second)]  # agent 1's choice: 2A=0, 2B=1
    np.testing.assert_array_equal(r2.reward, np.array(expected, dtype=np.float32))
    assert r2.done.all() and sorted(set(expected)) == [0.0, 1.0, 7.0, 8.0]
