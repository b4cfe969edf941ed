"""The learner skeleton: one TD(λ) helper for every head layout, one registry of trainable modules."""

from __future__ import annotations

import pytest
import torch

from decomp.core.agents import RNNAgent, agent_input_dim
from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.learners import Learner, LearnerConfig, TDLearner, WQMixLearner
from decomp.core.ops import td_targets
from decomp.core.methods import METHODS, make_learner, make_mixer
from decomp.core.mixers import VDNMixer

N, A, OBS, STATE, FEAT, H, T = 3, 4, 5, 6, 2, 8, 6
INFO = EnvInfo(n_agents=N, n_actions=A, obs_dim=OBS, state_dim=STATE, feat_dim=FEAT, episode_limit=T, n_envs=1)


def step_batch(reward: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor) -> EpisodeBatch:
    """A batch that only carries what td_targets reads (per-step reward, terminated, mask)."""
    b, t = reward.shape
    return EpisodeBatch(
        obs=torch.zeros(b, t + 1, N, OBS), state=torch.zeros(b, t + 1, STATE),
        avail=torch.ones(b, t + 1, N, A, dtype=torch.bool), feats=torch.zeros(b, t + 1, N, FEAT),
        actions=torch.zeros(b, t, N, dtype=torch.long), reward=reward, terminated=terminated, mask=mask,
    )


