"""Learner update time on a 3m-sized batch (SMAX 3m, the smac preset), against an older checkout.

Batch: 64 episodes of 12–20 steps × 3 agents (SMAX 3m dims: obs 75, state 72, 8 actions, feats 10,
episode limit 100), drawn through the replay buffer as the trainer draws them. Learner: the smac
preset's (decomp/conf/env/smac.yaml): Adam lr 5e-4, TD(λ = 0.6), double-Q, grad clip 10, hard target
updates every 200, GRU 64 with agent-id and last-action inputs, mixer Linear layers orthogonal with
gain 1e-3 (``decomp.core.build.scale_init``). QMIX, VDN and Qatten at their default options.

Updates at this size take milliseconds, so Python and op-dispatch overheads, not arithmetic, set
the time. To compare with an older commit (``--ref-src``, a checkout of any commit: the flat layout
of 95e6cd8 or the current ``decomp/core`` one), each side runs in its own subprocess with
``PYTHONPATH`` at its tree; the subprocesses take turns (round by round, the order flipped every
round) so load on the shared machine hits both alike. Both sides start from the same weights (made
here once) and train on the same batches; each prints its first update's loss as a same-maths check.

    git -C /work/main worktree add /tmp/ref95 95e6cd8 --detach
    python benchmarks/learner_small.py --ref-src /tmp/ref95 [--rounds 8] [--updates 40] [--threads 1]
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
from pathlib import Path
from typing import Any

import torch

N, A, OBS, STATE, FEAT, LIMIT = 3, 8, 75, 72, 10, 100  # SMAX 3m
B, H, MIN_LEN, MAX_LEN = 64, 64, 12, 20
N_BATCHES = 8  # distinct batches cycled through (lengths, hence segment cuts, vary like in training)
LR, TD_LAMBDA, INIT_SCALE = 5e-4, 0.6, 1e-3
MIXERS = ("qmix", "vdn", "qatten")
ROOT = Path(__file__).resolve().parent.parent  # the tree this script belongs to


# ---- worker: runs inside one tree (PYTHONPATH), current or flat layout ---------------------------------
def _api() -> dict[str, Any]:
    """The names the worker needs, from the ``decomp/core`` layout or the flat one of 95e6cd8."""
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
    from decomp.envs.base import EnvInfo

    return dict(RNNAgent=RNNAgent, agent_input_dim=agent_input_dim, ReplayBuffer=ReplayBuffer, EnvInfo=EnvInfo,
                LearnerConfig=LearnerConfig, make_mixer=make_mixer, learner=learner, layout=layout,
                keep_freed_memory=keep_freed_memory)


def replay_batches(api: dict[str, Any], seed: int = 0) -> tuple[list[Any], Any]:
    """N_BATCHES batches of B episodes (12–20 steps, padded to the episode limit in the replay),
    sampled longest first and truncated to the longest, as the trainer samples them."""
    info = api["EnvInfo"](n_agents=N, n_actions=A, obs_dim=OBS, state_dim=STATE, feat_dim=FEAT,
                          episode_limit=LIMIT, n_envs=1)
    g = torch.Generator().manual_seed(seed)
    e = 4 * B
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (e,), generator=g)  # (E,)
    slots = torch.arange(LIMIT + 1)[None] <= lengths[:, None]  # (E, T+1): obs slots 0..L are real
    mask = (torch.arange(LIMIT)[None] < lengths[:, None]).float()  # (E, T)
    term = torch.zeros(e, LIMIT)
    term[torch.arange(e), lengths - 1] = 1.0
    avail = (torch.rand(e, LIMIT + 1, N, A, generator=g) < 0.6) | (torch.arange(A) == 1)  # stop always there
    avail &= slots[..., None, None]  # (E, T+1, N, A) nothing available in padding, as the runner stores it
    scores = torch.where(avail[:, :-1], torch.rand(e, LIMIT, N, A, generator=g), -1.0)
    actions = scores.argmax(-1) * mask.long()[..., None]  # (E, T, N)
    live = slots.float()
    episodes = dict(
        obs=torch.randn(e, LIMIT + 1, N, OBS, generator=g) * live[..., None, None],
        state=torch.randn(e, LIMIT + 1, STATE, generator=g) * live[..., None],
        avail=avail, feats=torch.randn(e, LIMIT + 1, N, FEAT, generator=g) * live[..., None, None],
        actions=actions, reward=torch.rand(e, LIMIT, generator=g) * mask, terminated=term, mask=mask,
    )
    buffer = api["ReplayBuffer"](info, capacity=e, seed=seed)
    buffer.add({k: v.numpy() for k, v in episodes.items()}, lengths.numpy())
    return [buffer.sample(B) for _ in range(N_BATCHES)], info  # (batches, EnvInfo)


def build(api: dict[str, Any], mixer_name: str, info: Any, weights: dict[str, Any]) -> Any:
    """The smac preset's learner around the given initial agent and mixer weights."""
    agent = api["RNNAgent"](api["agent_input_dim"](OBS, N, A, True, True), A, H)
    mixer = api["make_mixer"](mixer_name, N, STATE, FEAT, A)
    agent.load_state_dict(weights["agent"])
    mixer.load_state_dict(weights["mixer"])
    cfg = api["LearnerConfig"](lr=LR, optimizer="adam", td_lambda=TD_LAMBDA, double_q=True, grad_clip=10.0,
                               target_update_interval=200)
    return api["learner"](mixer_name, agent, mixer, info, cfg)


