"""One job of a ``python -m decomp.train -m …`` sweep: skip it, resume it or start it, in its own folder.

Hydra's launchers (``hydra/launcher=joblib``, ``submitit_local``, ``submitit_slurm``) run the jobs; each
job's folder is ``<hydra.sweep.dir>/<env>-<map>__<method>__<seed>`` (decomp/conf/config.yaml), so
launching the same sweep again finds its runs: a finished run (``summary.json`` at its ``t_max``) is
skipped, a killed one (``checkpoints/latest.pt``) resumes through the trainer's own resume path, and
any other job starts afresh. ``SweepRecord`` keeps ``<sweep dir>/sweep.json``: every launch's exact
command, launcher, host and wall time (``python -m decomp.report smac`` prints them).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from decomp.cli.run_lock import LOCK_NAME
from decomp.config.schema import CHOICES, Config, ConfigError, config_from_dict, migrate_saved

# Settings a relaunch may change without making the job another run (= decomp.cli.run_folder.RESUME_OVERRIDABLE,
# imported lazily there to keep this module light for Hydra's callback), plus where the run lives.
NOT_COMPARED = ("run_dir", "run_name", "resume")
SWEEP_RECORD = "sweep.json"
HOST_RECORD = "host.json"


class SweepJobFailed(RuntimeError):
    """A sweep job stopped with an error (already printed); Hydra marks the job failed and goes on."""


@dataclass
class SweepJob:
    """What one sweep job will do: ``action`` with ``cfg`` (and ``explicit``) for :func:`decomp.cli.train.train`."""

    folder: Path
    action: Literal["skip", "resume", "fresh"]
    cfg: Config
    explicit: dict[str, str]
    reason: str


def in_sweep() -> bool:
    """True inside a job of a Hydra multirun (``-m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def config_differences(saved: Config, wanted: Config, ignore: tuple[str, ...],
                       recorded: set[str] | None = None) -> list[str]:
    """``"key: saved vs now"`` for every setting that differs, apart from ``ignore`` (dotted keys) and, when
    ``recorded`` is given, keys the saved file does not hold (it was written before they existed)."""
    a = _flat(OmegaConf.to_container(OmegaConf.structured(saved)))  # type: ignore[arg-type]
    b = _flat(OmegaConf.to_container(OmegaConf.structured(wanted)))  # type: ignore[arg-type]
    return [f"{k}: {a.get(k)!r} in the folder vs {b.get(k)!r} now" for k in sorted(set(a) | set(b))
            if k not in ignore and a.get(k) != b.get(k) and (recorded is None or k in recorded)]


def saved_config(folder: Path) -> tuple[Config, set[str]]:
    """The run's config.yaml as a Config, and the dotted keys the file itself holds (in today's names)."""
    path = folder / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{folder} has a checkpoint or a summary but no config.yaml; move the folder away to start "
                          "the job again")
    raw = OmegaConf.to_container(OmegaConf.load(path))
    return config_from_dict(raw), set(_flat(migrate_saved(raw)))  # type: ignore[arg-type]


def finished_steps(folder: Path) -> int | None:
    """Env steps of a finished run (its summary.json), None when the run has no summary."""
    path = folder / "summary.json"
    if not path.exists():
        return None
    try:
        return int(json.loads(path.read_text())["env_steps"])
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path} is unreadable ({err}); delete it to run the job again") from None


def plan_job(cfg: Config, explicit: dict[str, str], folder: Path) -> SweepJob:
    """Decide what the job in ``folder`` does on this launch (no side effects)."""
    from decomp.cli.run_folder import RESUME_OVERRIDABLE  # noqa: PLC0415

    explicit = dict(explicit)
    for key, value in (("threads", "1"), ("progress", "false")):  # parallel jobs: no oversubscription,
        if key not in explicit:                                     # no interleaved progress bars
            setattr(cfg, key, int(value) if key == "threads" else False)
            explicit[key] = value
    ckpt = folder / "checkpoints" / "latest.pt"
    done = finished_steps(folder)
    if done is not None or ckpt.exists():  # the folder's run must be this job's run, finished or not
        saved, recorded = saved_config(folder)
        diffs = config_differences(saved, cfg, (*RESUME_OVERRIDABLE, *NOT_COMPARED), recorded)
        if diffs:
            raise ConfigError(f"{folder} holds a {'finished' if done is not None else 'killed'} run with other "
                              f"settings ({'; '.join(diffs)}); relaunching a sweep may only change "
                              f"{', '.join(RESUME_OVERRIDABLE)}. Use another hydra.sweep.dir= for a different sweep "
                              "(a changed default, e.g. env=smac's regime, changes the settings too)")
    if done is not None and done >= cfg.t_max:
        return SweepJob(folder, "skip", cfg, explicit, f"finished ({done:,} env steps, summary.json)")
    if ckpt.exists():
        cfg.resume = str(folder)
        keep = {k: explicit.get(k, "") for k in RESUME_OVERRIDABLE if k in explicit or k == "t_max"}
        why = "extending a finished run to t_max" if done is not None else "resuming a killed run"
        return SweepJob(folder, "resume", cfg, keep, why)
    cfg.run_dir, cfg.run_name = str(folder.parent), folder.name
    return SweepJob(folder, "fresh", cfg, explicit, "new run")


