"""Offline value probe: does a mixer's Q_tot stay grounded on a FIXED batch of random SMAX episodes?

Why: on SMAX 2s3z QMIX's greedy policy learned to avoid the fight while its Q_tot climbed to 6-14.
Training on a fixed replay of ε = 1 episodes removes the feedback through the policy, so whatever
goes wrong is the learner's (or the mixer's) alone. After ``--updates`` TD updates it prints:

* Q_tot of the taken actions against the discounted Monte-Carlo return-to-go of the behaviour
  data, by time step and at episodes' last steps (a terminal step's target is its reward alone);
* how often an agent that can attack values an attack above its best move/stop (attacking is
  what earns reward: r_t correlates 0.73 with the number of attacks at t and 0.02 at t + 1).

    python benchmarks/smax_value_probe.py --method qmix [--init-scale 0.001] [--timeout-terminal] [--map 2s3z]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from decomp.core.buffer import EpisodeBatch, ReplayBuffer  # noqa: E402
from decomp.config.compose import compose_config  # noqa: E402
from decomp.core.build import build_learner  # noqa: E402
from decomp.envs.smax import SmaxEnv  # noqa: E402
from decomp.core.learners.base import Learner  # noqa: E402
from decomp.core.ops import mix_live  # noqa: E402
from decomp.rollout.policy import Policy  # noqa: E402
from decomp.rollout.runner_jax import make_runner  # noqa: E402


def discounted_to_go(batch: EpisodeBatch, gamma: float) -> torch.Tensor:
    """(B, T) discounted return from each step to the episode's end (0 beyond it)."""
    r, mask = batch.reward, batch.mask
    out, acc = torch.zeros_like(r), torch.zeros(r.shape[0])
    for t in range(r.shape[1] - 1, -1, -1):
        acc = r[:, t] + gamma * acc * mask[:, t]
        out[:, t] = acc
    return out * mask


@torch.no_grad()
def probe(learner: Learner, buf: ReplayBuffer, gamma: float, n: int = 512) -> dict[str, float]:
    b = buf.sample(min(n, len(buf)))
    q, _ = learner.unroll(learner.agent, learner.agent_inputs(b), b)
    q = q[:, :-1]  # (B, T, N, A)
    chosen = q.gather(-1, b.actions.unsqueeze(-1)).squeeze(-1)  # (B, T, N)
    q_tot = mix_live(learner.mixer, chosen, b.state[:, :-1], b.feats[:, :-1], b.mask).mean(-1)  # (B, T)
    g = discounted_to_go(b, gamma)
    avail, live = b.avail[:, :-1], b.mask > 0
    can_attack = avail[..., 5:].any(-1) & (b.feats[:, :-1, :, 0] > 0) & live.unsqueeze(-1)  # (B, T, N)
    qa = q.masked_fill(~avail, -1e9)
    gap = (qa[..., 5:].max(-1).values - qa[..., :5].max(-1).values)[can_attack]
    length = b.mask.sum(1).long()
    idx = torch.arange(len(length))
    term = b.terminated[idx, length - 1] > 0
    out = {"P(attack valued above moving)": float((gap > 0).float().mean()),
           "Q_tot at terminal last steps": float(q_tot[idx, length - 1][term].mean()),
           "  their return (= reward)": float(g[idx, length - 1][term].mean())}
    for t0 in (0, 20, 40, 60, 80):
        m = b.mask[:, t0] > 0
        if m.any():
            out[f"t={t0}: Q_tot | MC return"] = (float(q_tot[m, t0].mean()), float(g[m, t0].mean()))  # type: ignore[assignment]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--map", default="2s3z")
    p.add_argument("--method", default="qmix")
    p.add_argument("--init-scale", type=float, default=0.0, help="method.init_scale (0 = PyTorch default)")
    p.add_argument("--timeout-terminal", action="store_true", help="store time-outs as terminal (no bootstrap)")
    p.add_argument("--collect", type=int, default=1500, help="vector steps of ε = 1 data (32 envs)")
    p.add_argument("--updates", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    cfg = compose_config(["env=smac", "env.backend=smax", f"map={args.map}", f"method={args.method}",
                          f"method.init_scale={args.init_scale}", f"seed={args.seed}"])
    env = SmaxEnv(args.map, cfg.env.n_envs, seed=args.seed, reward_scale=cfg.env.reward_scale)
    learner = build_learner(cfg, env.info)
    buf = ReplayBuffer(env.info, cfg.buffer_size, seed=args.seed)
    make_runner(env, Policy.of(learner), seed=args.seed).collect(args.collect, 1.0, buf)
    if args.timeout_terminal:
        n = len(buf)
        buf.data.terminated[torch.arange(n), buf.lengths[:n] - 1] = 1.0
    print(f"{args.map} {args.method} init_scale={args.init_scale} timeout_terminal={args.timeout_terminal}: "
          f"{len(buf)} random episodes, {args.updates} updates of {cfg.batch_size}")
    for _ in range(args.updates):
        learner.train(buf.sample(cfg.batch_size))
    for key, value in probe(learner, buf, cfg.learner.gamma).items():
        text = f"{value[0]:.2f} | {value[1]:.2f}" if isinstance(value, tuple) else f"{value:.3f}"
        print(f"  {key}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
