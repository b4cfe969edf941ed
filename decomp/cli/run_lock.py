"""One trainer per run folder: ``<run>/.training.lock`` names the process training in it.

Why: a second launch of the same sweep, or ``resume=`` on a folder that is still training, would
resume (or clear) a folder another process is writing to, and both would overwrite its checkpoints
and metrics. A lock whose process is gone never blocks a relaunch: on the same host the lock's
process must still exist (pid and its start time, so a reused pid does not count); a lock written on
another host counts while its heartbeat is fresh, unless it names this process's own SLURM job (a job
requeued after its time limit: SLURM runs one instance of it, so the lock is its killed predecessor's).
A paused (SIGSTOP) trainer on this host keeps its folder: its process exists.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from decomp.config.schema import ConfigError

LOCK_NAME = ".training.lock"
HEARTBEAT_S = 60.0     # how often the holder refreshes the lock's mtime
STALE_AFTER_S = 600.0  # another host's lock without a heartbeat for this long is taken over
WRITE_GRACE_S = 10.0   # an unreadable lock younger than this is being written

_held: set[Path] = set()  # folders this process holds (re-entering is a no-op: a sweep job, then train())


class FolderBusy(ConfigError):
    """Another live process trains in this folder."""


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _slurm_job() -> str | None:
    """This process's SLURM job (array job and task), the same after a requeue; None outside SLURM."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    return None if job is None else f"{job}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"


def _command() -> str:
    """This process's command line as typed (``python -m decomp.train …``, not the module file's path)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = f"python -m {spec.name}" if spec is not None and spec.name else sys.argv[0]
    return " ".join([program, shlex.join(sys.argv[1:])]).strip()


def _me() -> dict[str, Any]:
    return {"host": platform.node(), "pid": os.getpid(), "start_ticks": _start_ticks(os.getpid()),
            "slurm_job": _slurm_job(), "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": _command()}


def read_lock(folder: Path) -> dict[str, Any] | None:
    """The lock's record, None when the folder has none; an unreadable one gives only its ``mtime`` (and
    ``unreadable``): being written right now, or left half-written by a killed process."""
    path = folder / LOCK_NAME
    try:
        return {**json.loads(path.read_text()), "mtime": path.stat().st_mtime}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        try:
            return {"unreadable": True, "mtime": path.stat().st_mtime}
        except OSError:
            return None


def holder_alive(record: dict[str, Any]) -> bool:
    """Whether the process a lock names may still be training (see the module docstring)."""
    if record.get("unreadable"):  # its writer is between creating and filling it, or died there
        return time.time() - record.get("mtime", 0.0) < WRITE_GRACE_S
    if record.get("slurm_job") is not None and record.get("slurm_job") == _slurm_job() \
            and record.get("pid") != os.getpid():
        return False  # this job's own run before SLURM requeued it
    if record.get("host") != platform.node():
        return time.time() - record.get("mtime", 0.0) < STALE_AFTER_S
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    ticks = _start_ticks(pid)
    return ticks is None or record.get("start_ticks") in (None, ticks)


def busy_message(folder: Path, record: dict[str, Any]) -> str:
    if record.get("unreadable"):
        return f"{folder}: another process is writing its lock {folder / LOCK_NAME} right now; try again in a minute"
    where = "this host" if record.get("host") == platform.node() else f"host {record.get('host')}"
    return (f"{folder} is being trained by pid {record.get('pid')} on {where} since {record.get('since')} "
            f"({record.get('command', '?')}); wait for it or stop it. If that process is gone, delete "
            f"{folder / LOCK_NAME}")


def _heartbeat(path: Path, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            os.utime(path)
        except OSError:
            return


def _acquire(folder: Path) -> Path:
    path = folder / LOCK_NAME
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            record = read_lock(folder)
            if record is None:
                continue  # released in between
            if holder_alive(record):
                raise FolderBusy(busy_message(folder, record)) from None
            print(f"[decomp] {folder}: taking over a stale lock (pid {record.get('pid')} on "
                  f"{record.get('host')} is gone)", file=sys.stderr)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(_me(), f)
        return path
    raise FolderBusy(f"{folder}: another process took the lock {path} at the same moment")


@contextmanager
def hold(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s training lock for the block; raises FolderBusy when a live process holds it."""
    folder = folder.resolve()
    if folder in _held:
        yield
        return
    path = _acquire(folder)
    _held.add(folder)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, stop), daemon=True, name="decomp-lock-heartbeat")
    beat.start()
    try:
        yield
    finally:
        stop.set()
        _held.discard(folder)
        record = read_lock(folder)
        if record and record.get("pid") == os.getpid() and record.get("host") == platform.node():
            path.unlink(missing_ok=True)