def relaunch_overrides(folders: list[Path]) -> list[str] | None:
    """What a launch given today must add to compose the settings the env=smac runs in ``folders`` were trained
    with, after a default changed since they ran (env=smac's regime did on 2026-12-06): ``[]`` when nothing (the
    launch lines relaunch the sweep), ``["regime=<r>"]`` when that one override (where a job's folder name gives
    no regime of its own) brings every run's settings back — given on the command line it also names other job
    folders, so it trains them again elsewhere — and None when no single regime does. One composition per map,
    method, t_max and folder-name overrides: seeds share them."""
    from decomp.cli.run_folder import RESUME_OVERRIDABLE  # noqa: PLC0415
    from decomp.config.compose import compose_config, folder_overrides  # noqa: PLC0415

    runs = [(*saved_config(folder), tuple(folder_overrides(folder))) for folder in folders]
    if any(saved.env.name != "smac" for saved, _, _ in runs):
        return None
    composed: dict[tuple[str, str, int, tuple[str, ...]], Config | None] = {}

    def matches(saved: Config, recorded: set[str], own: tuple[str, ...], extra: tuple[str, ...]) -> bool:
        given = {o.split("=", 1)[0] for o in own}
        job = (*own, *(o for o in extra if o.split("=", 1)[0] not in given))
        key = (saved.env.map_name, saved.method.name, saved.t_max, job)  # t_max: handover.at follows it
        if key not in composed:
            try:
                composed[key] = compose_config(["env=smac", f"map={key[0]}", f"method={key[1]}", f"t_max={key[2]}",
                                                *job])
            except Exception:  # noqa: BLE001 — a map or method this decomp no longer has: no line to offer
                composed[key] = None
        wanted = composed[key]
        return wanted is not None and not config_differences(
            saved, replace(wanted, seed=saved.seed), (*RESUME_OVERRIDABLE, *NOT_COMPARED), recorded)

    for extra in ((), *((f"regime={r}",) for r in CHOICES["regime"])):
        if all(matches(saved, recorded, own, extra) for saved, recorded, own in runs):
            return list(extra)
    return None


def _contents(folder: Path) -> list[Path]:
    """What the folder holds besides the training lock (decomp/cli/run_lock.py), which its job keeps."""
    return [child for child in folder.iterdir() if child.name != LOCK_NAME]


def has_files(folder: Path) -> bool:
    return bool(_contents(folder))


def clear_partial(folder: Path) -> None:
    """Empty the folder of a job killed before its first checkpoint (nothing in it can be resumed); the
    training lock, held by the job that clears, stays."""
    if (folder / "checkpoints" / "latest.pt").exists() or (folder / "summary.json").exists():
        raise RuntimeError(f"refusing to clear {folder}: it holds a checkpoint or a summary")
    for child in _contents(folder):
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def use_shared_compile_cache(sweep_dir: Path) -> None:
    """Let the sweep's jobs share compiled SMAX programs (``<sweep>/.jax_cache``) unless the user chose a cache.

    Every job process compiles the same programs for the same map (10–20 s each); JAX's persistent
    compilation cache turns all but the first into a load from disk.
    """
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    path = str(sweep_dir / ".jax_cache")
    if "jax" in sys.modules:
        import jax

        if not jax.config.jax_compilation_cache_dir:
            jax.config.update("jax_compilation_cache_dir", path)
    else:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = path


def host_facts() -> dict[str, Any]:
    """Where a job ran (written to ``<run>/host.json`` and ``sweep.json``; the report prints it)."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu or "unknown", "cores": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform()}


def write_host_record(folder: Path, job: SweepJob) -> None:
    from decomp.training.checkpoint import write_json

    path = folder / HOST_RECORD
    old = json.loads(path.read_text()) if path.exists() else {}
    launches = [*old.get("launches", []), {"action": job.action, "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                                           "threads": job.cfg.threads, **host_facts()}]
    write_json(path, {**host_facts(), "launches": launches})


class SweepRecord(Callback):
    """Hydra callback: appends each ``-m`` launch to ``<sweep dir>/sweep.json`` (command, launcher, wall time)."""

    def __init__(self) -> None:
        self._start: float | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._start = time.time()
        self._write(config, seconds=None)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._write(config, seconds=time.time() - (self._start or time.time()))

    def _write(self, config: DictConfig, seconds: float | None) -> None:
        from decomp.training.checkpoint import write_json

        sweep_dir = Path(str(config.hydra.sweep.dir))
        path = sweep_dir / SWEEP_RECORD
        record = json.loads(path.read_text()) if path.exists() else {"launches": []}
        entry = {"command": "python -m decomp.train " + shlex.join(sys.argv[1:]),
                 "launcher": str(config.hydra.runtime.choices.get("hydra/launcher", "basic")),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self._start)),
                 "seconds": None if seconds is None else round(seconds, 1), "pid": os.getpid(), **host_facts()}
        launches = record["launches"]
        # this launch's own start record, even when another launch into the same folder began after it
        mine = [i for i, x in enumerate(launches) if x.get("seconds") is None and x["started"] == entry["started"]
                and x.get("pid", entry["pid"]) == entry["pid"] and x["command"] == entry["command"]]
        if seconds is not None and mine:
            launches[mine[-1]] = entry
        else:
            launches.append(entry)
        write_json(path, {"launches": launches})
