"""The on-policy regime (``regime=onpolicy``, PQN-style): fresh episodes only, epochs × minibatches,
λ-return targets from the weights each round started with, for every value mixer; and
``regime=onpolicy_replay``, which hands over from those rounds to replay updates at ``handover.at``."""

from __future__ import annotations

import pytest
import torch

import decomp.core.learners.td as td_module
from decomp.config.schema import ConfigError, HandoverConfig
from decomp.config.validation import validate
from decomp.core.build import build_modules
from decomp.core.buffer import ReplayBuffer
from decomp.core.ops import gather_actions, greedy_actions, mix_live
from decomp.envs.base import EnvInfo
from decomp.training.matrix_lab import matrix_config, train_matrix
from decomp.training.regimes import next_round, onpolicy_batches
from decomp.training.trainer import Trainer
from tests.test_learners import reference_returns

VALUE_MIXERS = ["vdn", "qmix", "qatten"]


def filled_buffer(lengths: list[int], capacity: int) -> ReplayBuffer:
    """Episodes whose reward row holds their own number, so a batch says which episodes it holds."""
    info = EnvInfo(n_agents=2, n_actions=3, obs_dim=2, state_dim=2, feat_dim=1, episode_limit=6, n_envs=1)
    buf = ReplayBuffer(info, capacity, seed=0)
    for i, n in enumerate(lengths):
        t = info.episode_limit
        ep = {"obs": torch.zeros(1, t + 1, 2, 2), "state": torch.zeros(1, t + 1, 2),
              "avail": torch.ones(1, t + 1, 2, 3, dtype=torch.bool), "feats": torch.zeros(1, t + 1, 2, 1),
              "actions": torch.zeros(1, t, 2, dtype=torch.long), "reward": torch.zeros(1, t),
              "terminated": torch.zeros(1, t), "mask": (torch.arange(t) < n).float()[None]}
        ep["reward"][0, :n] = float(i)
        buf.add({k: v.numpy() for k, v in ep.items()}, torch.tensor([n]).numpy())
    return buf


def test_onpolicy_batches_cover_the_last_k_episodes_once_per_epoch() -> None:
    lengths = [3, 6, 1, 4, 2, 5, 6, 2, 3, 1]
    buf = filled_buffer(lengths, capacity=8)  # the ring has overwritten episodes 0 and 1
    batches = list(onpolicy_batches(buf, k=7, batch_size=3, epochs=2))
    assert len(batches) == 2 * 2  # round(7 / 3) = 2 minibatches per epoch
    for epoch in (batches[:2], batches[2:]):
        seen = sorted(int(b.reward[i, 0]) for b in epoch for i in range(b.size))
        assert seen == list(range(3, 10))  # episodes 3..9, each exactly once
        assert sorted(b.size for b in epoch) == [3, 4]
    for b in batches:  # longest first, truncated to the longest
        lens = b.mask.sum(1).tolist()
        assert lens == sorted(lens, reverse=True) and b.mask.shape[1] == max(lens)
    first, second = ([int(b.reward[i, 0]) for b in e for i in range(b.size)] for e in (batches[:2], batches[2:]))
    assert first != second  # reshuffled each epoch


