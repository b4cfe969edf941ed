"""Learner update time on a 3s5z-sized batch: decomp's TD update vs a pymarl-style update (and pymarl's own).

Batch: 32 episodes of 75–150 steps (padded to 150) × 8 agents, sampled from the replay buffer, obs 128, state 216, 14 actions, GRU 64, double-Q,
target networks, padding masks. The pymarl-style reference re-implements the *design* of pymarl's
``QLearner.train`` (a Python loop over time steps calling a GRUCell agent for the online and the
target network, then the mixer), with the same maths, so both are timed side by side in one run, taking turns update by update.

Given a pymarl checkout (``--pymarl-src``, https://github.com/oxwhirl/pymarl), pymarl's own
``QLearner.train()`` with its QMIX is timed too, on the same batch converted to pymarl's
``EpisodeBatch`` and started from decomp's QMIX weights (the first update's loss and gradient norm
are printed side by side as a same-maths check). Given the Qatten authors' pymarl fork
(``--qatten-src``, https://github.com/qattenaaai22/Qatten), that fork's ``QLearner`` with its
``QattenMixer`` is timed against decomp's Qatten. Their code is imported from the given folder at
run time (see benchmarks/pymarl_adapter.py), never copied into decomp.

    python benchmarks/learner.py [--repeats 7] [--threads 1] [--lengths mixed|full] [--floor]
                                 [--pymarl-src DIR] [--qatten-src DIR]

``--lengths full`` makes every episode 150 steps long (no padding to skip: the issue's "full-length
batch"); the default ``mixed`` draws 75–150. Times are wall clock and, in brackets, process CPU time,
which the time slicing of a busy machine does not inflate (read that one with ``--threads 1``).
``--floor`` also times the arithmetic the update cannot avoid (:func:`arithmetic_floor`).

A source folder can be a clone or an export, e.g.
``git clone https://github.com/oxwhirl/pymarl /tmp/pymarl`` (a clone also lets the commit be printed).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.buffer import EpisodeBatch, ReplayBuffer
from decomp.envs.base import EnvInfo
from decomp.core.learners import LearnerConfig, TDLearner
from decomp.core.methods import make_mixer
from decomp.training.runtime import keep_freed_memory
from decomp.core.agents import RNNAgent, agent_input_dim

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pymarl_adapter  # noqa: E402

B, T, N, OBS, STATE, A, H = 32, 150, 8, 128, 216, 14, 64
FEAT = 8
INFO = EnvInfo(n_agents=N, n_actions=A, obs_dim=OBS, state_dim=STATE, feat_dim=FEAT, episode_limit=T, n_envs=1)


def synthetic_batch(seed: int = 0, full: bool = False) -> EpisodeBatch:
    """32 episodes of 75–150 steps (``full``: all 150), drawn through the replay buffer exactly as the
    trainer does."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    lengths[0] = T
    if full:
        lengths[:] = T
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


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[tuple[float, float]]]:
    """Time each fn ``repeats`` times, taking turns, so load on the shared machine hits all alike;
    -> name: [(wall ms, process CPU ms)]."""
    for fn in fns.values():
        fn()  # warm-up
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            out[name].append(((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000))
    return out


# The ops whose work no implementation of the same maths avoids: the matrix products (agent layers, the
# GRU's input and hidden products, their backward, the mixer) and the GRU's gate nonlinearities.
FLOOR_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::sigmoid", "aten::sigmoid_", "aten::tanh",
             "aten::tanh_", "aten::sigmoid_backward", "aten::tanh_backward")


@dataclass(frozen=True)
class Floor:
    """What the unavoidable ops of one update cost (:func:`arithmetic_floor`)."""

    wall_ms: float  # median over repeats of the replay, wall clock
    cpu_ms: float  # the same, process CPU time
    per_op_ms: dict[str, float]  # median CPU ms per op name
    in_situ_ms: float  # the same ops' own time inside one profiled real update (a check on the replay)

    def ops(self, digits: int = 1) -> str:
        """Per-op CPU ms, largest first: ``addmm 113.3, mm 72.5, …``."""
        ranked = sorted(self.per_op_ms.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name.removeprefix('aten::')} {ms:.{digits}f}" for name, ms in ranked)


