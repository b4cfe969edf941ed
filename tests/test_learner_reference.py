"""decomp's TD update does the textbook maths: loss and every gradient against a plain reference.

The learner is fast because it is clever (a GRU over packed live rows with a hand-written backward,
mixing only live steps, a vectorised λ-return). The reference below is deliberately not: one GRUCell step at a
time over every padded slot (with the learner's own agent weights), the learner's own mixers called
on the full padded tensors, greedy next actions picked over the available ones, and λ-returns as
a per-episode backward loop. If the learner's maths changes (double-Q, terminal or time-limit
handling, λ, masking, the inputs, Qatten's regulariser), loss or gradients stop matching.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

from decomp.core.agents import RNNAgent, agent_input_dim
from decomp.core.buffer import EpisodeBatch, ReplayBuffer
from decomp.core.learners import LearnerConfig, TDLearner
from decomp.core.methods import make_mixer
from decomp.envs.base import EnvInfo

B, T, N, A, OBS, STATE, FEAT, H = 4, 6, 3, 4, 5, 7, 3, 8
GAMMA = 0.99
INFO = EnvInfo(n_agents=N, n_actions=A, obs_dim=OBS, state_dim=STATE, feat_dim=FEAT, episode_limit=T, n_envs=1)
SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, database=None)


# ---- data -------------------------------------------------------------------------------------------
def replay_batch(lengths: list[int], ended: list[bool], seed: int) -> EpisodeBatch:
    """B episodes of the given lengths through the replay buffer, as the trainer samples them.

    Episodes that did not end (``ended`` False) stopped at a time limit: no terminal flag, so the
    target bootstraps from their observation slot L. Padding past slot L holds random junk rather
    than the trainer's zeros: it must not matter, and junk shows it if it does.
    """
    g = np.random.default_rng(seed)
    lens = np.array(lengths)
    live_slot = np.arange(T + 1)[None] <= lens[:, None]  # (B, T+1): slots 0..L hold real observations
    avail = g.random((B, T + 1, N, A)) < 0.5
    avail |= np.eye(A, dtype=bool)[g.integers(0, A, (B, T + 1, N))]  # (B, T+1, N, A): at least one each
    avail &= live_slot[..., None, None] | (g.random((B, T + 1, N, A)) < 0.5)  # junk (maybe none) in padding
    scores = np.where(avail[:, :-1], g.random((B, T, N, A)), -1.0)
    mask = (np.arange(T)[None] < lens[:, None]).astype(np.float32)  # (B, T)
    term = np.zeros((B, T), np.float32)
    term[np.arange(B), lens - 1] = np.array(ended, np.float32)
    episodes = dict(
        obs=g.standard_normal((B, T + 1, N, OBS)), state=g.standard_normal((B, T + 1, STATE)),
        avail=avail, feats=g.standard_normal((B, T + 1, N, FEAT)), actions=scores.argmax(-1),  # available actions
        reward=g.standard_normal((B, T)), terminated=term, mask=mask,
    )
    buffer = ReplayBuffer(INFO, capacity=B, seed=seed)
    buffer.add({k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in episodes.items()}, lens)
    return buffer.sample(B)  # longest first, truncated to the longest episode


def make_learner(mixer: str, double_q: bool, td_lambda: float, seed: int) -> TDLearner:
    """A learner whose target nets differ from the online ones, so double-Q matters: the target
    agent's output layer is negated (it ranks actions in reverse) and every target tensor is jittered."""
    torch.manual_seed(seed)
    agent = RNNAgent(agent_input_dim(OBS, N, A, True, True), A, H)
    cfg = LearnerConfig(optimizer="rmsprop", lr=5e-4, gamma=GAMMA, double_q=double_q, td_lambda=td_lambda)
    learner = TDLearner(agent, make_mixer(mixer, N, STATE, FEAT, A), INFO, cfg)
    with torch.no_grad():  # small jitter: targets stay of a sane size
        learner.target_agent.fc2.weight.neg_()
        learner.target_agent.fc2.bias.neg_()
        for p in [*learner.target_agent.parameters(), *learner.target_mixer.parameters()]:
            p.add_(0.05 * torch.randn_like(p))
    return learner


# ---- the reference ----------------------------------------------------------------------------------
def inputs_by_hand(batch: EpisodeBatch) -> torch.Tensor:
    """(B, T+1, N, obs + N + A): obs, agent-id one-hot, previous action one-hot (zeros at t = 0)."""
    b, t1 = batch.obs.shape[:2]
    out = torch.zeros(b, t1, N, OBS + N + A)
    for t in range(t1):
        for i in range(N):
            out[:, t, i, :OBS] = batch.obs[:, t, i]
            out[:, t, i, OBS + i] = 1.0
            if t > 0:
                out[:, t, i, OBS + N:] = F.one_hot(batch.actions[:, t - 1, i], A).float()
    return out


def q_by_cell(agent: RNNAgent, inputs: torch.Tensor) -> torch.Tensor:
    """pymarl's way: fc1 -> ReLU -> GRUCell -> fc2, one time step at a time over every slot.

    The GRUCell runs on the agent's own nn.GRU tensors (same gate order), so gradients land on them.
    (B, T+1, N, in) -> (B, T+1, N, A).
    """
    b, t1 = inputs.shape[:2]
    cell = nn.GRUCell(H, H)
    weights = {"weight_ih": agent.rnn.weight_ih_l0, "weight_hh": agent.rnn.weight_hh_l0,
               "bias_ih": agent.rnn.bias_ih_l0, "bias_hh": agent.rnn.bias_hh_l0}
    h = torch.zeros(b * N, H)
    qs = []
    for t in range(t1):
        x = F.relu(agent.fc1(inputs[:, t].reshape(b * N, -1)))  # (B*N, H)
        h = functional_call(cell, weights, (x, h))  # (B*N, H)
        qs.append(agent.fc2(h).view(b, N, A))
    return torch.stack(qs, dim=1)