def reference_returns(batch: EpisodeBatch, next_value: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """Plain loops over episodes and heads: G_t = r_t + γ(1 − term_t)[(1 − λ) V'_t + λ G_{t+1}],
    with G_{t+1} replaced by V'_t at an episode's last live step; padding is left at 0."""
    nv = next_value if next_value.dim() == 3 else next_value.unsqueeze(-1)  # (B, T, K)
    out = torch.zeros_like(nv)
    for i in range(nv.shape[0]):
        length = int(batch.mask[i].sum())
        for k in range(nv.shape[2]):
            g = None
            for t in reversed(range(length)):
                boot = nv[i, t, k] if g is None else lam * g + (1 - lam) * nv[i, t, k]
                g = batch.reward[i, t] + gamma * (1 - batch.terminated[i, t]) * boot
                out[i, t, k] = g
    return out if next_value.dim() == 3 else out.squeeze(-1)


@pytest.mark.parametrize("heads", [None, 1, 3])  # None: (B, T); else (B, T, K)
@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_td_targets_match_reference_for_every_head_layout(heads: int | None, lam: float) -> None:
    g = torch.Generator().manual_seed(3)
    b, gamma = 4, 0.9
    lengths = torch.tensor([T, 4, 1, 5])
    mask = (torch.arange(T)[None] < lengths[:, None]).float()  # (B, T)
    term = torch.zeros(b, T)
    term[0, T - 1] = term[2, 0] = 1.0  # rows 1 and 3 end at the time limit: they bootstrap
    batch = step_batch(torch.randn(b, T, generator=g) * mask, term, mask)
    shape = (b, T) if heads is None else (b, T, heads)
    next_value = torch.randn(*shape, generator=g)
    got = td_targets(batch, next_value, gamma, lam)
    assert got.shape == next_value.shape
    live = mask if heads is None else mask.unsqueeze(-1)  # padding steps are masked out of every loss
    torch.testing.assert_close(got * live, reference_returns(batch, next_value, gamma, lam))


def test_td_targets_heads_are_independent_columns() -> None:
    """A (B, T, K) call equals K separate (B, T) calls: nothing mixes across heads."""
    g = torch.Generator().manual_seed(4)
    mask = torch.ones(2, T)
    mask[1, 3:] = 0
    batch = step_batch(torch.randn(2, T, generator=g), torch.zeros(2, T), mask)
    next_value = torch.randn(2, T, 3, generator=g)
    got = td_targets(batch, next_value, 0.95, 0.7)
    for k in range(3):
        assert torch.equal(got[..., k], td_targets(batch, next_value[..., k], 0.95, 0.7))


def test_td_targets_rejects_other_layouts() -> None:
    batch = step_batch(torch.zeros(2, T), torch.zeros(2, T), torch.ones(2, T))
    with pytest.raises(ValueError, match="next_value"):
        td_targets(batch, torch.zeros(2, T, 1, 1), 0.9, 0.0)


def build(mixer: str) -> Learner:
    torch.manual_seed(0)
    agent = RNNAgent(agent_input_dim(OBS, N, A, True, True), A, H)
    return make_learner(mixer, agent, make_mixer(mixer, N, STATE, FEAT, A), INFO, LearnerConfig())


@pytest.mark.parametrize("mixer", sorted(METHODS))
def test_optimizer_covers_every_trainable_param_exactly_once(mixer: str) -> None:
    learner = build(mixer)
    in_opt = [p for group in learner.optimizer.param_groups for p in group["params"]]
    assert len({id(p) for p in in_opt}) == len(in_opt), "a parameter is in the optimiser twice"
    online = {id(p) for m, _ in learner.pairs.values() for p in m.parameters() if p.requires_grad}
    assert {id(p) for p in in_opt} == online
    assert [id(p) for p in learner.params] == [id(p) for p in in_opt]  # grad clipping sees the same set
    for _, target in learner.pairs.values():  # targets are frozen and never optimised
        assert not any(p.requires_grad for p in target.parameters())
        assert not {id(p) for p in target.parameters()} & online


def test_wqmix_central_agents_are_registered_trained_and_synced() -> None:
    learner = build("ow_qmix")
    assert isinstance(learner, WQMixLearner)
    assert list(learner.pairs) == ["agent", "mixer", "central_agent"]
    assert learner.pairs["central_agent"] == (learner.central_agent, learner.target_central_agent)
    central = {id(p) for p in learner.central_agent.parameters()}
    assert central <= {id(p) for g in learner.optimizer.param_groups for p in g["params"]}
    with torch.no_grad():
        for p in learner.central_agent.parameters():
            p.add_(1.0)
    learner.updates = learner.cfg.target_update_interval
    learner.update_targets()
    for p, tp in zip(learner.central_agent.parameters(), learner.target_central_agent.parameters()):
        assert torch.equal(p, tp)


@pytest.mark.parametrize("mixer, extra", [("qmix", []), ("ow_qmix", ["central_agent", "target_central_agent"])])
def test_checkpoint_keys_are_unchanged_and_round_trip(mixer: str, extra: list[str]) -> None:
    learner, other = build(mixer), build(mixer)
    sd = learner.state_dict()
    base = ["agent", "mixer", "target_agent", "target_mixer", "optimizer", "updates"]
    assert sorted(sd) == sorted(base + extra)
    with torch.no_grad():
        for online, _ in other.pairs.values():
            for p in online.parameters():
                p.zero_()
    other.load_state_dict(sd)
    for (a, ta), (b, tb) in zip(learner.pairs.values(), other.pairs.values()):
        for x, y in zip([*a.parameters(), *ta.parameters()], [*b.parameters(), *tb.parameters()]):
            assert torch.equal(x, y)


def test_register_after_the_optimizer_is_refused() -> None:
    learner = build("vdn")
    with pytest.raises(RuntimeError, match="optimiser is already built"):
        learner.register("late", torch.nn.Linear(2, 2))


def live_batch(b: int = 3) -> EpisodeBatch:
    g = torch.Generator().manual_seed(5)
    mask = torch.ones(b, T)
    mask[0, 2:] = 0
    batch = step_batch(torch.randn(b, T, generator=g), torch.zeros(b, T), mask)
    batch.obs, batch.state = torch.randn(b, T + 1, N, OBS, generator=g), torch.randn(b, T + 1, STATE, generator=g)
    batch.feats = torch.randn(b, T + 1, N, FEAT, generator=g)
    batch.actions = torch.randint(0, A, (b, T, N), generator=g)
    return batch


@pytest.mark.parametrize("mixer, keys", [("qatten", {"head_entropy", "lambda"}), ("qplex", {"lambda"})])
def test_mixer_diagnostics_are_logged_under_the_mixers_prefix(mixer: str, keys: set[str]) -> None:
    _, logs = build(mixer).loss(live_batch())
    logged = {k.split("/")[1] for k in logs if k.startswith(f"{mixer}/")}
    assert logged == keys and not any(k.startswith("mixer/") for k in logs)


def test_log_prefix_comes_from_the_mixer_not_the_learner() -> None:
    class Tagged(VDNMixer):
        log_prefix = "tagged"

        def mix(self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
            self.extras = {"share": (qs / qs.sum(-1, keepdim=True)).mean(0).detach()}  # (N,)
            return super().mix(qs, state, feats)

    torch.manual_seed(0)
    agent = RNNAgent(agent_input_dim(OBS, N, A, True, True), A, H)
    learner = TDLearner(agent, Tagged(N, STATE, FEAT), INFO, LearnerConfig())
    _, logs = learner.loss(live_batch())
    assert [k for k in logs if "/share/" in k] == [f"tagged/share/{i}" for i in range(N)]