def arithmetic_floor(update: Callable[[], object], repeats: int) -> Floor:
    """Time just the FLOOR_OPS that one ``update`` runs, replayed at their recorded shapes on random
    tensors held in cache, so no layout, memory or dispatch cost of the real update is counted.

    Why: it bounds every eager rewrite of the same maths on this CPU from below — the rest of an
    update (copies, indexing, elementwise ops, optimiser, Python) can shrink, these cannot without
    changing the floats."""
    from torch.profiler import profile as torch_profile

    update()
    with torch_profile(record_shapes=True) as prof:
        update()
    events = [ev for ev in prof.events() if ev.name in FLOOR_OPS]
    groups: dict[str, list[Callable[[], object]]] = {}  # op name -> its calls, in the update's order
    tensors: dict[tuple[int, ...], torch.Tensor] = {}
    for ev in events:
        # one tensor per shape, reused by every call of that shape: all operands stay in cache, as the
        # recurrent weights do in the real update, so the replay errs on the fast side
        t = [tensors.setdefault(tuple(sh), torch.randn(sh)) if sh else None for sh in ev.input_shapes]
        if ev.name == "aten::addmm":  # recorded (bias, mat1, mat2[, out])
            call: Callable[[], object] = functools.partial(torch.addmm, t[0], t[1], t[2])
        elif ev.name in ("aten::mm", "aten::bmm"):
            call = functools.partial(getattr(torch, ev.name[6:]), t[0], t[1])
        elif ev.name.endswith("_backward"):  # (grad_output, output[, grad_input])
            call = functools.partial(getattr(torch.ops.aten, ev.name[6:]), t[0], t[1])
        else:  # sigmoid, tanh, in place or not
            call = functools.partial(getattr(torch, ev.name[6:].rstrip("_")), t[0])
        groups.setdefault(ev.name, []).append(call)
    per_op: dict[str, list[float]] = {name: [] for name in groups}
    walls: list[float] = []
    for _ in range(repeats):
        w0 = time.perf_counter()
        for name, group in groups.items():  # one clock read per op kind: its overhead stays out
            c0 = time.process_time()
            for call in group:
                call()
            per_op[name].append((time.process_time() - c0) * 1000)
        walls.append((time.perf_counter() - w0) * 1000)
    return Floor(wall_ms=statistics.median(walls), cpu_ms=statistics.median(sum(ms) for ms in zip(*per_op.values())),
                 per_op_ms={k: statistics.median(v) for k, v in per_op.items()},
                 in_situ_ms=sum(ev.self_cpu_time_total for ev in events) / 1000)


def pymarl_qmix(src: Path, batch: EpisodeBatch, decomp: TDLearner) -> tuple[Callable[[], object], str]:
    """pymarl's own QLearner + QMixer from ``src``, started from ``decomp``'s weights; (update fn, description)."""
    api = pymarl_adapter.load_pymarl(src)
    pb = pymarl_adapter.pymarl_batch(api, batch)
    args = pymarl_adapter.pymarl_args(N, A, STATE, H, "qmix")
    learner, logger = pymarl_adapter.build_learner(api, pb, args)
    pymarl_adapter.copy_decomp_qmix(learner, decomp.agent, decomp.mixer, N, OBS)
    # same-maths check on the first update from the same weights (it also warms both up)
    ours = decomp.train(batch)
    learner.train(pb, 0, 0)  # pymarl logs loss and grad_norm on its first update
    check = (f"  same weights, first update: loss decomp {ours['losses/total']:.6f} pymarl {logger.stats['loss']:.6f}; "
             f"grad norm decomp {ours['losses/grad_norm']:.6f} pymarl {logger.stats['grad_norm']:.6f}")
    desc = (f"pymarl: {src} @ {api.commit}\n"
            f"  its EpisodeBatch ({pb.batch_size} episodes × {pb.max_seq_length} slots (T+1) × {N} agents, "
            f"filled as its runner writes it), BasicMAC + RNNAgent (GRUCell {H}, inputs obs + last action + id), "
            f"QLearner.train(batch, 0, 0) with QMixer\n  args: {_args_line(args)}\n{check}")
    return functools.partial(learner.train, pb, 0, 0), desc


