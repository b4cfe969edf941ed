"""One Policy acts on every path: collection, evaluation, the matrix tables, the SMAX replay export;
the JAX rollout acts with that same Policy's exported twin.

Each path is run with ``Policy.act`` (and ``Policy.export_jax``) wrapped by a spy that records which
Policy object was called, so a path that acted on its own would show up as zero calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from decomp.core.agents import RNNAgent, agent_input_dim
from decomp.training.matrix_lab import game_tables, matrix_config, matrix_result
from decomp.rollout.policy import Policy
from decomp.training.trainer import Trainer

N_ENVS, CHUNK, HIDDEN = 16, 32, 32  # tests/test_runner_jax.py's shapes: the compiled SMAX step and rollout are shared


def spy(monkeypatch: pytest.MonkeyPatch, method: str) -> list[Policy]:
    """Wrap ``Policy.<method>``; the returned list collects the Policy of every call."""
    calls: list[Policy] = []
    real = getattr(Policy, method)

    def wrapper(self: Policy, *args, **kwargs):
        calls.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Policy, method, wrapper)
    return calls


@pytest.mark.parametrize("mixer,kind", [("qmix", "egreedy"), ("coma", "sampled")])
def test_matrix_paths_act_through_the_trainers_policy(monkeypatch: pytest.MonkeyPatch, mixer: str, kind: str) -> None:
    cfg = matrix_config("two_step", mixer, 0, 64, "egreedy", 0.2)
    trainer = Trainer(cfg)
    assert trainer.policy.kind == kind == trainer.learner.policy_kind and trainer.runner.policy is trainer.policy
    acts = spy(monkeypatch, "act")
    paths = {  # name -> (run it, expected Policy.act calls)
        "collect": (lambda: trainer.runner.collect(3, 0.5, trainer.buffer), 3),
        "evaluate": (lambda: trainer.evaluate(epsilon=0.5), 2),  # one two-step episode
        "tables": (lambda: game_tables(trainer.policy, trainer.learner.mixer, trainer.env, 0), 1),
        "matrix_result": (lambda: matrix_result(trainer, cfg), 3 + 2),  # tables at 3 states + a greedy episode
    }
    for name, (run, expected) in paths.items():
        acts.clear()
        run()
        assert len(acts) == expected and all(p is trainer.policy for p in acts), name


def test_matrix_greedy_pick_is_the_policys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables' greedy tuple is what Policy.act picked, not a separate argmax."""
    cfg = matrix_config("qmix_easy", "vdn", 0, 64, "uniform", 0.2)
    trainer = Trainer(cfg)
    real = Policy.act

    def contrary(self, ob, state, eps, gen):  # every agent picks the last action (all 3 are available)
        decision = real(self, ob, state, eps, gen)
        decision.actions[:] = 2
        return decision

    monkeypatch.setattr(Policy, "act", contrary)
    assert game_tables(trainer.policy, trainer.learner.mixer, trainer.env, 0).greedy == (2, 2)


def test_smax_replay_and_jax_rollout_use_the_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from decomp.envs import smax
    from decomp.rollout.replay_export import record_smax_replay
    from decomp.rollout.runner_jax import JaxPolicyRunner

    env = smax.SmaxEnv("3m", N_ENVS, seed=0)
    info = env.info
    in_dim = agent_input_dim(info.obs_dim, info.n_agents, info.n_actions, True, True)
    policy = Policy(RNNAgent(in_dim, info.n_actions, HIDDEN), info.n_actions)
    acts, exports = spy(monkeypatch, "act"), spy(monkeypatch, "export_jax")

    # the replay plays env 0 of a batch of one; N_ENVS envs reuse the compiled step (env 0 is recorded)
    with monkeypatch.context() as m:
        m.setattr(smax, "SmaxEnv", lambda map_name, n_envs, seed=0, **kw: env.__class__(map_name, N_ENVS, seed=seed, **kw))
        frames = record_smax_replay("3m", policy, tmp_path / "replay.npz", seed=3)
    assert (tmp_path / "replay.npz").exists()
    assert len(acts) in (frames - 1, frames) and all(p is policy for p in acts)  # + the final frame if it ended

    acts.clear()
    runner = JaxPolicyRunner(env, policy, seed=0, chunk=CHUNK)
    runner.collect(CHUNK, 0.1, None)
    assert not acts, "the JAX rollout acts inside JAX, with the exported twin"
    assert len(exports) == 2 and all(p is policy for p in exports)  # sizes at construction, weights per collect
    env.close()
