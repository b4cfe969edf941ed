"""What ``decomp.train`` prints and draws when a run ends: the matrix report, figures, the SMAX replay.

Apart from the entry point because a single run and every seed of a group (train_group.py) end the same way.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from decomp.training.run_record import Summary
from decomp.training.trainer import Trainer


def print_matrix_report(result: Any) -> None:
    """Payoff, learned Q_tot, each agent's Q^i and whether the greedy joint action is optimal."""
    np.set_printoptions(precision=2, suppress=True, linewidth=120)
    print(f"\n== {result.game} with {result.method} (seed {result.seed}, data={result.data}) ==")
    print("payoff:\n", result.payoff)
    label = "learned Q_jt" if "sum_qi" in result.extra_tables else "learned Q_tot"
    print(f"{label}:\n", result.q_tot)
    if "sum_qi" in result.extra_tables:
        print("Σ_i Q^i:\n", result.extra_tables["sum_qi"])
    for i, q in enumerate(result.agent_qs):
        print(f"Q^{i + 1}: {q}")
    verdict = "OPTIMAL" if result.optimal else "NOT optimal"
    print(f"greedy joint action: {result.greedy} -> return {result.greedy_return:g} "
          f"(optimum {result.payoff.max():g}: {verdict})")


def report_run(trainer: Trainer, summary: Summary) -> None:
    """A finished run's figures, SMAX replay and printed results (the run folder's last files)."""
    from decomp.training.matrix_lab import matrix_result
    from decomp.training.run_plots import learning_curves, matrix_heatmap

    cfg, run_dir = trainer.cfg, trainer.run_dir
    assert run_dir is not None
    title = f"{trainer.info.name} · {cfg.method.name} · seed {cfg.seed}"
    if cfg.env.name == "matrix":
        result = matrix_result(trainer, cfg)
        print_matrix_report(result)
        matrix_heatmap(run_dir / "heatmap.png", result.payoff, result.q_tot, result.greedy, title)
    learning_curves(run_dir / "learning_curve.png", trainer.logger.history, title)
    use_best = summary.best_policy_win_rate > summary.eval_win_rate
    if trainer.info.name.startswith("smax:"):
        from decomp.training.battle_replay import REPLAY_FILE, record_replay

        with trainer.best.swapped_in(trainer.learner) if use_best else contextlib.nullcontext():
            record_replay(trainer, run_dir / REPLAY_FILE, "best" if use_best else "final",
                          summary.best_policy_step if use_best else summary.env_steps)
    episodes = cfg.final_eval_rounds * cfg.env.eval_envs
    print(f"[decomp] {summary.env_steps:,} env steps, {summary.updates:,} updates in {summary.seconds:.1f}s; "
          f"final policy: test win rate {summary.eval_win_rate:.2f}, return {summary.eval_return:.3g} "
          f"({episodes} episodes)")
    if 0 <= summary.best_policy_step != summary.env_steps:
        print(f"[decomp] best policy (evaluation at step {summary.best_policy_step:,}, "
              f"checkpoints/best.pt) re-evaluated on {episodes} fresh episodes: test win rate "
              f"{summary.best_policy_win_rate:.2f}, return {summary.best_policy_return:.3g}"
              + ("; the replay shows it" if use_best and trainer.info.name.startswith("smax:") else ""))
    if cfg.ema_decay > 0:
        print(f"[decomp] moving average of the weights (ema_decay={cfg.ema_decay}) on {episodes} episodes of its own: "
              f"test win rate {summary.ema_win_rate:.2f}, return {summary.ema_return:.3g}")
    print(f"[decomp] outputs in {run_dir}")