def authors_qatten(src: Path, batch: EpisodeBatch, decomp: TDLearner) -> tuple[Callable[[], object], str]:
    """The Qatten authors' QLearner + QattenMixer from ``src`` at decomp's Qatten settings; (update fn, description).

    Same settings (4 heads of 32, 2-layer query hypernets of 64, weighted heads, state bias, logit
    regulariser 0.01), but parameterised differently: the authors' keys read the first
    ``unit_dim`` × N entries of the state where decomp's read the per-agent features, their heads
    are separate nets in a Python loop where decomp's are one batched net, their c(s) has 32 hidden
    units where decomp's has 64. So weights cannot be shared and only the time is compared.
    """
    mixer: Any = decomp.mixer
    api = pymarl_adapter.load_pymarl(src)
    pb = pymarl_adapter.pymarl_batch(api, batch)
    args = pymarl_adapter.pymarl_args(
        N, A, STATE, H, "qatten", unit_dim=FEAT, n_head=mixer.n_heads, attend_reg_coef=mixer.reg_coef,
        state_bias=True, mask_dead=mixer.mask_dead, weighted_head=mixer.weighted_head, nonlinear=mixer.nonlinear,
    )
    args.mixing_embed_dim, args.hypernet_embed = mixer.attn_dim, mixer.query[0].out_features
    learner, _ = pymarl_adapter.build_learner(api, pb, args)
    desc = (f"Qatten authors' fork: {src} @ {api.commit}\n"
            f"  same batch conversion and agent as for pymarl; its QLearner.train(batch, 0, 0) with its QattenMixer "
            f"(keys from state[:, :{FEAT}×{N}], unit_dim {FEAT})\n  args: {_args_line(args)}\n"
            f"  decomp qatten: n_heads {mixer.n_heads}, attn_dim {mixer.attn_dim}, hypernet_embed "
            f"{mixer.query[0].out_features}, weighted_head {mixer.weighted_head}, nonlinear {mixer.nonlinear}, "
            f"mask_dead {mixer.mask_dead}, reg_coef {mixer.reg_coef}, keys from feats ({FEAT} per agent)")
    return functools.partial(learner.train, pb, 0, 0), desc