def test_onpolicy_round_waits_for_enough_fresh_episodes_and_never_samples_the_replay() -> None:
    cfg = matrix_config("qtran", "vdn", 0, 100, "uniform", 1.0, regime="onpolicy", episodes_per_update=5,
                        batch_size=2, epochs=3, buffer_size=16)
    buf = filled_buffer([2] * 9, capacity=16)
    assert next_round(cfg, buf, pending=4, env_steps=0) is None
    due = next_round(cfg, buf, pending=7, env_steps=0)
    assert due is not None and due.sync_targets and due.pending_left == 0
    buf.sample = None  # type: ignore[assignment]  # the on-policy regime must not draw from the replay
    got = list(due.batches)
    assert len(got) == 3 * 4  # 3 epochs of round(7 / 2) = 4 minibatches
    assert sorted(int(b.reward[i, 0]) for b in got[:4] for i in range(b.size)) == [2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("mixer", VALUE_MIXERS)
def test_onpolicy_targets_are_lambda_returns_of_the_round_start_weights(mixer: str, monkeypatch) -> None:
    """Every minibatch of every epoch regresses on G_t = r_t + γ(1 − term)[(1 − λ) Q'_t + λ G_{t+1}] with
    Q'_t = Q_tot of the greedy next action under the weights the round started with (a hand loop)."""
    gamma, lam = 0.9, 0.7
    cfg = matrix_config("two_step", mixer, 0, 10_000, "egreedy", 0.5, regime="onpolicy", epochs=3,
                        episodes_per_update=32, batch_size=8, buffer_size=64, gamma=gamma, td_lambda=lam,
                        double_q=False)
    trainer = Trainer(cfg)
    trainer.begin(show_bar=False)
    seen: list[tuple[object, torch.Tensor]] = []
    real = td_module.td_targets
    monkeypatch.setattr(td_module, "td_targets", lambda b, nv, g, l: seen.append((b, out := real(b, nv, g, l))) or out)
    for _ in range(3):  # three rounds: the weights move between them, and within each
        stats = trainer.runner.collect(cfg.steps_per_collect * 2, 0.5, trainer.buffer)
        agent, mix = build_modules(cfg, trainer.info)  # the weights this round starts with
        agent.load_state_dict(trainer.learner.agent.state_dict())
        mix.load_state_dict(trainer.learner.mixer.state_dict())
        learner = trainer.learner
        seen.clear()
        trainer.advance(stats, 0.5)
        assert len(seen) == 3 * 4  # 3 epochs × round(32 / 8) minibatches
        for batch, targets in seen:
            with torch.no_grad():
                q, _ = learner.unroll(agent, learner.agent_inputs(batch), batch)  # (B, T+1, N, A)
                nxt = greedy_actions(q[:, 1:], batch.avail[:, 1:])  # (B, T, N)
                chosen = gather_actions(q[:, 1:], nxt)
                next_tot = mix_live(mix, chosen, batch.state[:, 1:], batch.feats[:, 1:], batch.mask)
            want = reference_returns(batch, next_tot, gamma, lam)
            live = batch.mask.unsqueeze(-1).bool()
            torch.testing.assert_close(targets[live], want[live], rtol=1e-5, atol=1e-5)
    assert trainer.learner.updates == 3 * 12


@pytest.mark.parametrize("mixer", VALUE_MIXERS)
def test_onpolicy_learns_the_two_step_game(mixer: str) -> None:
    run = train_matrix("two_step", mixer, seed=1, steps=6000, data="egreedy", regime="onpolicy", epochs=2,
                       episodes_per_update=64, batch_size=32, buffer_size=256)
    assert run.optimal and run.greedy_return == pytest.approx(8.0)


def test_onpolicy_is_refused_for_coma_and_a_buffer_smaller_than_a_round() -> None:
    with pytest.raises(ConfigError, match="actor-critic"):
        validate(matrix_config("qtran", "coma", 0, 100, "uniform", 1.0, regime="onpolicy"))
    with pytest.raises(ConfigError, match="buffer_size"):
        validate(matrix_config("qtran", "qmix", 0, 100, "uniform", 1.0, regime="onpolicy", episodes_per_update=64,
                               buffer_size=32, batch_size=16))
    with pytest.raises(ConfigError, match="regime"):
        validate(matrix_config("qtran", "qmix", 0, 100, "uniform", 1.0, regime="offline"))


@pytest.mark.parametrize("mixer", ["iql", "vdn", "qmix", "qatten", "qplex", "ow_qmix", "qtran"])
def test_regime_group_selects_the_onpolicy_preset_for_every_value_method(mixer: str) -> None:
    from decomp.config.compose import compose_config

    cfg = compose_config(["env=smac", "map=2s3z", f"method={mixer}", "regime=onpolicy", "epochs=2"])
    validate(cfg)  # the preset is a valid run for every method but COMA
    assert (cfg.regime, cfg.epochs, cfg.env.n_envs) == ("onpolicy", 2, 64)  # the command line wins over it
    assert cfg.buffer_size >= cfg.episodes_per_update
    # PQN's ingredients, measured together (docs/benchmarks.md, "LayerNorm: the on-policy regime")
    assert (cfg.agent, cfg.learner.td_lambda, cfg.learner.lr_schedule, cfg.epsilon_finish) == ("rnn_ln", 0.85, "linear", 0.01)
    replay = compose_config(["env=smac", "regime=replay"])
    assert (replay.regime, replay.agent, replay.learner.td_lambda) == ("replay", "rnn", 0.6)  # the other presets stay
    assert compose_config(["env=smac"]).regime == "onpolicy_replay"  # env=smac's default (env/smac.yaml)
    assert compose_config(["env=smac", "method=coma"]).regime == "replay"  # COMA's own on-policy updates
    assert compose_config(["env=smac", "method=qtran"]).regime == "replay"  # measured: no win before 900k under onpolicy_replay
    assert compose_config(["env=matrix"]).regime == "replay"


def test_the_onpolicy_preset_trains_smax_with_the_layernorm_agent_acting_in_jax(tmp_path) -> None:
    """The preset's LayerNorm agent acts through the fused JAX rollout (its twin applies the norm) and the loop
    compiles nothing after the first round: the speed the preset was measured at."""
    from decomp.config.compose import compose_config
    from decomp.core.agents import LayerNormRNNAgent
    from decomp.rollout.runner_jax import JaxPolicyRunner
    from tests.compiles import train_counting_warm_compiles

    cfg = compose_config(["env=smac", "env.backend=smax", "map=3m", "method=qmix", "regime=onpolicy",
                          "env.n_envs=8", "env.eval_envs=8", "episodes_per_update=8", "batch_size=4",
                          "buffer_size=16", "epochs=2", "t_max=1600", "eval_interval=400", "log_interval=400",
                          "save_interval=800", "final_eval_rounds=1", "progress=false", "threads=1"])
    trainer, summary, counter, _ = train_counting_warm_compiles(cfg, tmp_path)
    assert isinstance(trainer.learner.agent, LayerNormRNNAgent)
    # the fused JAX rollout acts (its compiled variants are cached per process, so other tests' agents count
    # there too: the no-compile check below is the property, counted from the first collection on)
    assert isinstance(trainer.runner, JaxPolicyRunner)
    assert summary.env_steps >= 1600 and trainer.learner.updates > 0
    assert counter.compiles == [], f"{len(counter.compiles)} XLA compilations inside the training loop"


def test_onpolicy_replay_rounds_are_onpolicy_before_the_handover_and_sample_the_replay_from_it_on() -> None:
    cfg = matrix_config("qtran", "vdn", 0, 100, "uniform", 1.0, regime="onpolicy_replay", episodes_per_update=5,
                        batch_size=2, epochs=3, buffer_size=16,
                        handover=HandoverConfig(at=1000, batch_size=4, episodes_per_update=3, target_update_interval=7))
    validate(cfg)
    buf = filled_buffer([2] * 9, capacity=16)
    before = next_round(cfg, buf, pending=7, env_steps=999)
    assert before is not None and before.sync_targets and before.sync_every == 0
    assert len(list(before.batches)) == 3 * 4  # the on-policy round of the test above
    assert next_round(cfg, buf, pending=2, env_steps=1000) is None  # < handover.episodes_per_update
    after = next_round(cfg, buf, pending=7, env_steps=1000)
    assert after is not None and not after.sync_targets and after.sync_every == 7 and after.pending_left == 1
    drawn: list[int] = []
    real = buf.sample
    buf.sample = lambda n: drawn.append(n) or real(n)  # type: ignore[assignment]
    assert [b.size for b in after.batches] == [4, 4] and drawn == [4, 4]  # two updates, sampled from the replay


@pytest.mark.parametrize("mixer", VALUE_MIXERS)
def test_onpolicy_replay_syncs_targets_at_round_starts_then_every_interval_and_learns(mixer: str, monkeypatch) -> None:
    """Before handover.at the targets are the round-start weights; after it the trainer copies them every
    handover.target_update_interval learner updates (the learner never does on its own); the game is learned."""
    from decomp.core.learners.base import Learner

    synced: list[tuple[int, int]] = []  # (learner updates, env steps) at each copy
    trainer_ref: list[Trainer] = []
    real_sync = Learner.sync_targets

    def recording_sync(self: Learner) -> None:
        synced.append((self.updates, trainer_ref[0].runner.env_steps if trainer_ref else -1))
        real_sync(self)

    monkeypatch.setattr(Learner, "sync_targets", recording_sync)
    real_init = Trainer.__init__
    monkeypatch.setattr(Trainer, "__init__", lambda self, *a, **k: (trainer_ref.append(self), real_init(self, *a, **k))[1])
    hand = HandoverConfig(at=3000, batch_size=32, episodes_per_update=8, target_update_interval=7, lr=0.001,
                          td_lambda=0.3)
    run = train_matrix("two_step", mixer, seed=1, steps=6000, data="egreedy", regime="onpolicy_replay", epochs=2,
                       episodes_per_update=64, batch_size=32, buffer_size=256, handover=hand)
    assert run.optimal and run.greedy_return == pytest.approx(8.0)
    assert trainer_ref[0].learner.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)  # handover.lr, constant schedule
    assert trainer_ref[0].learner.cfg.td_lambda == 0.3  # handover.td_lambda
    early = [u for u, t in synced if 0 <= t < 3000]
    late = [u for u, t in synced if t >= 3000]
    assert early and late
    assert all(u % 4 == 0 for u in early)  # each on-policy round starts a copy: 2 epochs × 2 minibatches apart
    first_late = min(late)
    assert all(u % 7 == 0 for u in late) and sorted(late) == list(range(first_late, max(late) + 1, 7))