def worker(mixer_name: str, weights_file: str, updates: int, warmup: int) -> None:
    """Time ``updates`` learner updates (after ``warmup``) and print one JSON line."""
    api = _api()
    import decomp

    api["keep_freed_memory"]()
    torch.manual_seed(0)
    batches, info = replay_batches(api)
    learner = build(api, mixer_name, info, torch.load(weights_file)[mixer_name])
    first = learner.train(batches[0])
    for i in range(1, warmup):
        learner.train(batches[i % N_BATCHES])
    times = []
    for i in range(updates):
        batch = batches[i % N_BATCHES]
        t0 = time.perf_counter()
        learner.train(batch)
        times.append((time.perf_counter() - t0) * 1000)
    live = sum(int(b.mask.sum()) for b in batches) / N_BATCHES
    print(json.dumps(dict(times=times, layout=api["layout"], src=str(Path(decomp.__file__).parent.parent), loss=first["losses/total"],
                          grad_norm=first["losses/grad_norm"], live=live, slots=B * batches[0].mask.shape[1])))


# ---- driver ---------------------------------------------------------------------------------------------------
def initial_weights(path: Path) -> None:
    """One set of initial agent + mixer weights per mixer (the current tree's init and scale_init),
    so every side starts from the same point."""
    sys.path.insert(0, str(ROOT))
    from decomp.core.agents import RNNAgent, agent_input_dim
    from decomp.core.build import scale_init
    from decomp.core.methods import make_mixer

    out = {}
    for i, name in enumerate(MIXERS):
        torch.manual_seed(i)
        agent = RNNAgent(agent_input_dim(OBS, N, A, True, True), A, H)
        mixer = make_mixer(name, N, STATE, FEAT, A)
        scale_init(mixer, INIT_SCALE)
        out[name] = {"agent": agent.state_dict(), "mixer": mixer.state_dict()}
    torch.save(out, path)


def run_worker(src: Path, mixer: str, weights: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--worker", mixer, "--weights", str(weights), "--updates", str(args.updates),
           "--warmup", str(args.warmup), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src)
    if proc.returncode != 0:
        raise RuntimeError(f"worker for {src} ({mixer}) failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if Path(out["src"]).resolve() != src:
        raise RuntimeError(f"the worker imported decomp from {out['src']}, not {src}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-src", type=Path, metavar="DIR", help="a checkout of an older commit to time side by side")
    ap.add_argument("--mixers", nargs="+", default=list(MIXERS), choices=MIXERS)
    ap.add_argument("--rounds", type=int, default=8, help="subprocess rounds per side and mixer (sides alternate)")
    ap.add_argument("--updates", type=int, default=40, help="timed updates per round")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", choices=MIXERS, help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        worker(args.worker, args.weights, args.updates, args.warmup)
        return

    sides = {"current": ROOT} | ({"ref": args.ref_src.resolve()} if args.ref_src else {})
    for name, src in sides.items():
        rev = subprocess.run(["git", "-C", str(src), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
        print(f"{name:8s} {src} @ {rev.stdout.strip()[:72] or '(not a git checkout)'}")
    times: dict[tuple[str, str], list[float]] = {(s, m): [] for s in sides for m in args.mixers}
    firsts: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "init.pt"
        initial_weights(weights)
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(sides)[::-1]
            for mixer in args.mixers:
                for side in order:
                    out = run_worker(sides[side], mixer, weights, args)
                    times[side, mixer] += out["times"]
                    firsts.setdefault((side, mixer), out)
    info = next(iter(firsts.values()))
    print(f"batch: {B} episodes of {MIN_LEN}–{MAX_LEN} steps × {N} agents (≈ {info['live']:.0f} live steps of "
          f"{info['slots']} padded slots), obs {OBS}, state {STATE}, {A} actions, GRU {H}; smac preset learner "
          f"(Adam {LR}, TD(λ={TD_LAMBDA}), double-Q, clip 10); torch {torch.__version__}, {args.threads} thread(s); "
          f"{args.rounds} rounds × {args.updates} updates per side, sides alternating")
    for mixer in args.mixers:
        line = f"{mixer:7s}"
        for side in sides:
            t = times[side, mixer]
            first = firsts[side, mixer]
            line += (f"  {side} ({first['layout']}) median {statistics.median(t):6.2f} ms "
                     f"[q1 {statistics.quantiles(t, n=4)[0]:.2f}, q3 {statistics.quantiles(t, n=4)[2]:.2f}]")
        if "ref" in sides:
            line += f"  ref / current = {statistics.median(times['ref', mixer]) / statistics.median(times['current', mixer]):.2f}×"
        print(line)
        print("         first update from the same weights: " + "; ".join(
            f"{side} loss {firsts[side, mixer]['loss']:.9g} grad norm {firsts[side, mixer]['grad_norm']:.9g}"
            for side in sides))


if __name__ == "__main__":
    main()
