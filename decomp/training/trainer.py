"""The training loop shared by every env: collect → replay → update → evaluate → log → checkpoint."""

from __future__ import annotations

import collections
import contextlib
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from decomp.training.averaged import AveragedPolicy
from decomp.training.best import BestPolicy, swapped_in
from decomp.core.buffer import EpisodeBatch, ReplayBuffer
from decomp.core.build import build_learner
from decomp.training.checkpoint import check_compatible, load_checkpoint, save_checkpoint, write_json
from decomp.config.schema import Config, epsilon_at, lr_scale_at, td_lambda_at
from decomp.config.validation import validate
from decomp.envs import make_env
from decomp.envs.base import BatchedEnv
from decomp.training.memory import check_replay_fits
from decomp.training.metrics import open_logger
from decomp.training.progress_check import ProgressCheck
from decomp.training.regimes import next_round
from decomp.training.resume import restore_training, training_state
from decomp.training.run_record import Summary, config_dict
from decomp.training.runtime import resolve_device
from decomp.core.mixers.base import Mixer
from decomp.rollout.policy import Policy
from decomp.rollout.diagnostics import ValueFn
from decomp.rollout.runner import EpisodeStats
from decomp.rollout.runner_jax import make_runner


EVAL_SEED_OFFSETS = {"eval": 10_007, "ema": 20_011}  # added to cfg.seed: the evaluation envs' seeds


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is kept untouched."""


class Trainer:
    """Builds everything from a :class:`Config` and runs it; ``run_dir=None`` trains in memory."""

    def __init__(self, cfg: Config, run_dir: Path | None = None, resume_from: Path | None = None,
                 on_progress: Callable[[float], None] | None = None,
                 env_factory: Callable[[int, int], BatchedEnv] | None = None) -> None:
        validate(cfg)
        self.cfg, self.run_dir, self.on_progress = cfg, run_dir, on_progress
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        payload = load_checkpoint(resume_from) if resume_from is not None else None
        self.make_env = env_factory or (lambda n, seed: make_env(cfg.env, n, seed=seed))
        self.env: BatchedEnv = self.make_env(cfg.env.n_envs, cfg.seed)
        self.info = self.env.info
        if payload is not None:
            check_compatible(payload["env_info"], self.info, str(resume_from))
        # the greedy evaluations' env and the average's own (so the online evaluations stay as they are), built on
        # first use; their seeds differ from the training env's
        self.eval_envs: dict[str, BatchedEnv] = {}
        self.eval_seeds = {name: cfg.seed + offset for name, offset in EVAL_SEED_OFFSETS.items()}
        check_replay_fits(self.info, cfg.buffer_size)  # now, not by the OOM killer when the replay fills
        self.buffer = ReplayBuffer(self.info, cfg.buffer_size, seed=cfg.seed)
        self.learner = build_learner(cfg, self.info, resolve_device(cfg.device))
        self.policy = Policy.of(self.learner)  # the one acting policy: collection, evaluation, tables, replay
        self.runner = make_runner(self.env, self.policy, seed=cfg.seed)
        self.recent: collections.deque[tuple[float, int, bool]] = collections.deque(maxlen=100)
        self.losses: list[float] = []
        self.pending_episodes = 0
        self.next_log = cfg.log_interval
        self.next_eval = cfg.eval_interval if cfg.eval_interval > 0 else cfg.t_max
        self.next_save = cfg.save_interval
        self.last_saved_step: int | None = None
        self.last_eval_step = -1
        self.best = BestPolicy()
        self.average = AveragedPolicy(cfg.ema_decay, self.learner) if cfg.ema_decay > 0 else None
        self.progress_check = ProgressCheck()
        self._evals: dict[str, float] = {}  # the last greedy evaluation (latest_evals)
        self.train_logs: dict[str, float] = {}  # the last update's losses, logged at the next log step
        if payload is not None:
            restore_training(self, payload, str(resume_from))
        self.logger = open_logger(cfg, run_dir, resume_step=self.runner.env_steps if payload else None)
        self._rng = torch.get_rng_state(), np.random.get_state()  # this trainer's streams (own_rng)

    # ---- checkpoints -------------------------------------------------------------------------
    def save(self) -> None:
        if self.run_dir is None:
            return
        save_checkpoint(self.run_dir / "checkpoints" / "latest.pt", training_state(self))
        self.last_saved_step = self.runner.env_steps

    # ---- evaluation -----------------------------------------------------------------------------
    def evaluate(self, rounds: int = 1, epsilon: float = 0.0) -> dict[str, float]:
        """``rounds`` × eval_envs episodes, greedy unless ``epsilon`` > 0; returns means of every metric."""
        stats = self._play(self.eval_env("eval"), rounds, epsilon, self._value_fn())
        if epsilon == 0.0:
            self.last_eval_step = self.runner.env_steps
        out = {"eval/win_rate": float(np.mean(stats.wins)), "eval/return": float(np.mean(stats.returns)),
               "eval/episode_length": float(np.mean(stats.lengths))}
        out.update({f"eval/{k}": float(np.nanmean(v)) for k, v in stats.extras.items()})
        return out

    def evaluate_average(self, rounds: int = 1) -> dict[str, float]:
        """The moving-average weights played greedily on their own eval env: ``eval/ema_*``."""
        assert self.average is not None
        with swapped_in(self.learner, self.average.weights):
            stats = self._play(self.eval_env("ema"), rounds, 0.0, None)
        return {"eval/ema_win_rate": float(np.mean(stats.wins)), "eval/ema_return": float(np.mean(stats.returns))}

    def eval_env(self, name: str) -> BatchedEnv:
        """The evaluation env ``name`` (``eval``: greedy evaluations; ``ema``: the average's), built on first use."""
        if name not in self.eval_envs:
            self.eval_envs[name] = self.make_env(self.cfg.env.eval_envs, self.eval_seeds[name])
        return self.eval_envs[name]

    def _play(self, env: BatchedEnv, rounds: int, epsilon: float, value_fn: ValueFn | None) -> EpisodeStats:
        """``rounds`` × ``env``'s episodes with the learner's current weights, merged."""
        stats = EpisodeStats()
        for _ in range(rounds):
            stats.merge(self.runner.evaluate(env, epsilon=epsilon, value_fn=value_fn, gamma=self.cfg.learner.gamma))
        return stats

    def _value_fn(self) -> ValueFn | None:
        """Q_tot of the chosen joint action for value mixers (a Mixer); None for QTRAN, QPLEX, COMA."""
        mixer = self.learner.mixer
        if not isinstance(mixer, Mixer):
            return None
        dev = self.learner.device
        # heads averaged (IQL: mean Q^i); inputs from the CPU-side runner, result back to it
        return lambda qs, state, feats: mixer(qs.to(dev), state.to(dev), feats.to(dev)).mean(-1).cpu()

    # ---- main loop ----------------------------------------------------------------------------
    def run(self) -> Summary:
        """Train to ``t_max``: collect → replay → update → evaluate → log → checkpoint, then evaluate."""
        self.begin()
        try:
            while not self.finished:
                eps = epsilon_at(self.cfg, self.runner.env_steps)
                self.advance(self.runner.collect(self.cfg.steps_per_collect, eps, self.buffer), eps)
            self.conclude()
        finally:
            self.close_bar()
        return self.summarise()

    @property
    def latest_evals(self) -> dict[str, float]:
        """The last greedy evaluation's metrics (empty before the first)."""
        return self._evals

    @latest_evals.setter
    def latest_evals(self, evals: dict[str, float]) -> None:
        self._evals = evals

    @property
    def finished(self) -> bool:
        return self.runner.env_steps >= self.cfg.t_max

    def begin(self, show_bar: bool = True) -> None:
        """Start the clock and the progress bar; measure the ε = 1 return once (the progress check's base).

        ``run`` = ``begin``, ``advance`` per collection, ``conclude``, ``summarise``; a
        :class:`~decomp.training.group.SeedGroup` drives several trainers through the same steps.
        """
        cfg, runner = self.cfg, self.runner
        self._start, self._steps0 = time.time(), runner.env_steps
        self._bar = tqdm(total=cfg.t_max, initial=runner.env_steps, unit="step", disable=not (cfg.progress and show_bar),
                         dynamic_ncols=True, file=sys.stderr, desc=f"{self.info.name} {cfg.method.name}",
                         mininterval=0.5 if sys.stderr.isatty() else 15.0)
        if self.progress_check.random_return is None and runner.env_steps == 0 and cfg.data == "egreedy":
            random_evals = self.evaluate(epsilon=1.0)
            self.progress_check.record_random(random_evals)
            self.logger.log(0, {"eval/random_return": random_evals["eval/return"],
                                "eval/random_win_rate": random_evals["eval/win_rate"]})

    def advance(self, stats: EpisodeStats, eps: float) -> None:
        """Everything after one collection at ε = ``eps``: updates, logs, evaluations, checkpoints."""
        cfg, runner = self.cfg, self.runner
        self.recent.extend(zip(stats.returns, stats.lengths, stats.wins))
        self.pending_episodes += len(stats)
        due = next_round(cfg, self.buffer, self.pending_episodes, runner.env_steps)
        if due is not None:
            self.pending_episodes = due.pending_left
            if due.sync_targets:
                self.learner.sync_targets()
            for batch in due.batches:
                self.train_logs = self._update(batch)
                if due.sync_every and self.learner.updates % due.sync_every == 0:
                    self.learner.sync_targets()
        self._bar.update(runner.env_steps - self._bar.n)
        if self.on_progress is not None:
            self.on_progress(min(1.0, runner.env_steps / cfg.t_max))
        if runner.env_steps >= self.next_log:
            self.next_log += cfg.log_interval
            self._log_charts(eps, self.train_logs, self._start, self._steps0)
        if runner.env_steps >= self.next_eval:
            self.next_eval += cfg.eval_interval if cfg.eval_interval > 0 else cfg.t_max
            self._evals = self.evaluate()
            self.logger.log(runner.env_steps, self._evals)
            self._offer_best(self._evals)
            self.progress_check.observe(self._evals, annealed=runner.env_steps >= cfg.epsilon_anneal_steps)
            if self.average is not None:
                self.logger.log(runner.env_steps, self.evaluate_average())
        if runner.env_steps >= self.next_save:
            self.next_save += cfg.save_interval
            self.save()
        self._bar.set_postfix(eps=f"{eps:.2f}", win=f"{self._evals.get('eval/win_rate', float('nan')):.2f}",
                              sps=f"{(runner.env_steps - self._steps0) / max(time.time() - self._start, 1e-9):.0f}",
                              refresh=False)

    def conclude(self) -> None:
        """The final evaluation, the best weights re-evaluated, the average's evaluation, the last checkpoint."""
        cfg, runner = self.cfg, self.runner
        if self.last_eval_step != runner.env_steps or cfg.final_eval_rounds > 1:
            self._evals = self.evaluate(cfg.final_eval_rounds)
            self.logger.log(runner.env_steps, self._evals)
        self._best_evals = self._reevaluate_best(self._evals)
        self._averaged = self.evaluate_average(cfg.final_eval_rounds) if self.average is not None else {}
        if self._averaged:
            self.logger.log(runner.env_steps, self._averaged)
        self.save()

    def close_bar(self) -> None:
        self._bar.close()

    def summarise(self) -> Summary:
        """The run's :class:`Summary` (after ``conclude``), written to ``summary.json``; closes the logger."""
        evals, best, averaged = self._evals, self._best_evals, self._averaged
        summary = Summary(
            env_steps=self.runner.env_steps, episodes=self.runner.episodes, updates=self.learner.updates,
            seconds=time.time() - self._start, eval_win_rate=evals.get("eval/win_rate", float("nan")),
            eval_return=evals.get("eval/return", float("nan")),
            best_eval_win_rate=max((v for _, v in self.logger.history.get("eval/win_rate", [])), default=float("nan")),
            run_dir=str(self.run_dir) if self.run_dir else None,
            best_policy_step=self.best.step if self.best.weights is not None else -1,
            best_policy_win_rate=best.get("eval/win_rate", float("nan")),
            best_policy_return=best.get("eval/return", float("nan")),
            ema_win_rate=averaged.get("eval/ema_win_rate", float("nan")),
            ema_return=averaged.get("eval/ema_return", float("nan")),
        )
        if self.run_dir is not None:
            write_json(self.run_dir / "summary.json", asdict(summary))
        self.logger.close(asdict(summary))
        return summary

    @contextlib.contextmanager
    def own_rng(self) -> Iterator[None]:
        """Swap this trainer's streams of torch's and numpy's global RNGs in, and back out afterwards.

        Why: the learner's initialisation (and anything else drawing from the global RNGs) must see the
        same numbers whether this trainer runs alone or beside other seeds in one process.
        """
        outer = torch.get_rng_state(), np.random.get_state()
        torch.set_rng_state(self._rng[0])
        np.random.set_state(self._rng[1])
        try:
            yield
        finally:
            self._rng = torch.get_rng_state(), np.random.get_state()
            torch.set_rng_state(outer[0])
            np.random.set_state(outer[1])

    def _offer_best(self, evals: dict[str, float]) -> None:
        if self.best.offer(self.runner.env_steps, evals, self.learner) and self.run_dir is not None:
            save_checkpoint(self.run_dir / "checkpoints" / "best.pt", {
                "config": config_dict(self.cfg), "env_info": self.info.as_dict(), "best": self.best.state_dict()})

    def _reevaluate_best(self, final: dict[str, float]) -> dict[str, float]:
        """The best periodic evaluation's weights, evaluated again on fresh episodes (unbiased)."""
        if self.best.weights is None:
            return {}
        if self.best.step == self.runner.env_steps:
            return final  # the final weights are the best ones and were just evaluated
        with self.best.swapped_in(self.learner):
            evals = self.evaluate(self.cfg.final_eval_rounds)
        self.logger.log(self.runner.env_steps, {"eval/best_policy_win_rate": evals["eval/win_rate"],
                                                "eval/best_policy_return": evals["eval/return"]})
        return evals

    def _update(self, batch: EpisodeBatch) -> dict[str, float]:
        scale = lr_scale_at(self.cfg, self.runner.env_steps)
        if self.cfg.learner.lr_schedule != "constant" or scale != 1.0:
            self.learner.scale_lr(scale)
        self.learner.set_td_lambda(td_lambda_at(self.cfg, self.runner.env_steps))
        try:
            logs = self.learner.train(batch, behaviour_epsilon=epsilon_at(self.cfg, self.runner.env_steps))
        except FloatingPointError as err:
            kept = (f"the last good checkpoint (env step {self.last_saved_step}) is kept in "
                    f"{self.run_dir / 'checkpoints' / 'latest.pt'}" if self.last_saved_step is not None and self.run_dir
                    else "no checkpoint had been written yet")
            raise TrainingDiverged(
                f"training stopped: {err} (env step {self.runner.env_steps}); {kept}. "
                "Try a lower lr or grad_clip."
            ) from err
        if self.average is not None:
            self.average.update(self.learner)
        self.losses.append(logs["losses/total"])
        logs["charts/lr"] = self.learner.optimizer.param_groups[0]["lr"]
        return logs

    def _log_charts(self, eps: float, train_logs: dict[str, float], start: float, steps0: int) -> None:
        values = dict(train_logs)
        values["charts/epsilon"] = eps
        values["charts/steps_per_sec"] = (self.runner.env_steps - steps0) / max(time.time() - start, 1e-9)
        if self.recent:
            rets, lens, wins = zip(*self.recent)
            values.update({"charts/episode_return": float(np.mean(rets)), "charts/episode_length": float(np.mean(lens)),
                           "charts/win_rate": float(np.mean(wins))})
        self.logger.log(self.runner.env_steps, values)