def test_onpolicy_replay_refuses_a_replay_batch_larger_than_the_buffer_and_a_negative_handover() -> None:
    base = dict(regime="onpolicy_replay", episodes_per_update=8, batch_size=4, buffer_size=32)
    with pytest.raises(ConfigError, match="handover.batch_size"):
        validate(matrix_config("qtran", "qmix", 0, 100, "uniform", 1.0, **base, handover=HandoverConfig(batch_size=64)))
    with pytest.raises(ConfigError, match="handover.at"):
        validate(matrix_config("qtran", "qmix", 0, 100, "uniform", 1.0, **base, handover=HandoverConfig(at=-1, batch_size=4)))
    with pytest.raises(ConfigError, match="actor-critic"):
        validate(matrix_config("qtran", "coma", 0, 100, "uniform", 1.0, **base, handover=HandoverConfig(batch_size=4)))


def test_the_onpolicy_replay_preset_is_the_onpolicy_preset_then_the_smac_replay_settings() -> None:
    from decomp.config.compose import compose_config

    cfg = compose_config(["env=smac", "map=2s3z", "method=qmix", "regime=onpolicy_replay"])
    onp = compose_config(["env=smac", "map=2s3z", "method=qmix", "regime=onpolicy"])
    replay = compose_config(["env=smac", "map=2s3z", "method=qmix", "regime=replay"])
    validate(cfg)
    assert cfg.regime == "onpolicy_replay"
    same = ("agent", "epochs", "episodes_per_update", "batch_size", "epsilon_finish")
    assert [getattr(cfg, k) for k in same] == [getattr(onp, k) for k in same]
    assert (cfg.env.n_envs, cfg.learner.td_lambda) == (onp.env.n_envs, onp.learner.td_lambda)
    assert (cfg.handover.batch_size, cfg.handover.episodes_per_update, cfg.handover.target_update_interval,
            cfg.buffer_size) == (replay.batch_size, replay.episodes_per_update, replay.learner.target_update_interval,
                                 replay.buffer_size)
    assert (cfg.learner.lr_schedule, cfg.handover.lr) == ("linear", replay.learner.lr) and 0 < cfg.handover.at < cfg.t_max
    assert (cfg.handover.td_lambda, cfg.handover.epsilon) == (replay.learner.td_lambda, replay.epsilon_finish)


