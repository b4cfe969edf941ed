"""SMAX backend: shapes, feature layout, auto-reset semantics, no JAX recompilation.

Compiling the vmapped SMAX step takes several seconds, so one 3m env is shared by the module.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from decomp.envs.base import BatchedEnv
from decomp.envs.smax import SmaxEnv, smax_map_names
from tests.compiles import CompileCounter

N_ENVS = 16
STOP = 4


def random_valid(rng: np.random.Generator, avail: np.ndarray) -> np.ndarray:
    """Uniform over available actions, vectorised: argmax of uniform noise masked by avail."""
    return (rng.random(avail.shape) * avail).argmax(-1)  # (E, N)


@pytest.fixture(scope="module")
def env3m():
    env = SmaxEnv("3m", N_ENVS, seed=0)
    yield env
    env.close()


def test_info_and_dtypes_3m(env3m: SmaxEnv) -> None:
    info = env3m.info
    assert isinstance(env3m, BatchedEnv)
    assert (info.n_agents, info.n_actions, info.obs_dim, info.state_dim) == (3, 8, 75, 72)
    assert (info.feat_dim, info.episode_limit, info.n_envs) == (10, 100, N_ENVS)
    o = env3m.reset(seed=0)
    assert o.obs.shape == (N_ENVS, 3, 75) and o.obs.dtype == np.float32
    assert o.state.shape == (N_ENVS, 72) and o.state.dtype == np.float32
    assert o.avail.shape == (N_ENVS, 3, 8) and o.avail.dtype == np.bool_
    assert o.feats.shape == (N_ENVS, 3, 10) and o.feats.dtype == np.float32
    # at the start every ally is alive: 4 moves + stop, attacks only in range (enemies start far)
    assert o.avail[..., :5].all()


def test_feats_row_i_is_ally_i(env3m: SmaxEnv) -> None:
    o = env3m.reset(seed=3)
    np.testing.assert_array_equal(o.feats, o.state[:, :30].reshape(N_ENVS, 3, 10))
    inner = env3m._state.state  # jaxmarl's per-unit arrays, allies first
    health = np.asarray(inner.unit_health)[:, :3] / 45.0  # marine max health
    np.testing.assert_allclose(o.feats[..., 0], health, rtol=1e-6)
    # positions are scaled from map coordinates (0..32) to [0, 1]
    np.testing.assert_allclose(o.feats[..., 1:3], np.asarray(inner.unit_positions)[:, :3] / 32.0, rtol=1e-6)
    assert (o.feats[..., 4] == 1).all()  # marine = unit type 0 -> one-hot bit at index 4


def test_random_rollout_autoreset_semantics(env3m: SmaxEnv) -> None:
    rng = np.random.default_rng(0)
    o = env3m.reset(seed=1)
    t = np.zeros(N_ENVS, dtype=int)
    n_done = n_won = 0
    fields = ("obs", "state", "avail", "feats")
    for _ in range(300):
        r = env3m.step(random_valid(rng, o.avail))
        t += 1
        assert r.reward.shape == (N_ENVS,) and r.reward.dtype == np.float32
        assert np.all(r.reward >= 0)
        assert not np.any(r.terminated & ~r.done) and not np.any(r.won & ~r.terminated)
        # restart == next exactly where not done, and differs where done
        for f in fields:
            a, b = getattr(r.next, f), getattr(r.restart, f)
            np.testing.assert_array_equal(a[~r.done], b[~r.done])
        if r.done.any():
            assert not np.any(np.all(r.next.state[r.done] == r.restart.state[r.done], axis=-1))
            assert np.all(r.restart.feats[r.done][..., 0] == 1.0)  # fresh episode: full health
        # a dead ally may only stop
        dead = r.next.feats[..., 0] == 0  # (E, N)
        only_stop = np.zeros(8, dtype=bool)
        only_stop[STOP] = True
        assert np.all(r.next.avail[dead] == only_stop)
        assert np.all(r.next.avail[..., STOP])
        # terminated <=> a side is wiped out; time-outs are done but not terminated
        allies_dead = np.all(r.next.state[:, 0:30:10] == 0, axis=-1)
        enemies_dead = np.all(r.next.state[:, 30:60:10] == 0, axis=-1)
        np.testing.assert_array_equal(r.terminated, allies_dead | enemies_dead)
        np.testing.assert_array_equal(r.won, enemies_dead & ~allies_dead)
        np.testing.assert_array_equal(r.done & ~r.terminated, r.done & (t >= 100))
        np.testing.assert_array_equal(r.info["episode_steps"], t)
        assert np.all(t <= 100)
        n_done += int(r.done.sum())
        n_won += int(r.won.sum())
        t[r.done] = 0
        o = r.restart
    assert n_done > N_ENVS  # several episodes ended in every env on average


def test_same_seed_same_rollout(env3m: SmaxEnv) -> None:
    def run() -> list[np.ndarray]:
        rng = np.random.default_rng(7)
        o = env3m.reset(seed=11)
        out = [o.state]
        for _ in range(20):
            r = env3m.step(random_valid(rng, o.avail))
            o = r.restart
            out += [r.next.state, r.reward]
        return out

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_no_recompilation(env3m: SmaxEnv) -> None:
    """Reset -> steps through several episode ends -> reset(seed) -> steps: compile once only.

    Checked two ways: the jitted step's executable cache stays at one entry, and no XLA backend
    compile event at all fires once warmed up (catches host-side stray jnp ops too).
    """
    rng = np.random.default_rng(2)
    o = env3m.reset()
    o = env3m.step(random_valid(rng, o.avail)).restart  # warm-up: compile step (if not yet)
    o = env3m.reset(seed=123)  # warm-up: PRNGKey(seed)
    with CompileCounter() as counter:
        n_done = 0
        for _ in range(150):
            r = env3m.step(random_valid(rng, o.avail))
            o, n_done = r.restart, n_done + int(r.done.sum())
        o = env3m.reset(seed=5)  # state from reset fed to step again
        for _ in range(30):
            r = env3m.step(random_valid(rng, o.avail).astype(np.int64))  # other int dtype on purpose
            o = r.restart
    compiles = counter.compiles
    assert n_done >= 3
    assert env3m.compile_count() == 1, f"step compiled {env3m.compile_count()} times"
    assert compiles == [], f"{len(compiles)} XLA compilations after warm-up"


def test_rejects_unavailable_and_early_step(env3m: SmaxEnv) -> None:
    o = env3m.reset(seed=0)
    bad = np.full((N_ENVS, 3), STOP)
    far = np.argwhere(~o.avail[..., 5])[0]  # an enemy out of range at the start
    bad[far[0], far[1]] = 5
    with pytest.raises(ValueError, match="not available"):
        env3m.step(bad)
    with pytest.raises(ValueError, match="shape"):
        env3m.step(np.zeros((N_ENVS, 2), dtype=int))
    fresh = SmaxEnv.__new__(SmaxEnv)
    fresh._state = None
    with pytest.raises(RuntimeError, match="reset"):
        fresh.step(bad)


def test_unknown_map_lists_valid_ones() -> None:
    names = smax_map_names()
    for m in ("3m", "2s3z", "3s5z", "5m_vs_6m", "3s_vs_5z", "6h_vs_8z", "10m_vs_11m", "27m_vs_30m", "3s5z_vs_3s6z"):
        assert m in names
    assert any(n.startswith("smacv2_") for n in names)
    with pytest.raises(ValueError, match=r"unknown SMAX map 'corridor'.*2s3z.*3m"):
        SmaxEnv("corridor", 2)


def test_2s3z_shapes_and_feats() -> None:
    env = SmaxEnv("2s3z", 2, seed=0)
    info = env.info
    assert (info.n_agents, info.n_actions, info.obs_dim, info.state_dim, info.feat_dim) == (5, 10, 127, 120, 10)
    o = env.reset()
    assert o.obs.shape == (2, 5, 127) and o.state.shape == (2, 120)
    assert o.avail.shape == (2, 5, 10) and o.feats.shape == (2, 5, 10)
    np.testing.assert_array_equal(o.feats, o.state[:, :50].reshape(2, 5, 10))
    # 2 stalkers (type 2) then 3 zealots (type 3): one-hot at 4 + type
    np.testing.assert_array_equal(o.feats[0, :, 4:].argmax(-1), [2, 2, 3, 3, 3])
    r = env.step(random_valid(np.random.default_rng(0), o.avail))
    assert r.next.obs.shape == (2, 5, 127) and r.restart.feats.shape == (2, 5, 10)
    env.close()


def test_smac_reward_shaping_3m() -> None:
    """env.reward=smac: SMAC's health + 10/kill + 200/win, rescaled so a won battle returns exactly 2.

    Same seed and actions as the native env, so the battles are identical and only the reward differs.
    """
    native, shaped = SmaxEnv("3m", 8, seed=0), SmaxEnv("3m", 8, seed=0, reward="smac")
    rng = np.random.default_rng(3)
    o, o2 = native.reset(seed=5), shaped.reset(seed=5)
    ret_n, ret_s = np.zeros(8), np.zeros(8)
    ends: list[tuple[bool, float, float]] = []
    for _ in range(300):
        # attack the lowest-numbered enemy in range, else move or stop at random: wins some battles
        attack = o.avail[..., 5:]  # (E, N, 3)
        a = np.where(attack.any(-1), 5 + attack.argmax(-1), random_valid(rng, o.avail[..., :5]))  # (E, N)
        r, r2 = native.step(a), shaped.step(a)
        np.testing.assert_array_equal(r.next.state, r2.next.state)
        np.testing.assert_array_equal(r.won, r2.won)
        assert np.all(r2.reward >= 0)
        ret_n += r.reward
        ret_s += r2.reward
        for e in np.flatnonzero(r.done):
            ends.append((bool(r.won[e]), float(ret_n[e]), float(ret_s[e])))
        ret_n[r.done] = ret_s[r.done] = 0
        o = r.restart
    won = [s for w, _, s in ends if w]
    lost = [(n, s) for w, n, s in ends if not w]
    assert won and lost
    np.testing.assert_allclose(won, 2.0, atol=1e-4)  # all health, 3 kills and the win
    # no win bonus: SMAX pays health removed / 135 (3 marines of 45), SMAC (health + 10 kills) * 2 / 365
    kills = np.array([(s * 365 / 2 - 135 * n) / 10 for n, s in lost])
    np.testing.assert_allclose(kills, np.round(kills), atol=1e-3)
    assert kills.min() > -1e-3 and kills.max() < 3 - 1e-3 and kills.max() > 1 - 1e-3  # some lost battles kill
    with pytest.raises(ValueError, match="native"):
        SmaxEnv("3m", 2, reward="sparse")


def test_a_copied_start_plays_the_same_battle_until_chance_enters(env3m: SmaxEnv) -> None:
    """benchmarks/smax_outcome_noise.py copies one start into every env: the copies must be that start.

    Units start out of range, so while every unit stands still no random cooldown is drawn: every copy
    must then see the same observations; a wrong copy (another row, env states left uncopied) would not.
    """
    noise = importlib.import_module("benchmarks.smax_outcome_noise")  # the repo root is on sys.path (conftest)
    ob = env3m.reset(seed=3)
    assert not np.allclose(ob.obs[0], ob.obs[5])  # distinct starts before the copy
    copied = noise.copy_start(env3m, ob, 5)
    assert np.array_equal(copied.obs, np.broadcast_to(ob.obs[5], ob.obs.shape))
    for _ in range(2):
        res = env3m.step(np.full((N_ENVS, 3), STOP, dtype=np.int64))
        assert np.array_equal(res.next.obs, np.broadcast_to(res.next.obs[0], res.next.obs.shape))
        assert not res.done.any()
    assert env3m.compile_count() == 1  # the copied states keep their dtypes: no recompilation
