"""`python -m decomp.train env=matrix|smac mixer=… [key=value …]` — train, report, write a run folder.

Examples::

    python -m decomp.train env=matrix env.game=qtran mixer=qtran seed=3
    python -m decomp.train env=smac env.map_name=3m mixer=qmix
    python -m decomp.train resume=runs/3m__qmix__0__20261122-101500
    python -m decomp.train -m env=smac env.map_name=3m,2s3z mixer=qmix,vdn seed=0,1 hydra/launcher=joblib

With ``-m`` every job runs in ``<hydra.sweep.dir>/<env>-<map>__<mixer>__<seed>``; a relaunch skips
finished jobs and resumes killed ones (decomp/cli/sweep.py).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from decomp.training.checkpoint import CheckpointError, load_checkpoint
from decomp.config.compose import explicit_keys, to_config
from decomp.config.schema import Config, ConfigError, config_from_dict, validate
from decomp.envs.smac_select import BackendUnavailable
from decomp.training.trainer import Summary, Trainer, TrainingDiverged, write_config
from decomp.training.runtime import keep_freed_memory


def run_name(cfg: Config, seed_label: str | None = None) -> str:
    """``run_name`` or ``<env>-<game|map>__<mixer>__<seed_label or seed>__<time>``."""
    where = cfg.env.game if cfg.env.name == "matrix" else cfg.env.map_name
    label = seed_label if seed_label is not None else str(cfg.seed)
    return cfg.run_name or f"{cfg.env.name}-{where}__{cfg.mixer.name}__{label}__{time.strftime('%Y%m%d-%H%M%S')}"


def fresh_folder(parent: Path, name: str) -> Path:
    """``parent/name``, or ``name-1``, ``name-2``, … if taken: never reuses (so never overwrites) a run."""
    path, suffix = parent / name, 1
    while path.exists():
        path = parent / f"{name}-{suffix}"
        suffix += 1
    path.mkdir(parents=True)
    return path


def make_run_dir(cfg: Config) -> Path:
    """A fresh folder for one run."""
    return fresh_folder(Path(cfg.run_dir), run_name(cfg))


RESUME_OVERRIDABLE = ("t_max", "progress", "save_interval", "eval_interval", "log_interval", "threads", "device")


def refuse_changes(explicit: dict[str, str]) -> None:
    """A resumed run keeps its config.yaml: only RESUME_OVERRIDABLE keys may be given with resume=."""
    refused = sorted(k for k in explicit if k not in (*RESUME_OVERRIDABLE, "resume"))
    if refused:
        raise ConfigError(f"cannot change {', '.join(refused)} when resuming (the run's config.yaml is kept); "
                          f"allowed with resume=: {', '.join(RESUME_OVERRIDABLE)}")


def resolve_resume(cfg: Config, explicit: dict[str, str]) -> tuple[Config, Path, Path]:
    """resume=<run folder or .pt> -> (the run's own config, run folder, checkpoint).

    The saved config is authoritative; only keys in RESUME_OVERRIDABLE given on the command line
    change it (e.g. a larger t_max to train longer); anything else is refused.
    """
    target = Path(cfg.resume)
    ckpt = target if target.suffix == ".pt" else target / "checkpoints" / "latest.pt"
    run_dir = ckpt.parent.parent
    payload = load_checkpoint(ckpt)
    saved = config_from_dict(payload["config"])
    refuse_changes(explicit)
    for key in explicit:
        if key in RESUME_OVERRIDABLE:
            setattr(saved, key, getattr(cfg, key))
    saved.resume = str(target)
    validate(saved)
    if payload["env_steps"] >= saved.t_max:
        if (run_dir / "summary.json").exists():
            raise ConfigError(f"{run_dir} already reached t_max={saved.t_max:,} (checkpoint at {payload['env_steps']:,} "
                              "env steps); pass a larger t_max= to train longer")
        print(f"[decomp] {run_dir} was stopped after its last update, before its summary: finishing its final "
              "evaluation", file=sys.stderr)
    print(f"[decomp] resuming {run_dir} at env step {payload['env_steps']:,} of {saved.t_max:,}", file=sys.stderr)
    return saved, run_dir, ckpt


def print_matrix_report(result) -> None:
    """Payoff, learned Q_tot, each agent's Q^i and whether the greedy joint action is optimal."""
    np.set_printoptions(precision=2, suppress=True, linewidth=120)
    print(f"\n== {result.game} with {result.mixer_name} (seed {result.seed}, data={result.data}) ==")
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


def train(cfg: Config, explicit: dict[str, str] | None = None, into: Path | None = None) -> int:
    """Run one training job; ``explicit`` holds the key=value overrides the user typed; ``into``: an
    existing empty folder to use as the run folder (a sweep job's) instead of a new one under run_dir."""
    from decomp.cli.train_group import is_group, train_group

    if cfg.seeds or (cfg.resume and is_group(Path(cfg.resume))):
        return train_group(cfg, explicit or {})
    if cfg.resume:
        cfg, run_dir, ckpt = resolve_resume(cfg, explicit or {})
    else:
        validate(cfg)
        run_dir, ckpt = None, None
    fresh = run_dir is None
    run_dir = run_dir or into or make_run_dir(cfg)
    keep_freed_memory()  # the CLI owns the process: trade idle RSS for fewer page faults per update
    try:
        trainer = Trainer(cfg, run_dir=run_dir, resume_from=ckpt)
    except BaseException:
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained: leave no empty run behind
        raise
    assert run_dir is not None
    write_config(run_dir, cfg, trainer.info)
    print(f"[decomp] run folder: {run_dir}", file=sys.stderr)
    report_run(trainer, trainer.run())
    return 0


def report_run(trainer: Trainer, summary: Summary) -> None:
    """A finished run's figures, SMAX replay and printed results (the run folder's last files)."""
    from decomp.training.matrix_lab import matrix_result
    from decomp.training.run_plots import learning_curves, matrix_heatmap

    cfg, run_dir = trainer.cfg, trainer.run_dir
    assert run_dir is not None
    title = f"{trainer.info.name} · {cfg.mixer.name} · seed {cfg.seed}"
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


def sweep_job(cfg: Config, explicit: dict[str, str]) -> int:
    """One job of a ``-m`` sweep in its fixed folder: skipped when finished, resumed when killed."""
    from hydra.core.hydra_config import HydraConfig

    from decomp.cli import sweep

    if cfg.seeds:
        raise ConfigError(f"seeds={list(cfg.seeds)} trains a group of seeds in one process; a sweep (-m) runs one job "
                          "per seed instead: give seed=0,1,2 to the sweep, or drop -m to train the group")
    for key in ("resume", "run_name"):
        if key in explicit:
            raise ConfigError(f"{key}= does not apply to a sweep (-m): each job's folder is <hydra.sweep.dir>/"
                              "<env>-<map>__<mixer>__<seed>, and relaunching the same sweep resumes killed jobs")
    folder = Path(HydraConfig.get().runtime.output_dir)
    job = sweep.plan_job(cfg, explicit, folder)
    print(f"[decomp] sweep job {folder.name}: {job.reason}" + (", skipped" if job.action == "skip" else ""),
          file=sys.stderr)
    if job.action == "skip":
        return 0
    sweep.use_shared_compile_cache(folder.parent)
    if job.action == "fresh" and any(folder.iterdir()):
        sweep.clear_partial(folder)  # killed before its first checkpoint: nothing to resume
    sweep.write_host_record(folder, job)
    return train(job.cfg, job.explicit, into=folder if job.action == "fresh" else None)


@hydra.main(version_base=None, config_path="pkg://decomp.conf", config_name="config")
def _hydra_main(dcfg: DictConfig) -> None:
    from decomp.cli.sweep import SweepJobFailed, in_sweep

    multirun = in_sweep()
    try:
        from hydra.core.hydra_config import HydraConfig

        explicit = explicit_keys(list(HydraConfig.get().overrides.task))
        cfg, notes = to_config(dcfg, explicit)
        for note in notes if not cfg.resume else []:
            print(f"[decomp] {note}; give a key on the command line to keep your own value", file=sys.stderr)
        code = sweep_job(cfg, explicit) if multirun else train(cfg, explicit)
    except (ConfigError, CheckpointError, TrainingDiverged, BackendUnavailable, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("\ninterrupted: resume with `python -m decomp.train resume=<run folder>`"
              + (" or launch the same sweep again" if multirun else ""), file=sys.stderr)
        code = 130
    if code and multirun:
        raise SweepJobFailed(f"{HydraConfig.get().runtime.output_dir}: exit code {code} (its error is printed above)")
    if code:
        sys.exit(code)


def main() -> None:
    import decomp.config.compose  # noqa: F401  (registers the schema with Hydra's ConfigStore)

    _hydra_main()