@pytest.mark.parametrize("extra, t_max, at", [(["map=2s3z"], 1_000_000, 500_000), (["map=3m"], 300_000, 150_000),
                                             (["map=3s5z", "t_max=1000"], 1000, 500),
                                             (["map=3m", "handover.at=7"], 300_000, 7)])
def test_the_handover_is_half_the_budget_unless_given(extra: list[str], t_max: int, at: int) -> None:
    """The preset hands over at half of t_max (measured there on 2s3z and 3m), following a t_max= override."""
    from decomp.config.compose import compose_config

    cfg = compose_config(["env=smac", "regime=onpolicy_replay", *extra])
    assert (cfg.t_max, cfg.handover.at) == (t_max, at)


def test_a_share_outside_zero_to_one_is_refused() -> None:
    from decomp.config.compose import share_of

    assert share_of(300_000, 0.5) == 150_000 and share_of(7, 1.0) == 7
    with pytest.raises(ConfigError, match=r"decomp_share takes a fraction in \[0, 1\] of 1000, got 1.5"):
        share_of(1000, 1.5)


def test_onpolicy_replay_learning_rate_follows_the_schedule_then_the_handover_lr() -> None:
    from decomp.config.schema import lr_scale_at

    cfg = matrix_config("qtran", "vdn", 0, 1000, "uniform", 1.0, regime="onpolicy_replay", lr=0.002,
                        lr_schedule="linear", handover=HandoverConfig(at=600, lr=0.0005))
    assert [lr_scale_at(cfg, t) for t in (0, 500, 599)] == pytest.approx([1.0, 0.5, 0.401])
    assert [lr_scale_at(cfg, t) for t in (600, 1000, 5000)] == pytest.approx([0.25] * 3)
    cfg.handover.lr = 0.0  # off: the schedule goes on
    assert lr_scale_at(cfg, 800) == pytest.approx(0.2)


def test_onpolicy_replay_td_lambda_and_epsilon_change_at_the_handover_only_when_given() -> None:
    from decomp.config.schema import epsilon_at, td_lambda_at

    cfg = matrix_config("qtran", "vdn", 0, 1000, "egreedy", 0.01, regime="onpolicy_replay", td_lambda=0.85,
                        epsilon_anneal_steps=100, handover=HandoverConfig(at=600, td_lambda=0.6, epsilon=0.05))
    assert [td_lambda_at(cfg, t) for t in (0, 599, 600, 999)] == [0.85, 0.85, 0.6, 0.6]
    assert [epsilon_at(cfg, t) for t in (0, 100, 599, 600, 999)] == pytest.approx([1.0, 0.01, 0.01, 0.05, 0.05])
    cfg.handover.td_lambda = cfg.handover.epsilon = None
    assert (td_lambda_at(cfg, 900), epsilon_at(cfg, 900)) == (0.85, pytest.approx(0.01))
    cfg.regime = "onpolicy"  # handover.* means nothing outside regime=onpolicy_replay
    cfg.handover.td_lambda = 0.6
    assert td_lambda_at(cfg, 900) == 0.85
