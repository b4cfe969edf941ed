"""`python -m decomp.train env=matrix|smac method=… [key=value …]` — train, report, write a run folder.

Examples::

    python -m decomp.train env=matrix env.game=qtran method=qtran seed=3
    python -m decomp.train env=smac map=3m method=qmix
    python -m decomp.train env=smac map=3s5z method=qtran --cfg job --resolve   # exactly the config that runs
    python -m decomp.train resume=runs/3m__qmix__0__20261122-101500
    python -m decomp.train -m env=smac map=3m,2s3z method=qmix,vdn seed=0,1 hydra/launcher=joblib

With ``-m`` every job runs in ``<hydra.sweep.dir>/<env>-<map>__<method>__<seed>``; a relaunch skips
finished jobs and resumes killed ones (decomp/cli/sweep.py).
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from contextlib import nullcontext
from pathlib import Path

import hydra
from omegaconf import DictConfig

from decomp.cli.run_folder import make_run_dir, resolve_resume
from decomp.cli.run_lock import FolderBusy, hold
from decomp.cli.run_report import report_run
from decomp.training.checkpoint import CheckpointError
from decomp.config.compose import check_map, explicit_keys, refuse_renamed, to_config
from decomp.config.schema import Config, ConfigError
from decomp.config.validation import validate
from decomp.envs.smac_select import BackendUnavailable
from decomp.training.run_record import write_config
from decomp.training.trainer import Trainer, TrainingDiverged
from decomp.training.runtime import keep_freed_memory


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception, so ``finally`` blocks run: the run folder's lock is released and the logger closed.

    Why: Python's default SIGTERM ends the process where it stands, leaving ``.training.lock`` behind (taken
    over as stale by the next launch, after a confusing message) and a sweep launch killed mid-job.
    """


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated`, unless someone (a launcher such as submitit) handles it already."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_terminated)


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
    # one trainer per folder: a second launch or resume= is refused while this one lives; a seed group's member
    # resumed on its own also holds its group's folder, which the group's process holds while it trains
    with hold(run_dir.parent) if is_group(run_dir.parent) else nullcontext(), hold(run_dir):
        try:
            trainer = Trainer(cfg, run_dir=run_dir, resume_from=ckpt)
        except BaseException:
            if fresh:
                shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained: leave no empty run behind
            raise
        write_config(run_dir, cfg, trainer.info)
        print(f"[decomp] run folder: {run_dir}", file=sys.stderr)
        report_run(trainer, trainer.run())
    return 0


def sweep_job(cfg: Config, explicit: dict[str, str]) -> int:
    """One job of a ``-m`` sweep in its fixed folder: skipped when finished, resumed when killed."""
    from hydra.core.hydra_config import HydraConfig

    if cfg.seeds:
        raise ConfigError(f"seeds={list(cfg.seeds)} trains a group of seeds in one process; a sweep (-m) runs one job "
                          "per seed instead: give seed=0,1,2 to the sweep, or drop -m to train the group")
    for key in ("resume", "run_name"):
        if key in explicit:
            raise ConfigError(f"{key}= does not apply to a sweep (-m): each job's folder is <hydra.sweep.dir>/"
                              "<env>-<map>__<method>__<seed>, and relaunching the same sweep resumes killed jobs")
    folder = Path(HydraConfig.get().runtime.output_dir)
    try:
        with hold(folder):  # before planning: another launch may be training (or about to clear) this folder
            return _sweep_job_in(folder, cfg, explicit)
    except FolderBusy as busy:  # the other jobs of the sweep go on
        print(f"[decomp] sweep job {folder.name}: skipped, {busy}", file=sys.stderr)
        return 0


def _sweep_job_in(folder: Path, cfg: Config, explicit: dict[str, str]) -> int:
    from decomp.cli import sweep

    job = sweep.plan_job(cfg, explicit, folder)
    print(f"[decomp] sweep job {folder.name}: {job.reason}" + (", skipped" if job.action == "skip" else ""),
          file=sys.stderr)
    if job.action == "skip":
        return 0
    sweep.use_shared_compile_cache(folder.parent)
    if job.action == "fresh" and sweep.has_files(folder):
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
        cfg = to_config(dcfg)
        check_map(cfg, HydraConfig.get().runtime.choices, explicit)
        code = sweep_job(cfg, explicit) if multirun else train(cfg, explicit)
    except (ConfigError, CheckpointError, TrainingDiverged, BackendUnavailable, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        print(f"\n{'terminated (SIGTERM)' if terminated else 'interrupted'}: resume with `python -m decomp.train "
              "resume=<run folder>`" + (" or launch the same sweep again" if multirun else ""), file=sys.stderr)
        if terminated:
            sys.exit(143)  # a SystemExit passes Hydra's per-job handling: the whole sweep stops, as asked
        code = 130
    if code and multirun:
        raise SweepJobFailed(f"{HydraConfig.get().runtime.output_dir}: exit code {code} (its error is printed above)")
    if code:
        sys.exit(code)


def main() -> None:
    import decomp.config.compose  # noqa: F401  (registers the schema with Hydra's ConfigStore)

    try:
        refuse_renamed(sys.argv[1:])  # before Hydra, whose own message would not name method=
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    stop_cleanly_on_sigterm()
    _hydra_main()
