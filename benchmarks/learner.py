"""Learner update time on a 3s5z-sized batch: decomp's TD update vs a pymarl-style update.

Batch: 32 episodes of 75–150 steps (padded to 150) × 8 agents, sampled from the replay buffer, obs 128, state 216, 14 actions, GRU 64, double-Q,
target networks, padding masks. The pymarl-style reference re-implements the *design* of pymarl's
``QLearner.train`` (a Python loop over time steps calling a GRUCell agent for the online and the
target network, then the mixer), with the same maths, so both are timed side by side in one run, taking turns update by update.

    python benchmarks/learner.py [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.buffer import EpisodeBatch, ReplayBuffer
from decomp.envs.base import EnvInfo
from decomp.core.learners import LearnerConfig, TDLearner
from decomp.core.methods import make_mixer
from decomp.training.runtime import keep_freed_memory
from decomp.core.agents import RNNAgent, agent_input_dim

B, T, N, OBS, STATE, A, H = 32, 150, 8, 128, 216, 14, 64
FEAT = 8
INFO = EnvInfo(n_agents=N, n_actions=A, obs_dim=OBS, state_dim=STATE, feat_dim=FEAT, episode_limit=T, n_envs=1)


def synthetic_batch(seed: int = 0) -> EpisodeBatch:
    """32 episodes of 75–150 steps, drawn through the replay buffer exactly as the trainer does."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    lengths[0] = T
    mask = (torch.arange(T)[None] < lengths[:, None]).float()  # (B, T)
    term = torch.zeros(B, T)
    term[torch.arange(B), lengths - 1] = 1.0
    avail = torch.rand(B, T + 1, N, A, generator=g) < 0.7
    avail[..., 1] = True
    actions = torch.where(avail[:, :-1], torch.rand(B, T, N, A, generator=g), -1.0).argmax(-1)
    episodes = dict(
        obs=torch.randn(B, T + 1, N, OBS, generator=g), state=torch.randn(B, T + 1, STATE, generator=g),
        avail=avail, feats=torch.randn(B, T + 1, N, FEAT, generator=g), actions=actions,
        reward=torch.rand(B, T, generator=g), terminated=term, mask=mask,
    )
    buffer = ReplayBuffer(INFO, capacity=B, seed=seed)
    buffer.add({k: v.numpy() for k, v in episodes.items()}, lengths.numpy())
    return buffer.sample(B)


def decomp_learner(mixer: str) -> TDLearner:
    info = INFO
    cfg = LearnerConfig(optimizer="rmsprop", lr=5e-4, double_q=True, td_lambda=0.0)
    agent = RNNAgent(agent_input_dim(OBS, N, A, True, True), A, H)
    return TDLearner(agent, make_mixer(mixer, N, STATE, FEAT, A), info, cfg)


class CellAgent(nn.Module):
    """pymarl's RNNAgent: fc -> ReLU -> GRUCell -> fc, called once per time step."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.fc1, self.rnn, self.fc2 = nn.Linear(in_dim, H), nn.GRUCell(H, H), nn.Linear(H, A)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.rnn(F.relu(self.fc1(x)), h)
        return self.fc2(h), h


def pymarl_style_update(agent: CellAgent, target: CellAgent, mixer: nn.Module, target_mixer: nn.Module,
                        opt: torch.optim.Optimizer, batch: EpisodeBatch, inputs: torch.Tensor) -> float:
    """The loop-over-time design of pymarl's QLearner.train, same maths as decomp's TD update."""
    b, t1 = inputs.shape[:2]
    h = torch.zeros(b * N, H)
    outs = []
    for t in range(t1):
        q, h = agent(inputs[:, t].reshape(b * N, -1), h)
        outs.append(q.view(b, N, A))
    mac_out = torch.stack(outs, 1)  # (B, T+1, N, A)
    with torch.no_grad():
        h = torch.zeros(b * N, H)
        touts = []
        for t in range(t1):
            q, h = target(inputs[:, t].reshape(b * N, -1), h)
            touts.append(q.view(b, N, A))
        target_out = torch.stack(touts[1:], 1)  # (B, T, N, A)
    chosen = mac_out[:, :-1].gather(3, batch.actions.unsqueeze(3)).squeeze(3)
    detached = mac_out.clone().detach()
    detached[batch.avail == 0] = -9999999
    best = detached[:, 1:].max(dim=3, keepdim=True)[1]
    target_max = target_out.gather(3, best).squeeze(3)
    chosen_tot = mixer(chosen, batch.state[:, :-1], batch.feats[:, :-1])
    target_tot = target_mixer(target_max, batch.state[:, 1:], batch.feats[:, 1:])
    targets = batch.reward.unsqueeze(-1) + 0.99 * (1 - batch.terminated.unsqueeze(-1)) * target_tot
    mask = batch.mask.unsqueeze(-1)
    loss = (((chosen_tot - targets.detach()) * mask) ** 2).sum() / mask.sum()
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(list(agent.parameters()) + list(mixer.parameters()), 10)
    opt.step()
    return float(loss.detach())


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Time each fn ``repeats`` times, taking turns, so load on the shared machine hits all alike."""
    for fn in fns.values():
        fn()  # warm-up
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[name].append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-malloc-tuning", action="store_true",
                    help="skip decomp.training.runtime.keep_freed_memory() (applies to both sides: it is process-wide)")
    args = ap.parse_args()
    tuned = False if args.no_malloc_tuning else keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = synthetic_batch()
    print(f"batch: {B} episodes × {T} steps × {N} agents, obs {OBS}, state {STATE}, {A} actions, GRU {H}; "
          f"torch {torch.__version__}, {args.threads} thread(s), malloc tuning {'on' if tuned else 'off'}; "
          f"median of {args.repeats} updates")
    fns: dict[str, Callable[[], object]] = {}
    for mixer in ("qmix", "qatten"):
        learner = decomp_learner(mixer)
        fns[f"decomp {mixer}"] = functools.partial(learner.train, batch)
        ref = decomp_learner(mixer)
        agent = CellAgent(agent_input_dim(OBS, N, A, True, True))
        target = CellAgent(agent_input_dim(OBS, N, A, True, True))
        opt = torch.optim.RMSprop(list(agent.parameters()) + list(ref.mixer.parameters()), lr=5e-4)
        fns[f"pymarl-style {mixer}"] = functools.partial(
            pymarl_style_update, agent, target, ref.mixer, ref.target_mixer, opt, batch, ref.agent_inputs(batch))
    results = time_interleaved(fns, args.repeats)
    for name, times in results.items():
        print(f"{name:22s} median {statistics.median(times):7.1f} ms   (min {min(times):.1f}, max {max(times):.1f})")
    for mixer in ("qmix", "qatten"):
        ratio = statistics.median(results[f"decomp {mixer}"]) / statistics.median(results[f"pymarl-style {mixer}"])
        print(f"{mixer}: decomp / pymarl-style = {ratio:.2f}")


if __name__ == "__main__":
    main()
