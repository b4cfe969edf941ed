"""One trainer per run folder (decomp/cli/run_lock.py): a live holder blocks, a gone one never does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from decomp.cli import run_lock
from decomp.cli.run_lock import LOCK_NAME, FolderBusy, hold, read_lock
from decomp.cli.sweep import clear_partial, has_files
from decomp.config.compose import compose_config

ROOT = Path(__file__).resolve().parents[1]


def _write_lock(folder: Path, **record) -> Path:
    path = folder / LOCK_NAME
    path.write_text(json.dumps({"host": run_lock.platform.node(), "since": "earlier", "command": "x", **record}))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_hold_writes_this_process_releases_it_and_is_reentrant(tmp_path: Path) -> None:
    with hold(tmp_path):
        record = read_lock(tmp_path)
        assert record is not None and record["pid"] == os.getpid() and record["start_ticks"] is not None
        with hold(tmp_path):  # a sweep job holds its folder, then train() enters it again
            pass
        assert (tmp_path / LOCK_NAME).exists(), "the inner hold released the outer one's lock"
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_live_process_on_this_host_blocks_with_what_to_do(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path, pid=other.pid, start_ticks=run_lock._start_ticks(other.pid))
        with pytest.raises(FolderBusy, match=rf"pid {other.pid} on this host.*delete .*{LOCK_NAME}"):
            with hold(tmp_path):
                pass
        assert read_lock(tmp_path)["pid"] == other.pid, "a refused hold must leave the holder's lock alone"
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("why", ["dead pid", "reused pid", "unreadable"])
def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path: Path, why: str, capsys) -> None:
    if why == "dead pid":
        _write_lock(tmp_path, pid=_dead_pid(), start_ticks=1)
    elif why == "reused pid":  # a live pid that started at another time is another process
        _write_lock(tmp_path, pid=os.getppid(), start_ticks=-1)
    else:  # half-written by a process killed while writing it
        (tmp_path / LOCK_NAME).write_text("{not json")
        old = time.time() - run_lock.WRITE_GRACE_S - 1
        os.utime(tmp_path / LOCK_NAME, (old, old))
    with hold(tmp_path):
        assert read_lock(tmp_path)["pid"] == os.getpid()
    assert "taking over a stale lock" in capsys.readouterr().err


def test_a_lock_being_written_right_now_counts(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("")  # another launch created it and has not filled it yet
    with pytest.raises(FolderBusy, match="is writing its lock"):
        with hold(tmp_path):
            pass


def test_another_hosts_lock_counts_while_its_heartbeat_is_fresh(tmp_path: Path) -> None:
    path = _write_lock(tmp_path, host="some-other-node", pid=1)
    with pytest.raises(FolderBusy, match="host some-other-node"):
        with hold(tmp_path):
            pass
    old = time.time() - run_lock.STALE_AFTER_S - 5
    os.utime(path, (old, old))
    with hold(tmp_path):
        assert read_lock(tmp_path)["pid"] == os.getpid()


def test_a_requeued_slurm_job_takes_over_its_own_lock_from_another_host(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    _write_lock(tmp_path, host="node-a", pid=1, slurm_job="4242_2")  # a fresh lock of another task
    with pytest.raises(FolderBusy, match="host node-a"):
        with hold(tmp_path):
            pass
    _write_lock(tmp_path, host="node-a", pid=1, slurm_job="4242_3")  # this task before its requeue
    with hold(tmp_path):
        assert read_lock(tmp_path)["slurm_job"] == "4242_3" and read_lock(tmp_path)["pid"] == os.getpid()


def test_the_heartbeat_refreshes_the_lock(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(run_lock, "HEARTBEAT_S", 0.05)
    with hold(tmp_path):
        old = time.time() - 1000
        os.utime(tmp_path / LOCK_NAME, (old, old))
        time.sleep(0.3)
        assert time.time() - (tmp_path / LOCK_NAME).stat().st_mtime < 5


def test_clearing_a_partial_job_keeps_the_lock_of_the_job_that_clears(tmp_path: Path) -> None:
    with hold(tmp_path):
        assert not has_files(tmp_path)
        (tmp_path / "metrics.csv").write_text("step\n")
        assert has_files(tmp_path)
        clear_partial(tmp_path)
        assert [p.name for p in tmp_path.iterdir()] == [LOCK_NAME]


def test_resume_of_a_folder_being_trained_is_refused_and_loses_nothing(tmp_path: Path) -> None:
    from decomp.cli.train import train

    cfg = compose_config(["env=matrix", "method=vdn", "t_max=640", "save_interval=320", "progress=false",
                          f"run_dir={tmp_path}", "run_name=r"])
    assert train(cfg) == 0
    before = (tmp_path / "r" / "metrics.csv").read_bytes()
    with hold(tmp_path / "r"):  # as if another launch were training it: another pid, simulated in a child
        res = subprocess.run([sys.executable, "-m", "decomp.train", f"resume={tmp_path / 'r'}", "t_max=1280"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=240,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2 and f"is being trained by pid {os.getpid()} on this host" in res.stderr, res.stderr
    assert (tmp_path / "r" / "metrics.csv").read_bytes() == before


def test_a_seed_group_member_resumed_alone_is_refused_while_its_group_trains(tmp_path: Path) -> None:
    from decomp.cli.train import train
    from decomp.cli.train_group import GROUP_RECORD

    group = tmp_path / "g"
    cfg = compose_config(["env=matrix", "method=vdn", "t_max=640", "save_interval=320", "progress=false",
                          f"run_dir={group}", "run_name=seed_0"])
    assert train(cfg) == 0
    (group / GROUP_RECORD).write_text("{}")  # the member's parent is a seed group's folder
    with hold(group):  # the group's process
        res = subprocess.run([sys.executable, "-m", "decomp.train", f"resume={group / 'seed_0'}", "t_max=1280"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=240,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2 and f"{group} is being trained by pid {os.getpid()}" in res.stderr, res.stderr


def test_the_lock_names_the_command_as_typed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/somewhere/decomp/train.py", "-m", "map=3m,2s3z", "hydra.sweep.dir=a b"])
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", run_lock.__spec__.__class__("decomp.train", None))
    with hold(tmp_path):
        assert read_lock(tmp_path)["command"] == "python -m decomp.train -m map=3m,2s3z 'hydra.sweep.dir=a b'"


def test_a_sweep_skips_a_job_another_launch_is_training_and_runs_the_rest(tmp_path: Path) -> None:
    held = tmp_path / "sw" / "matrix-qtran__vdn__0"
    held.mkdir(parents=True)
    (held / "metrics.csv").write_text("step,wall_time,key,value\n")  # the other launch's partial run
    with hold(held):
        res = subprocess.run([sys.executable, "-m", "decomp.train", "-m", "env=matrix", "env.game=qtran",
                              "method=vdn,qmix", "seed=0", "t_max=640", "hydra/launcher=joblib",
                              "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={tmp_path / 'sw'}"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=240,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    assert f"sweep job {held.name}: skipped, {held} is being trained by pid {os.getpid()}" in res.stderr
    assert (held / "metrics.csv").read_text() == "step,wall_time,key,value\n", "the busy folder was touched"
    assert (tmp_path / "sw" / "matrix-qtran__qmix__0" / "summary.json").exists()
    assert not (tmp_path / "sw" / "matrix-qtran__qmix__0" / LOCK_NAME).exists()


def _terminate_once_training(cmd: list[str], cwd: Path, folder: Path) -> subprocess.CompletedProcess:
    """Start ``cmd``, send SIGTERM once ``folder`` holds a lock and a config.yaml (it is training), wait for it."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 180
        while not ((folder / LOCK_NAME).exists() and (folder / "config.yaml").exists()):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.time() < deadline, "the run never started training"
            time.sleep(0.2)
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_sigterm_stops_a_run_cleanly_releasing_its_lock(tmp_path: Path) -> None:
    run = tmp_path / "r"
    res = _terminate_once_training([sys.executable, "-m", "decomp.train", "env=matrix", "method=vdn",
                                    "t_max=50000000", "progress=false", f"run_dir={tmp_path}", "run_name=r"],
                                   tmp_path, run)
    assert res.returncode == 143, res.stderr
    assert "terminated (SIGTERM): resume with `python -m decomp.train resume=<run folder>`" in res.stderr
    assert not (run / LOCK_NAME).exists(), "SIGTERM left the run's lock behind"
    assert (run / "config.yaml").exists(), "the killed run's folder must stay, to be resumed"


def test_sigterm_stops_the_whole_sweep_not_just_its_current_job(tmp_path: Path) -> None:
    sweep = tmp_path / "sw"
    first, second = sweep / "matrix-qtran__vdn__0", sweep / "matrix-qtran__vdn__1"
    res = _terminate_once_training([sys.executable, "-m", "decomp.train", "-m", "env=matrix", "env.game=qtran",
                                    "method=vdn", "seed=0,1", "t_max=50000000", "progress=false",
                                    "hydra/launcher=joblib", "hydra.launcher.n_jobs=1", f"hydra.sweep.dir={sweep}"],
                                   tmp_path, first)
    assert res.returncode == 143, res.stderr
    assert "or launch the same sweep again" in res.stderr
    assert not (first / LOCK_NAME).exists()
    assert not (second / "metrics.csv").exists(), "the sweep went on to its next job after SIGTERM"
