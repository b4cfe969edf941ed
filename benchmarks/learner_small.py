"""Trainer update time on a 3m-sized batch (SMAX 3m, the smac preset), side by side with an older checkout.

Update = what the trainer does per update, ``learner.train(buffer.sample(64))``: 64 episodes of
12–20 steps × 3 agents (SMAX 3m: obs 75, state 72, 8 actions, feats 10, episode limit 100) sampled
from a full 5000-episode replay. Learner: the smac preset's (decomp/conf/env/smac.yaml): Adam lr
5e-4, TD(λ = 0.6), double-Q, grad clip 10, hard target updates every 200, GRU 64 with agent-id and
last-action inputs, mixer Linear layers orthogonal with gain 1e-3 (``decomp.core.build.scale_init``).
QMIX, VDN and Qatten at their default options. ``--batch 3s5z`` runs benchmarks/learner.py's batch
instead (32 episodes of 75–150 steps × 8 agents, RMSprop, TD(0)), to check large batches too.

To compare with an older commit (``--ref-src``: a checkout of any commit, in the flat layout of
95e6cd8 or the current ``decomp/core`` one), each side runs in its own subprocess with
``PYTHONPATH`` at its tree; the subprocesses take turns (round by round, the order flipped every
round), so load on the shared machine hits both alike. Both sides start from the same weights (made
here once) and sample the same batches; each prints its first update's loss and gradient norm as
a same-maths check. Times are medians over all updates of all rounds: wall clock, and in brackets
the process CPU time, which a busy machine's time slicing does not inflate.

    git -C /work/main worktree add /tmp/ref95 95e6cd8 --detach
    python benchmarks/learner_small.py --ref-src /tmp/ref95 [--rounds 8] [--updates 40] [--threads 1]
    python benchmarks/learner_small.py --profile            # where the current tree's update spends its time
    python benchmarks/learner_small.py --ref-src /tmp/ref95 --floor   # + how much faster the same floats could be
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Size:
    """An env's dims, its batches and the learner settings it is trained with."""

    n_agents: int
    n_actions: int
    obs_dim: int
    state_dim: int
    feat_dim: int
    episode_limit: int
    batch: int
    min_len: int
    max_len: int
    capacity: int  # episodes in the replay the batches are sampled from
    optimizer: str
    td_lambda: float
    init_scale: float  # mixer init gain (0: PyTorch's default init)
    lr: float = 5e-4
    hidden: int = 64


SIZES = {
    "3m": Size(3, 8, 75, 72, 10, 100, batch=64, min_len=12, max_len=20, capacity=5000, optimizer="adam",
               td_lambda=0.6, init_scale=1e-3),
    "3s5z": Size(8, 14, 128, 216, 8, 150, batch=32, min_len=75, max_len=150, capacity=320, optimizer="rmsprop",
                 td_lambda=0.0, init_scale=0.0),
}
MIXERS = ("qmix", "vdn", "qatten", "coma")
CHUNK = 32  # episodes added to the replay at a time, as a collection of 32 envs does
ROOT = Path(__file__).resolve().parent.parent  # the tree this script belongs to


# ---- runs inside one tree (PYTHONPATH), current or flat layout ---------------------------------------------------
def _api() -> dict[str, Any]:
    """The names a worker needs, from the ``decomp/core`` layout or the flat one of 95e6cd8."""
    try:
        from decomp.core.agents import RNNAgent, agent_input_dim
        from decomp.core.buffer import ReplayBuffer
        from decomp.core.learners import LearnerConfig
        from decomp.core.methods import get_method, make_mixer
        from decomp.training.runtime import keep_freed_memory

        def learner(name: str, agent: Any, mixer: Any, info: Any, cfg: Any) -> Any:
            return get_method(name).build_learner(agent, mixer, info, cfg)

        layout = "core"
    except ImportError:
        from decomp.agents import RNNAgent, agent_input_dim  # type: ignore[no-redef]
        from decomp.buffer import ReplayBuffer  # type: ignore[no-redef]
        from decomp.learners import LearnerConfig, make_learner  # type: ignore[no-redef]
        from decomp.mixers import make_mixer  # type: ignore[no-redef]
        from decomp.runtime import keep_freed_memory  # type: ignore[no-redef]

        def learner(name: str, agent: Any, mixer: Any, info: Any, cfg: Any) -> Any:
            return make_learner(name, agent, mixer, info, cfg)

        layout = "flat"
    import decomp
    from decomp.envs.base import EnvInfo

    return dict(RNNAgent=RNNAgent, agent_input_dim=agent_input_dim, ReplayBuffer=ReplayBuffer, EnvInfo=EnvInfo,
                LearnerConfig=LearnerConfig, make_mixer=make_mixer, learner=learner, layout=layout,
                keep_freed_memory=keep_freed_memory, src=str(Path(decomp.__file__).parent.parent))


