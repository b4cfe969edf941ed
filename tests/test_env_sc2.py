"""Real-SMAC backend against a fake ``smac`` package, and StarCraft backend selection.

``tests/fake_smac/smac/env`` mimics oxwhirl's ``StarCraft2Env`` API with deterministic rules:
always attacking wins, always stopping loses, always moving times out (episode_limit 15).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from decomp.envs.base import BatchedEnv
from decomp.envs.smac_select import (
    SMAC3_MESSAGE,
    BackendUnavailable,
    choose_backend,
    make_smac_env,
)

FAKE = str(Path(__file__).parent / "fake_smac")
STOP, NORTH, NOOP = 1, 2, 0


def _forget_smac(mp: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "smac" or m.startswith("smac.")]:
        mp.delitem(sys.modules, name)


@pytest.fixture
def fake_smac(monkeypatch: pytest.MonkeyPatch):
    """The fake oxwhirl smac importable (first on sys.path, inherited by spawned workers)."""
    _forget_smac(monkeypatch)
    monkeypatch.syspath_prepend(FAKE)
    yield
    for name in [m for m in sys.modules if m == "smac" or m.startswith("smac.")]:
        del sys.modules[name]  # imported from FAKE during the test: do not leak it


@pytest.fixture
def no_sc2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No StarCraft II: SC2PATH unset and a HOME without ~/StarCraftII."""
    monkeypatch.delenv("SC2PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def with_sc2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    (tmp_path / "StarCraftII" / "Versions").mkdir(parents=True)
    monkeypatch.setenv("SC2PATH", str(tmp_path / "StarCraftII"))
    return tmp_path / "StarCraftII"


def attack_first_enemy(avail: np.ndarray) -> np.ndarray:
    """(E, N, A) -> (E, N): first available attack, else stop, else no-op (dead)."""
    attacks = avail[..., 6:]
    return np.where(attacks.any(-1), 6 + attacks.argmax(-1), np.where(avail[..., STOP], STOP, NOOP))


def with_fallback(avail: np.ndarray, action: int) -> np.ndarray:
    return np.where(avail[..., action], action, NOOP)


# ----------------------------------------------------------------------------------- SC2Env
@pytest.fixture
def sc2_parallel(fake_smac: None):
    from decomp.envs.sc2 import SC2Env

    env = SC2Env("3m", 2, seed=0)  # two spawned worker processes
    yield env
    env.close()


def test_parallel_info_shapes_and_feats(sc2_parallel) -> None:
    env = sc2_parallel
    assert isinstance(env, BatchedEnv)
    info = env.info
    # fake 3m: obs = 3 own + 2 allies + 3 enemies + 3 id; state = 3*4 allies + 3*3 enemies + 3*9 last actions
    assert (info.n_agents, info.n_actions, info.obs_dim, info.state_dim) == (3, 9, 11, 48)
    assert (info.feat_dim, info.episode_limit, info.n_envs) == (4, 15, 2)
    o = env.reset()
    assert o.obs.shape == (2, 3, 11) and o.obs.dtype == np.float32
    assert o.state.shape == (2, 48) and o.state.dtype == np.float32
    assert o.avail.shape == (2, 3, 9) and o.avail.dtype == np.bool_
    assert o.feats.shape == (2, 3, 4) and o.feats.dtype == np.float32
    np.testing.assert_array_equal(o.feats, o.state[:, :12].reshape(2, 3, 4))
    assert np.all(o.feats[..., 0] == 1.0)  # full health
    assert not np.array_equal(o.state[0], o.state[1])  # seeds differ per env (seed + i)


def test_parallel_outcomes_and_autoreset(sc2_parallel) -> None:
    """env 0 always attacks (wins at step 6), env 1 always stops (loses at step 10)."""
    env = sc2_parallel
    o = env.reset()
    outcomes: dict[int, tuple[int, bool, bool, bool]] = {}
    for t in range(1, 11):
        a = np.stack([attack_first_enemy(o.avail[0]), with_fallback(o.avail[1], STOP)])
        r = env.step(a)
        assert r.reward.dtype == np.float32 and r.reward.shape == (2,)
        for e in np.flatnonzero(r.done):
            outcomes.setdefault(int(e), (t, bool(r.terminated[e]), bool(r.won[e]), bool(r.done[e])))
            assert np.all(r.restart.feats[e][..., 0] == 1.0)  # restarted with full health
            assert not np.array_equal(r.restart.state[e], r.next.state[e])
        for f in ("obs", "state", "avail", "feats"):
            np.testing.assert_array_equal(getattr(r.next, f)[~r.done], getattr(r.restart, f)[~r.done])
        dead = r.next.feats[..., 0] == 0
        assert np.all(r.next.avail[dead][:, NOOP]) and not np.any(r.next.avail[dead][:, 1:])
        o = r.restart
    assert outcomes == {0: (6, True, True, True), 1: (10, True, False, True)}


def test_time_limit_is_done_not_terminated(fake_smac: None) -> None:
    from decomp.envs.sc2 import SC2Env

    for kwargs in ({}, {"continuing_episode": True}):  # inferred, and SMAC's info["episode_limit"]
        env = SC2Env("3m", 1, seed=0, smac_kwargs=kwargs)  # n_envs=1: in-process
        o = env.reset()
        for t in range(1, 16):
            r = env.step(with_fallback(o.avail, NORTH))  # moving dodges every shot
            o = r.restart
            assert bool(r.done[0]) == (t == 15)
        assert not r.terminated[0] and not r.won[0]
        env.close()


def test_sc2_restart_mid_episode_is_dropped_not_a_terminal(fake_smac: None) -> None:
    """oxwhirl's env returns (0, True, {}) after an SC2 full restart: never stored as a true terminal."""
    from decomp.core.buffer import ReplayBuffer
    from decomp.rollout.runner import Runner
    from decomp.core.agents import RNNAgent, agent_input_dim
    from decomp.rollout.policy import Policy

    from decomp.envs.sc2 import SC2Env

    env = SC2Env("3m", 1, seed=0, smac_kwargs={"restart_at_steps": (4,)})
    o = env.reset()
    for t in range(1, 5):
        r = env.step(with_fallback(o.avail, NORTH))
        o = r.restart
    assert r.done[0] and not r.terminated[0] and not r.won[0] and r.aborted[0]  # the crash at step 4
    assert env._slots[0].env.full_restarts == 1
    env.close()

    # through the runner: the crashed episode reaches neither the replay nor the statistics
    env = SC2Env("3m", 1, seed=0, smac_kwargs={"restart_at_steps": (4,)})
    info = env.info
    agent = RNNAgent(agent_input_dim(info.obs_dim, info.n_agents, info.n_actions, True, True), info.n_actions, 16)
    runner = Runner(env, Policy(agent, info.n_actions), seed=0)
    buf = ReplayBuffer(info, 50, seed=0)
    stats = runner.collect(4 + 3 * info.episode_limit, 0.5, buf)
    assert len(stats) == len(buf) == runner.episodes >= 1
    assert int(buf.lengths[0]) != 4 and bool((buf.data.terminated[: len(buf)].sum(1) <= 1).all())
    ev = runner.evaluate(SC2Env("3m", 1, seed=1, smac_kwargs={"restart_at_steps": (2,)}))
    assert len(ev) == 0  # the only evaluation episode crashed: no outcome to report
    env.close()


def test_2s3z_protoss_feat_dim_and_reward_scale(fake_smac: None) -> None:
    from decomp.envs.sc2 import SC2Env

    env = SC2Env("2s3z", 1, seed=1, reward_scale=10.0, parallel=False)
    assert env.info.feat_dim == 4 + 1 + 2  # health, cooldown, x, y, shield, 2 unit-type bits
    o = env.reset()
    np.testing.assert_array_equal(o.feats, o.state[:, :35].reshape(1, 5, 7))
    assert np.all(o.feats[..., 4] == 1.0)  # shield
    np.testing.assert_array_equal(o.feats[0, :, 5:].argmax(-1), [0, 1, 0, 1, 0])  # type bits
    r = env.step(attack_first_enemy(o.avail))
    # 10 HP killed; SMAC normalises to a return of at most 2 (decomp's reward_scale_rate), then x10
    assert r.reward[0] == pytest.approx(10.0 * 10 / (70.0 / 2.0))  # fake max: 5 enemies x 10 HP + 20
    env.close()
    own = SC2Env("2s3z", 1, seed=1, reward_scale=1.0, parallel=False, smac_kwargs={"reward_scale_rate": 20})
    o = own.reset()
    assert own.step(attack_first_enemy(o.avail)).reward[0] == pytest.approx(10 / (70.0 / 20.0))  # the user's rate
    own.close()


def test_obs_instead_of_state_uses_obs_rows(fake_smac: None) -> None:
    from decomp.envs.sc2 import SC2Env

    env = SC2Env("3m", 1, smac_kwargs={"obs_instead_of_state": True})
    assert env.info.feat_dim == env.info.obs_dim
    o = env.reset()
    np.testing.assert_array_equal(o.feats, o.obs)
    env.close()


def test_rejects_unavailable_action_and_worker_errors(fake_smac: None) -> None:
    from decomp.envs.sc2 import SC2Env

    env = SC2Env("3m", 1)
    o = env.reset()
    with pytest.raises(ValueError, match="not available"):
        env.step(np.zeros((1, 3), dtype=int))  # no-op while alive
    env.close()
    with pytest.raises(RuntimeError, match="fake SMAC knows maps"):
        SC2Env("nope", 2)  # the worker's exception comes back with its traceback


# ------------------------------------------------------------------------- backend selection
def test_auto_without_smac_falls_back_to_smax(monkeypatch, no_sc2, capsys) -> None:
    _forget_smac(monkeypatch)
    monkeypatch.setitem(sys.modules, "smac", None)  # `import smac` -> ImportError
    assert choose_backend("auto", "3m") == "smax"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "smac is not installed; StarCraft II not found (SC2PATH unset, ~/StarCraftII missing)" in err[0] and "using SMAX (jaxmarl) re-implementation of map 3m" in err[0]


def test_auto_without_starcraft_binary(fake_smac, no_sc2, capsys) -> None:
    assert choose_backend("auto", "3m") == "smax"
    err = capsys.readouterr().err
    assert "StarCraft II not found (SC2PATH unset, ~/StarCraftII missing) -> using SMAX" in err and "SMAX" in err


def test_auto_with_smac_and_sc2_picks_sc2(fake_smac, with_sc2, capsys) -> None:
    assert choose_backend("auto") == "sc2"
    assert choose_backend("smax") == "smax"
    env = make_smac_env("3m", 1, seed=0, backend="auto")
    assert type(env).__name__ == "SC2Env" and env.info.n_agents == 3
    env.close()


def test_sc2_requested_but_missing_is_actionable(fake_smac, no_sc2, monkeypatch, tmp_path) -> None:
    with pytest.raises(BackendUnavailable) as e:
        choose_backend("sc2")
    msg = str(e.value)
    for needle in ("pip install git+https://github.com/oxwhirl/smac.git", "s2client-proto", "SMAC_Maps", "export SC2PATH="):
        assert needle in msg
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    with pytest.raises(BackendUnavailable, match="has no Versions/ directory"):
        choose_backend("sc2")


def test_smac3_is_named_as_such(monkeypatch, with_sc2, capsys) -> None:
    _forget_smac(monkeypatch)
    smac3 = types.ModuleType("smac")
    smac3.__version__ = "2.3.1"  # type: ignore[attr-defined]
    smac3.HyperparameterOptimizationFacade = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "smac", smac3)
    assert choose_backend("auto", "3m") == "smax"
    err = capsys.readouterr().err
    assert SMAC3_MESSAGE in err and "using SMAX" in err
    assert "is SMAC3, the hyperparameter optimiser from PyPI, not the StarCraft Multi-Agent Challenge" in err
    with pytest.raises(BackendUnavailable) as e:
        choose_backend("sc2")
    assert SMAC3_MESSAGE in str(e.value) and "pip uninstall smac" in str(e.value)


def test_bad_backend_and_unknown_smax_map(monkeypatch, no_sc2) -> None:
    with pytest.raises(ValueError, match=r"'auto', 'sc2', 'smax'"):
        choose_backend("starcraft")
    monkeypatch.setitem(sys.modules, "smac", None)
    with pytest.raises(ValueError, match=r"unknown SMAX map 'corridor' \(real StarCraft II is not available"):
        make_smac_env("corridor", 1, backend="auto")