def _args_line(args: SimpleNamespace) -> str:
    skip = {"n_agents", "n_actions", "state_shape", "rnn_hidden_dim", "agent", "mac", "agent_output_type",
            "action_selector", "epsilon_start", "epsilon_finish", "epsilon_anneal_time", "learner", "use_cuda", "device"}
    return ", ".join(f"{k}={v}" for k, v in vars(args).items() if k not in skip)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lengths", choices=("mixed", "full"), default="mixed",
                    help="episode lengths: 75-150 steps (default) or all 150 (nothing to skip)")
    ap.add_argument("--floor", action="store_true",
                    help="also time the matrix products and gate nonlinearities of decomp's QMIX update alone")
    ap.add_argument("--no-malloc-tuning", action="store_true",
                    help="skip decomp.training.runtime.keep_freed_memory() (applies to both sides: it is process-wide)")
    ap.add_argument("--pymarl-src", type=Path, metavar="DIR",
                    help="root of a pymarl checkout (oxwhirl/pymarl): also time its own QLearner.train() with QMIX")
    ap.add_argument("--qatten-src", type=Path, metavar="DIR",
                    help="root of the Qatten authors' pymarl fork (qattenaaai22/Qatten): "
                         "also time its QLearner with its QattenMixer")
    args = ap.parse_args()
    tuned = False if args.no_malloc_tuning else keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = synthetic_batch(full=args.lengths == "full")
    print(f"batch: {B} episodes × {T} steps × {N} agents, obs {OBS}, state {STATE}, {A} actions, GRU {H}; "
          f"torch {torch.__version__}, {args.threads} thread(s), malloc tuning {'on' if tuned else 'off'}; "
          f"median of {args.repeats} updates")
    print(f"decomp: TDLearner, double_q, RMSprop lr 5e-4 alpha 0.99 eps 1e-5, grad clip 10, gamma 0.99, TD(0), "
          f"qmix embed 32 / hypernets 2 × 64; {int(batch.mask.sum())} live steps of {B * T}")
    fns: dict[str, Callable[[], object]] = {}
    own = {"qmix": ("pymarl", args.pymarl_src, pymarl_qmix), "qatten": ("authors", args.qatten_src, authors_qatten)}
    for mixer in ("qmix", "qatten"):
        learner = decomp_learner(mixer)
        fns[f"decomp {mixer}"] = functools.partial(learner.train, batch)
        ref = decomp_learner(mixer)
        agent = CellAgent(agent_input_dim(OBS, N, A, True, True))
        target = CellAgent(agent_input_dim(OBS, N, A, True, True))
        opt = torch.optim.RMSprop(list(agent.parameters()) + list(ref.mixer.parameters()), lr=5e-4)
        fns[f"pymarl-style {mixer}"] = functools.partial(
            pymarl_style_update, agent, target, ref.mixer, ref.target_mixer, opt, batch, ref.agent_inputs(batch))
        label, src, build = own[mixer]
        if src is not None:
            fns[f"{label} {mixer}"], desc = build(src, batch, learner)
            print(desc)
    results = time_interleaved(fns, args.repeats)
    med, cpu = {}, {}
    for name, times in results.items():
        wall = [w for w, _ in times]
        med[name], cpu[name] = statistics.median(wall), statistics.median(c for _, c in times)
        print(f"{name:22s} median {med[name]:7.1f} ms   (min {min(wall):.1f}, max {max(wall):.1f}; "
              f"CPU time {cpu[name]:.1f} ms)")
    for mixer in ("qmix", "qatten"):
        label = own[mixer][0]
        who = "pymarl QLearner" if label == "pymarl" else "authors' Qatten"
        for kind, m in (("wall", med), ("CPU time", cpu)):
            line = f"{mixer} ({kind}): decomp / pymarl-style = {m[f'decomp {mixer}'] / m[f'pymarl-style {mixer}']:.2f}"
            if f"{label} {mixer}" in m:
                line += f"; decomp / {who} = {m[f'decomp {mixer}'] / m[f'{label} {mixer}']:.2f}"
            print(line)
    if args.floor:
        fl = arithmetic_floor(fns["decomp qmix"], args.repeats)
        print(f"arithmetic floor of decomp's QMIX update: {fl.wall_ms:.1f} ms wall, CPU time {fl.cpu_ms:.1f} ms "
              f"({fl.ops()}); the same ops inside one profiled update: {fl.in_situ_ms:.1f} ms")
        for kind, m, f in (("wall", med, fl.wall_ms), ("CPU time", cpu, fl.cpu_ms)):
            line = f"  ({kind}) floor / decomp {f / m['decomp qmix']:.2f}; floor / pymarl-style {f / m['pymarl-style qmix']:.2f}"
            if "pymarl qmix" in m:
                line += f"; floor / pymarl QLearner {f / m['pymarl qmix']:.2f}"
            print(line)
        print("  (the issue's target is decomp / pymarl <= 0.5; read wall with --threads > 1, CPU time on a busy machine)")


if __name__ == "__main__":
    main()