def returns_by_loop(reward: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor, next_v: torch.Tensor,
                    lam: float) -> torch.Tensor:
    """TD(λ) targets per episode, backwards: G_{L-1} = r + γ(1 − term) V'_{L-1} at the last step,
    G_t = r_t + γ[(1 − λ) V'_t + λ G_{t+1}] before it (no terminal inside an episode). λ = 0 is TD(0).
    V'_t is the target value of the state after step t; padding gets 0 (masked anyway). All (B, T)."""
    out = torch.zeros_like(reward)
    for b in range(reward.shape[0]):
        length = int(mask[b].sum())
        last = length - 1
        out[b, last] = reward[b, last] + GAMMA * (1 - terminated[b, last]) * next_v[b, last]
        for t in range(last - 1, -1, -1):
            assert terminated[b, t] == 0
            out[b, t] = reward[b, t] + GAMMA * ((1 - lam) * next_v[b, t] + lam * out[b, t + 1])
    return out


def reference_loss(learner: TDLearner, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, how often double-Q's pick differs from the target nets' own greedy pick on live steps)."""
    cfg, mask = learner.cfg, batch.mask  # mask (B, T)
    inputs = inputs_by_hand(batch)
    q = q_by_cell(learner.agent, inputs)  # (B, T+1, N, A)
    chosen = q[:, :-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)  # (B, T, N)
    q_tot = learner.mixer(chosen, batch.state[:, :-1], batch.feats[:, :-1]).squeeze(-1)  # (B, T), every slot
    with torch.no_grad():
        tq = q_by_cell(learner.target_agent, inputs)[:, 1:]  # (B, T, N, A): the slots after each step
        avail = batch.avail[:, 1:]  # (B, T, N, A)
        online_pick = q[:, 1:].masked_fill(~avail, float("-inf")).argmax(-1)  # (B, T, N)
        target_pick = tq.masked_fill(~avail, float("-inf")).argmax(-1)
        pick = online_pick if cfg.double_q else target_pick
        next_q = tq.gather(-1, pick.unsqueeze(-1)).squeeze(-1)  # (B, T, N)
        next_tot = learner.target_mixer(next_q, batch.state[:, 1:], batch.feats[:, 1:]).squeeze(-1)  # (B, T)
        targets = returns_by_loop(batch.reward, batch.terminated, mask, next_tot, cfg.td_lambda)
    loss = ((q_tot - targets) ** 2 * mask).sum() / mask.sum()
    aux = learner.mixer.extras.get("aux_loss")
    if aux is not None:  # Qatten's attention-logit regulariser, averaged over the live steps only
        live = mask.bool()
        learner.mixer(chosen[live], batch.state[:, :-1][live], batch.feats[:, :-1][live])
        loss = loss + learner.mixer.extras["aux_loss"]
    differs = (online_pick != target_pick)[mask.bool()].float().mean()
    return loss, differs


def grads(loss: torch.Tensor, params: list[nn.Parameter]) -> list[torch.Tensor]:
    gs = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


# ---- the test ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mixer", ["vdn", "qmix", "qatten"])
@pytest.mark.parametrize("td_lambda", [0.0, 0.6])
@pytest.mark.parametrize("double_q", [True, False])
@SETTINGS
@given(lengths=st.lists(st.integers(1, T), min_size=B, max_size=B, unique=True),
       ended=st.lists(st.booleans(), min_size=B, max_size=B), seed=st.integers(0, 2**16))
@example(lengths=[T, 3, 1, 5], ended=[False, True, True, False], seed=1)  # a time limit at T, a 1-step episode
def test_td_learner_matches_reference(mixer: str, td_lambda: float, double_q: bool, lengths: list[int],
                                      ended: list[bool], seed: int) -> None:
    batch = replay_batch(lengths, ended, seed)
    learner = make_learner(mixer, double_q, td_lambda, seed)
    params = learner.params  # agent then mixer, as the optimiser sees them
    assert len(params) == len(list(learner.agent.parameters())) + len(list(learner.mixer.parameters()))

    loss, _ = learner.loss(batch)
    ref, differs = reference_loss(learner, batch)
    assert differs > 0, "online and target greedy picks never differ: double-Q is not exercised"
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-6)
    ref_grads = grads(ref, params)
    for p, g, g_ref in zip(params, grads(loss, params), ref_grads):
        # float32 sums in another order (live steps only vs every slot): atol scales with the gradient
        atol = 1e-5 * max(1.0, float(g_ref.abs().max()))
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=atol, msg=lambda m: f"{tuple(p.shape)}: {m}")

    # a full update reports the same loss and (pre-clip) gradient norm
    ref_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in ref_grads]))
    logs = learner.train(batch)  # last: it steps the optimiser
    assert logs["losses/total"] == pytest.approx(float(ref.detach()), rel=1e-5)
    assert logs["losses/grad_norm"] == pytest.approx(float(ref_norm), rel=1e-4)
