"""JAX-side acting for SMAX: forward pass == torch, collection and evaluation act like the torch Policy,
collection == Runner's protocol, no recompiles.

Compiling SMAX (~10 s) and the fused rollout (~10 s) dominate: the env has the shape of
tests/test_env_smax.py's (3m, 16 envs) so a full run compiles the step once, and every runner here
uses the same chunk and input options so the rollout compiles once.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decomp.core.agents import LayerNormRNNAgent, MLPAgent, RNNAgent, agent_input_dim, build_inputs
from decomp.core.buffer import ReplayBuffer
from decomp.rollout import jax_policy as sp
from decomp.rollout.policy import Policy, select_actions
from decomp.rollout.runner import Runner
from decomp.rollout.runner_jax import JaxPolicyRunner, make_runner

N_ENVS = 16
CHUNK = 32
HIDDEN = 32


def make_agent(info, seed: int = 0) -> RNNAgent:
    torch.manual_seed(seed)
    return RNNAgent(agent_input_dim(info.obs_dim, info.n_agents, info.n_actions, True, True), info.n_actions, HIDDEN)


def make_policy(info, seed: int = 0) -> Policy:
    return Policy(make_agent(info, seed), info.n_actions)


@pytest.fixture(scope="module")
def smax_env():
    from decomp.envs.smax import SmaxEnv

    env = SmaxEnv("3m", N_ENVS, seed=0)
    yield env
    env.close()


# -- forward pass ---------------------------------------------------------------------------------
@pytest.mark.parametrize("agent_id,last_action,cls", [(True, True, RNNAgent), (False, True, RNNAgent),
                                                     (True, False, RNNAgent), (True, True, LayerNormRNNAgent)])
def test_forward_matches_torch_over_steps(agent_id: bool, last_action: bool, cls: type) -> None:
    import jax.numpy as jnp

    e, n, o, a, h_dim = 6, 3, 11, 7, 16
    agent = cls(agent_input_dim(o, n, a, agent_id, last_action), a, h_dim)
    if cls is LayerNormRNNAgent:  # away from LayerNorm's identity init, so the JAX twin must really apply it
        torch.nn.init.normal_(agent.norm.weight)
        torch.nn.init.normal_(agent.norm.bias)
    params = sp.export_params(agent)
    h_t = torch.randn(e, n, h_dim)
    h_j = jnp.asarray(h_t.numpy())
    for _ in range(4):  # a few recurrent steps: the hidden state must track too
        obs = torch.randn(e, n, o)
        last = torch.randint(-1, a, (e, n))  # includes -1 = no previous action
        with torch.no_grad():
            q_t, h_t = agent.step(build_inputs(obs, last, a, agent_id, last_action), h_t)
        inputs = sp.build_inputs(jnp.asarray(obs.numpy()), jnp.asarray(last.numpy()), a, agent_id, last_action)
        np.testing.assert_allclose(np.asarray(inputs), build_inputs(obs, last, a, agent_id, last_action).numpy())
        q_j, h_j = sp.agent_step(params, inputs, h_j)
        np.testing.assert_allclose(np.asarray(q_j), q_t.numpy(), atol=1e-5)
        np.testing.assert_allclose(np.asarray(h_j), h_t.numpy(), atol=1e-5)
        avail = torch.rand(e, n, a) < 0.6
        avail[..., 0] = True
        greedy_t = select_actions(q_t, avail, 0.0, torch.Generator())
        greedy_j = sp.egreedy(jnp.zeros(2, jnp.uint32), q_j, jnp.asarray(avail.numpy()), jnp.float32(0.0))
        np.testing.assert_array_equal(np.asarray(greedy_j), greedy_t.numpy())


def test_export_params_refuses_other_agents() -> None:
    with pytest.raises(ValueError, match="RNNAgent"):
        sp.export_params(MLPAgent(5, 3, 8))


def test_make_runner_picks_jax_only_when_equivalent(smax_env) -> None:
    from decomp.envs.matrix import MatrixEnv
    from games import make_game

    info = smax_env.info
    agent = make_agent(info)
    egreedy = Policy(agent, info.n_actions)
    assert egreedy.jax_exportable and type(make_runner(smax_env, egreedy, seed=0, chunk=CHUNK)) is JaxPolicyRunner
    sampled = Policy(agent, info.n_actions, kind="sampled")  # COMA's softmax sampling
    assert not sampled.jax_exportable and type(make_runner(smax_env, sampled, seed=0)) is Runner
    assert type(make_runner(smax_env, Policy(MLPAgent(10, info.n_actions, 8), info.n_actions))) is Runner
    matrix = MatrixEnv(make_game("climbing"), n_envs=2)
    assert type(make_runner(matrix, Policy(RNNAgent(10, 3, 8), 3))) is Runner
    with pytest.raises(TypeError, match="ε-greedy RNNAgent"):
        JaxPolicyRunner(smax_env, sampled)


# -- collection -----------------------------------------------------------------------------------
def test_greedy_collection_equals_torch_runner(smax_env) -> None:
    """Same env seed, same weights, ε = 0: the replay, counters and stats match Runner exactly."""
    from decomp.envs.smax import SmaxEnv

    info = smax_env.info
    policy = make_policy(info, seed=3)
    results = []
    for cls in (Runner, JaxPolicyRunner):
        env = SmaxEnv("3m", N_ENVS, seed=11)  # same compiled step, same env key
        kwargs = {"chunk": CHUNK} if cls is JaxPolicyRunner else {}
        runner = cls(env, policy, seed=0, **kwargs)
        buf = ReplayBuffer(info, 500)
        stats = [runner.collect(n, 0.0, buf) for n in (70, 45)]  # partial chunks, state kept across calls
        results.append((runner, buf, stats))
    (r_t, b_t, s_t), (r_j, b_j, s_j) = results
    assert (r_j.env_steps, r_j.episodes) == (r_t.env_steps, r_t.episodes) == (115 * N_ENVS, len(b_t))
    assert len(b_j) == len(b_t) > 0
    np.testing.assert_array_equal(b_j.lengths[: len(b_j)], b_t.lengths[: len(b_t)])
    for name in ("obs", "state", "avail", "feats", "actions", "reward", "terminated", "mask"):
        a, b = getattr(b_j.data, name)[: len(b_j)], getattr(b_t.data, name)[: len(b_t)]
        assert a.dtype == b.dtype, name
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=name)
    for x, y in zip(s_j, s_t):
        assert (x.lengths, x.wins) == (y.lengths, y.wins)
        np.testing.assert_allclose(x.returns, y.returns, rtol=1e-6)
    np.testing.assert_array_equal(r_j.t, r_t.t)
    for name, v in r_t.staging.items():  # episodes still running
        np.testing.assert_allclose(r_j.staging[name], v, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(r_j.current.obs, r_t.current.obs, atol=1e-6)


# -- evaluation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("epsilon", [0.0, 0.3])
def test_evaluate_acts_like_the_jax_twin(smax_env, monkeypatch, epsilon: float) -> None:
    """Runner.evaluate (torch Policy) and ``policy_step`` (the acting of the JAX ``one_step``) choose the
    same actions on every observation of a whole evaluation, the recurrent state carried on both sides.

    For ε > 0 each torch step is handed the uniforms that step's JAX key gives (``egreedy_draws``), so
    any difference in the ε-greedy rule, the draw order or the inputs shows up as a different action.
    """
    import jax
    import jax.numpy as jnp
    from decomp.envs.smax import SmaxEnv

    info = smax_env.info
    policy = make_policy(info, seed=4)
    key = jax.random.PRNGKey(9)
    steps: list[tuple[np.ndarray, np.ndarray, object, np.ndarray]] = []  # obs, avail, key, torch's actions
    draws: list[torch.Tensor] = []
    real_act = Policy.act

    def act(self, ob, state, eps, gen):
        nonlocal key
        key, k_act = jax.random.split(key)
        draws[:] = [torch.from_numpy(np.array(u)) for u in sp.egreedy_draws(k_act, ob.avail.shape)]
        decision = real_act(self, ob, state, eps, gen)
        assert not draws or eps <= 0.0, "torch drew fewer uniforms than JAX"
        steps.append((ob.obs.copy(), ob.avail.copy(), k_act, decision.actions.numpy().copy()))
        return decision

    def rand(shape, generator=None):
        assert draws, "torch drew more uniforms than JAX"
        u = draws.pop(0)
        assert tuple(u.shape) == tuple(shape)
        return u

    monkeypatch.setattr(Policy, "act", act)
    monkeypatch.setattr(torch, "rand", rand)
    stats = Runner(smax_env, policy, seed=0).evaluate(SmaxEnv("3m", N_ENVS, seed=21), epsilon=epsilon)
    monkeypatch.undo()
    assert len(stats) == N_ENVS and len(steps) >= 10

    twin = policy.export_jax()
    step = jax.jit(sp.policy_step, static_argnums=(7, 8, 9))
    options = (twin.n_actions, twin.agent_id, twin.last_action)
    h = jnp.zeros((N_ENVS, info.n_agents, twin.hidden_dim), jnp.float32)
    last = jnp.full((N_ENVS, info.n_agents), -1, jnp.int32)
    explored = 0
    for t, (obs, avail, k_act, actions) in enumerate(steps):
        greedy, _ = step(twin.params, k_act, obs, avail, h, last, jnp.float32(0.0), *options)
        last, h = step(twin.params, k_act, obs, avail, h, last, jnp.float32(epsilon), *options)
        np.testing.assert_array_equal(np.asarray(last), actions, err_msg=f"step {t}")
        explored += int((np.asarray(greedy) != actions).sum())
    assert (explored > 0) == (epsilon > 0)


def test_collection_well_formed_uniform_and_never_recompiled(smax_env) -> None:
    info = smax_env.info
    agent = make_agent(info, seed=1)
    runner = JaxPolicyRunner(smax_env, Policy(agent, info.n_actions), seed=5, chunk=CHUNK)
    buf = ReplayBuffer(info, 2000)
    stats = runner.collect(160, 1.0, buf)
    n_uniform = len(buf)
    lengths = list(stats.lengths)
    for eps, n in ((0.5, 40), (0.0, 7), (0.05, CHUNK)):  # new ε, new weights, partial chunks
        with torch.no_grad():
            agent.fc2.weight.mul_(1.5)
        lengths += runner.collect(n, eps, buf).lengths
    assert runner.compile_count() == 1, f"rollout compiled {runner.compile_count()} times"
    assert smax_env.compile_count() == 1
    # counters: every env step is in a finished episode or in a running one
    assert runner.env_steps == (160 + 40 + 7 + CHUNK) * N_ENVS
    assert runner.episodes == buf.episodes_added == len(lengths) == len(buf)
    assert sum(lengths) + int(runner.t.sum()) == runner.env_steps
    assert runner.current is not None and np.array_equal(smax_env.snapshot().avail, runner.current.avail)

    d, n = buf.data, len(buf)
    L = buf.lengths[:n]  # (B,)
    t_idx = torch.arange(info.episode_limit)
    np.testing.assert_array_equal(d.mask[:n], (t_idx[None] < L[:, None]).float())  # mask = a prefix of ones
    assert (L >= 1).all() and (L <= info.episode_limit).all()
    np.testing.assert_array_equal(L.numpy(), np.asarray(lengths))
    term = d.terminated[:n]
    assert (term.sum(1) <= 1).all()
    assert (term[t_idx[None] != (L - 1)[:, None]] == 0).all(), "terminated only on an episode's last step"
    chosen = torch.gather(d.avail[:n, :-1], -1, d.actions[:n].unsqueeze(-1))[..., 0]  # (B, T, N)
    assert chosen[d.mask[:n].bool()].all(), "every action was available at its step"
    after = torch.arange(info.episode_limit + 1)[None] > L[:, None]  # (B, T+1): slots after the final obs
    for name in ("obs", "state", "avail", "feats"):
        assert not getattr(d, name)[:n][after].any(), f"{name} slots after the episode end must be zero"
    final = d.state[:n][torch.arange(n), L]  # the next-obs slot of each episode holds the real obs
    assert (final.abs().sum(-1) > 0).all()

    # ε = 1: each action is picked with probability 1 / (number available), per agent and step
    live = d.mask[:n_uniform].bool()  # (B, T)
    avail = d.avail[:n_uniform, :-1][live]  # (M, N, A)
    acts = d.actions[:n_uniform][live]  # (M, N)
    prob = avail.float() / avail.sum(-1, keepdim=True)  # (M, N, A) uniform over available
    expected, std = prob.sum((0, 1)), (prob * (1 - prob)).sum((0, 1)).sqrt()  # (A,) mean, sd of the counts
    observed = torch.bincount(acts.flatten(), minlength=info.n_actions).float()
    assert expected.sum() > 3000
    z = (observed - expected) / std
    assert (z.abs() < 4.5).all(), f"ε=1 actions not uniform over available: counts {observed}, expected {expected}"