def filled_replay(api: dict[str, Any], size: Size, seed: int = 0) -> tuple[Any, Any]:
    """A full replay of ``size.capacity`` episodes of min_len–max_len steps, padded to the episode
    limit with zeros as the runner leaves it, added in chunks; -> (buffer, EnvInfo)."""
    s, limit, n, a = size, size.episode_limit, size.n_agents, size.n_actions
    info = api["EnvInfo"](n_agents=n, n_actions=a, obs_dim=s.obs_dim, state_dim=s.state_dim, feat_dim=s.feat_dim,
                          episode_limit=limit, n_envs=1)
    buffer = api["ReplayBuffer"](info, capacity=s.capacity, seed=seed)
    g = torch.Generator().manual_seed(seed)
    for _ in range(s.capacity // CHUNK):
        lengths = torch.randint(s.min_len, s.max_len + 1, (CHUNK,), generator=g)  # (E,)
        slots = (torch.arange(limit + 1)[None] <= lengths[:, None]).float()  # (E, T+1): obs slots 0..L are real
        mask = (torch.arange(limit)[None] < lengths[:, None]).float()  # (E, T)
        term = torch.zeros(CHUNK, limit)
        term[torch.arange(CHUNK), lengths - 1] = 1.0
        avail = (torch.rand(CHUNK, limit + 1, n, a, generator=g) < 0.6) | (torch.arange(a) == 1)  # (E, T+1, N, A)
        avail &= slots.bool()[..., None, None]  # nothing available in padding
        scores = torch.where(avail[:, :-1], torch.rand(CHUNK, limit, n, a, generator=g), -1.0)  # (E, T, N, A)
        episodes = dict(
            obs=torch.randn(CHUNK, limit + 1, n, s.obs_dim, generator=g) * slots[..., None, None],
            state=torch.randn(CHUNK, limit + 1, s.state_dim, generator=g) * slots[..., None],
            avail=avail, feats=torch.randn(CHUNK, limit + 1, n, s.feat_dim, generator=g) * slots[..., None, None],
            actions=scores.argmax(-1) * mask.long()[..., None], reward=torch.rand(CHUNK, limit, generator=g) * mask,
            terminated=term, mask=mask,
        )
        buffer.add({k: v.numpy() for k, v in episodes.items()}, lengths.numpy())
    return buffer, info


def build(api: dict[str, Any], size: Size, mixer_name: str, info: Any, weights: dict[str, Any]) -> Any:
    """The size's learner around the given initial agent and mixer weights."""
    s = size
    agent = api["RNNAgent"](api["agent_input_dim"](s.obs_dim, s.n_agents, s.n_actions, True, True), s.n_actions,
                            s.hidden)
    mixer = api["make_mixer"](mixer_name, s.n_agents, s.state_dim, s.feat_dim, s.n_actions)
    agent.load_state_dict(weights["agent"])
    mixer.load_state_dict(weights["mixer"])
    cfg = api["LearnerConfig"](lr=s.lr, optimizer=s.optimizer, td_lambda=s.td_lambda, double_q=True, grad_clip=10.0,
                               target_update_interval=200)
    return api["learner"](mixer_name, agent, mixer, info, cfg)


def worker(size: Size, mixer_name: str, weights_file: str, updates: int, warmup: int) -> None:
    """Time ``updates`` trainer updates after ``warmup`` (wall clock and the process CPU time,
    sampling and training apart) and print one JSON line."""
    api = _api()
    api["keep_freed_memory"]()
    torch.manual_seed(0)
    buffer, info = filled_replay(api, size)
    learner = build(api, size, mixer_name, info, torch.load(weights_file)[mixer_name])
    first = learner.train(buffer.sample(size.batch))
    for _ in range(1, warmup):
        learner.train(buffer.sample(size.batch))
    times: dict[str, list[float]] = {k: [] for k in ("sample", "train", "sample_cpu", "train_cpu")}
    live = 0
    for _ in range(updates):
        w0, c0 = time.perf_counter(), time.process_time()
        batch = buffer.sample(size.batch)
        w1, c1 = time.perf_counter(), time.process_time()
        learner.train(batch)
        w2, c2 = time.perf_counter(), time.process_time()
        for key, value in (("sample", w1 - w0), ("train", w2 - w1), ("sample_cpu", c1 - c0), ("train_cpu", c2 - c1)):
            times[key].append(value * 1000)
        live += int(batch.mask.sum())
    print(json.dumps(dict(times=times, layout=api["layout"], src=api["src"], loss=first["losses/total"],
                          grad_norm=first["losses/grad_norm"], live=live / updates)))


def current_learner(size: Size, mixer_name: str) -> tuple[Any, list[Any]]:
    """The current tree's learner for ``size``, warmed up by 10 updates, and 8 batches from a full
    replay, in this process."""
    api = _api()
    api["keep_freed_memory"]()
    buffer, info = filled_replay(api, size)
    with tempfile.TemporaryDirectory() as tmp:
        initial_weights(size, Path(tmp) / "init.pt")
        learner = build(api, size, mixer_name, info, torch.load(Path(tmp) / "init.pt")[mixer_name])
    batches = [buffer.sample(size.batch) for _ in range(8)]
    for i in range(10):
        learner.train(batches[i % 8])
    return learner, batches


def floor(size: Size, mixer_name: str, repeats: int) -> Any:
    """The matrix products and gate nonlinearities of the current tree's update, timed alone
    (benchmarks/learner.py, ``arithmetic_floor``): no rewrite with the same floats goes below it."""
    from learner import arithmetic_floor  # this script's folder is on sys.path

    learner, batches = current_learner(size, mixer_name)
    return arithmetic_floor(lambda: learner.train(batches[0]), repeats)


def profile(size: Size, mixer_name: str, updates: int) -> None:
    """The current tree's update under torch.profiler: the ops that take the time, and the share
    of matrix products and of the GRU's gate nonlinearities (arithmetic no rewrite removes)."""
    from torch.profiler import profile as torch_profile

    learner, batches = current_learner(size, mixer_name)
    with torch_profile() as prof:
        for i in range(updates):
            learner.train(batches[i % 8])
    stats = prof.key_averages()
    print(stats.table(sort_by="self_cpu_time_total", row_limit=15))
    total = sum(e.self_cpu_time_total for e in stats)
    share = lambda names: sum(e.self_cpu_time_total for e in stats if e.key in names) / total  # noqa: E731
    matmul = share({"aten::mm", "aten::addmm", "aten::bmm"})
    gates = share({f"aten::{op}{end}" for op in ("sigmoid", "tanh") for end in ("", "_", "_backward")})
    print(f"{mixer_name}: matrix products (mm, addmm, bmm) {matmul:.0%} of op time; sigmoid/tanh and their "
          f"backward {gates:.0%}")


# ---- driver -----------------------------------------------------------------------------------------------------
def initial_weights(size: Size, path: Path) -> None:
    """One set of initial agent + mixer weights per mixer (the current tree's init and scale_init),
    so every side starts from the same point."""
    sys.path.insert(0, str(ROOT))
    from decomp.core.agents import RNNAgent, agent_input_dim
    from decomp.core.build import scale_init
    from decomp.core.methods import make_mixer

    s, out = size, {}
    for i, name in enumerate(MIXERS):
        torch.manual_seed(i)
        agent = RNNAgent(agent_input_dim(s.obs_dim, s.n_agents, s.n_actions, True, True), s.n_actions, s.hidden)
        mixer = make_mixer(name, s.n_agents, s.state_dim, s.feat_dim, s.n_actions)
        if s.init_scale > 0:
            scale_init(mixer, s.init_scale)
        out[name] = {"agent": agent.state_dict(), "mixer": mixer.state_dict()}
    torch.save(out, path)


def run_worker(src: Path, mixer: str, weights: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--worker", mixer, "--weights", str(weights), "--batch", args.batch,
           "--updates", str(args.updates), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src)
    if proc.returncode != 0:
        raise RuntimeError(f"worker for {src} ({mixer}) failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if Path(out["src"]).resolve() != src:
        raise RuntimeError(f"the worker imported decomp from {out['src']}, not {src}: is it installed elsewhere?")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-src", type=Path, metavar="DIR", help="a checkout of an older commit to time side by side")
    ap.add_argument("--batch", choices=SIZES, default="3m")
    ap.add_argument("--methods", "--mixers", dest="methods", nargs="+", default=list(MIXERS), choices=MIXERS,
                    help="methods to time (--mixers: its name before method= replaced mixer=, in older commands)")
    ap.add_argument("--rounds", type=int, default=8, help="subprocess rounds per side and mixer (sides alternate)")
    ap.add_argument("--updates", type=int, default=40, help="timed updates per round")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="profile the current tree's update instead (first method)")
    ap.add_argument("--floor", action="store_true",
                    help="also time the current tree's matrix products and gate nonlinearities alone, and the "
                         "speed-up over --ref-src they leave room for")
    ap.add_argument("--worker", choices=MIXERS, help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size = SIZES[args.batch]
    if args.worker:
        worker(size, args.worker, args.weights, args.updates, args.warmup)
        return
    if args.profile:
        profile(size, args.methods[0], args.updates)
        return

    sides = {"current": ROOT} | ({"ref": args.ref_src.resolve()} if args.ref_src else {})
    for name, src in sides.items():
        rev = subprocess.run(["git", "-C", str(src), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
        print(f"{name:8s} {src} @ {rev.stdout.strip()[:72] or '(not a git checkout)'}")
    keys = ("sample", "train", "sample_cpu", "train_cpu")
    times: dict[tuple[str, str, str], list[float]] = {(s, m, k): [] for s in sides for m in args.methods for k in keys}
    firsts: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "init.pt"
        initial_weights(size, weights)
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(sides)[::-1]
            for mixer in args.methods:
                for side in order:
                    out = run_worker(sides[side], mixer, weights, args)
                    for k in keys:
                        times[side, mixer, k] += out["times"][k]
                    firsts.setdefault((side, mixer), out)
    live = next(iter(firsts.values()))["live"]
    print(f"update = learner.train(buffer.sample({size.batch})), {args.batch}-sized: {asdict(size)}; "
          f"≈ {live:.0f} live steps a batch; torch {torch.__version__}, {args.threads} thread(s); "
          f"{args.rounds} rounds × {args.updates} updates per side and mixer, sides alternating; "
          f"medians in ms, wall clock [CPU time]")
    med = {key: statistics.median(v) for key, v in times.items()}
    for kind in ("", "_cpu"):  # an update's total, sample + train
        for s in sides:
            for m in args.methods:
                med[s, m, "update" + kind] = statistics.median(
                    [a + b for a, b in zip(times[s, m, "sample" + kind], times[s, m, "train" + kind])])
    for mixer in args.methods:
        for side in sides:
            first = firsts[side, mixer]
            cell = lambda k: f"{med[side, mixer, k]:6.2f} [{med[side, mixer, k + '_cpu']:6.2f}]"  # noqa: E731
            print(f"{mixer:7s} {side:8s} ({first['layout']:4s})  update {cell('update')}  sample {cell('sample')}  "
                  f"train {cell('train')}  first update: loss {first['loss']:.9g}, grad norm {first['grad_norm']:.9g}")
        if "ref" in sides:
            ratio = lambda k: med["ref", mixer, k] / med["current", mixer, k]  # noqa: E731
            print(f"{mixer:7s} ref / current: update {ratio('update'):.2f}× [{ratio('update_cpu'):.2f}×], "
                  f"train {ratio('train'):.2f}× [{ratio('train_cpu'):.2f}×]")
    if args.floor:
        for mixer in args.methods:
            fl = floor(size, mixer, repeats=max(args.updates, 20))
            line = (f"{mixer:7s} arithmetic floor {fl.wall_ms:.2f} [{fl.cpu_ms:.2f}] ms ({fl.ops(2)}; "
                    f"inside a profiled update {fl.in_situ_ms:.2f})")
            if "ref" in sides:
                line += (f"; ref update / floor = {med['ref', mixer, 'update'] / fl.wall_ms:.2f}× "
                         f"[{med['ref', mixer, 'update_cpu'] / fl.cpu_ms:.2f}×] at most")
            print(line)


if __name__ == "__main__":
    main()
