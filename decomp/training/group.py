"""Several seeds trained in one process (``seeds=[0,1,2]``): one :class:`Trainer` per seed, in lockstep.

Why: a results table needs 3–5 seeds per cell. Each seed keeps everything of its own — parameters,
optimiser, replay, RNG streams, evaluations, run folder — so its metrics equal training it alone
(tests/test_group.py); what the seeds share is the process (one JAX compilation, one import) and, on
SMAX, the collection: every round all seeds' envs are stepped by one jitted call
(:func:`decomp.rollout.group.collect_group`). Updates run one seed after another: on a CPU, stacking
seeds' updates does not make them cheaper (docs/benchmarks.md).
"""

from __future__ import annotations

import sys
import time
from typing import Sequence

from tqdm.auto import tqdm

from decomp.config.schema import epsilon_at
from decomp.rollout.group import can_group, collect_group
from decomp.training.run_record import Summary
from decomp.training.trainer import Trainer


class SeedGroup:
    """Drives ``members`` (one Trainer per seed, same settings otherwise) through the training loop together."""

    def __init__(self, members: Sequence[Trainer]) -> None:
        if not members:
            raise ValueError("a SeedGroup needs at least one trainer")
        steps = {m.cfg.steps_per_collect for m in members}
        if len(steps) > 1:
            raise ValueError(f"the seeds of a group collect in lockstep: steps_per_collect differs ({sorted(steps)})")
        self.members = list(members)
        self.collect_seconds = 0.0  # wall time spent collecting (benchmarks/seed_group.py)

    def run(self, show_bar: bool = True) -> list[Summary]:
        """Train every member to its ``t_max``; returns their summaries in member order."""
        members = self.members
        for m in members:
            with m.own_rng():
                m.begin(show_bar=False)
        total = sum(m.cfg.t_max for m in members)
        bar = tqdm(total=total, initial=sum(min(m.runner.env_steps, m.cfg.t_max) for m in members), unit="step",
                   disable=not (show_bar and members[0].cfg.progress), dynamic_ncols=True, file=sys.stderr,
                   desc=f"{members[0].info.name} {members[0].cfg.method.name} ×{len(members)} seeds",
                   mininterval=0.5 if sys.stderr.isatty() else 15.0)
        try:
            while active := [m for m in members if not m.finished]:
                before = sum(m.runner.env_steps for m in active)
                eps = [epsilon_at(m.cfg, m.runner.env_steps) for m in active]
                start = time.perf_counter()
                collected = self._collect(active, eps)
                self.collect_seconds += time.perf_counter() - start
                for m, stats, e in zip(active, collected, eps):
                    with m.own_rng():
                        m.advance(stats, e)
                bar.update(sum(m.runner.env_steps for m in active) - before)
                wins = (m.latest_evals.get("eval/win_rate", float("nan")) for m in members)
                bar.set_postfix(win=" ".join(f"{w:.2f}" for w in wins), refresh=False)
            for m in members:
                with m.own_rng():
                    m.conclude()
        finally:
            bar.close()
            for m in members:
                m.close_bar()
        return [m.summarise() for m in members]

    @staticmethod
    def _collect(active: list[Trainer], eps: list[float]) -> list:
        runners = [m.runner for m in active]
        n = active[0].cfg.steps_per_collect
        if can_group(runners):
            return collect_group(runners, n, eps, [m.buffer for m in active])  # type: ignore[arg-type]
        out = []
        for m, e in zip(active, eps):  # other envs (matrix games, SC2): one after another
            with m.own_rng():
                out.append(m.runner.collect(n, e, m.buffer))
        return out
