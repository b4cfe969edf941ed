"""How a 3m-sized update's cost grows with the batch: the floor under "several seeds in one process".

    python benchmarks/learner_scaling.py [--rounds 30] [--factor 5]

Why: S seeds trained in one process with their updates batched (stacked weights, grouped layers,
vmap) do at least the arithmetic and memory traffic of one learner on an S× larger batch, since
distinct weights per seed never make a kernel cheaper than shared ones. So the process CPU time of
one update at ``factor`` × 64 episodes, against 64, bounds from below what batching ``factor`` seeds
can achieve. Both sizes use the same learner and replay (benchmarks/learner_small.py's 3m batch:
QMIX, the smac preset's learner) and take turns, the order flipped every round; one thread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import learner_small as ls


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--factor", type=int, default=5, help="the larger batch = factor x 64 episodes (seeds to stack)")
    args = p.parse_args()
    torch.set_num_threads(1)
    api = ls._api()
    api["keep_freed_memory"]()
    size = ls.SIZES["3m"]
    buffer, info = ls.filled_replay(api, size)
    with tempfile.TemporaryDirectory() as tmp:
        ls.initial_weights(size, Path(tmp) / "init.pt")
        learner = ls.build(api, size, "qmix", info, torch.load(Path(tmp) / "init.pt")["qmix"])
    small, large = size.batch, size.batch * args.factor
    for b in (small, large):  # warm-up: allocator and kernels at both sizes
        for _ in range(5):
            learner.train(buffer.sample(b))
    cpu_ms: dict[int, list[float]] = {small: [], large: []}
    for r in range(args.rounds):
        for b in (small, large) if r % 2 == 0 else (large, small):
            batch = buffer.sample(b)
            start = time.process_time()
            learner.train(batch)
            cpu_ms[b].append((time.process_time() - start) * 1e3)
    med = {b: statistics.median(v) for b, v in cpu_ms.items()}
    print(f"update CPU time, median of {args.rounds}: {small} episodes {med[small]:.1f} ms, {large} episodes "
          f"{med[large]:.1f} ms; ratio {med[large] / med[small]:.2f} (x{args.factor} the batch)")


if __name__ == "__main__":
    main()
