"""The paper-table pipeline end to end on SMAX with tiny budgets: sweep -> evaluate -> report smac.

One joblib sweep (2 maps × 2 methods × 2 seeds, 400 env steps each) is shared by the tests of this
module; its jobs share compiled SMAX programs through the sweep's JAX cache, so only the first job
per map and worker compiles. The same sweep through ``submitit_local`` (two jobs at a time, each a new
process that loads the compiled programs from the sweep's cache) is marked slow: ~3 min.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["env=smac", "env.backend=smax", "seed=0,1", "method=qatten,vdn", "map=3m,2s3z",  # map last:
        "t_max=400", "env.n_envs=4", "env.eval_envs=4", "eval_interval=200", "save_interval=200",   # the two workers
        "log_interval=200", "batch_size=4", "buffer_size=16", "final_eval_rounds=1",                # compile different maps
        "episodes_per_update=4", "handover.batch_size=4"]  # env=smac's regime at this size: rounds of 4, then replay
SUFFIX = ("__batch_size=4,buffer_size=16,env.backend=smax,env.eval_envs=4,env.n_envs=4,episodes_per_update=4,"
          "final_eval_rounds=1,handover.batch_size=4")


def run(module: str, *args: str, cwd: Path, extra_env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(extra_env or {})}
    env.pop("JAX_COMPILATION_CACHE_DIR", None) if not extra_env else None
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def launch(tmp: Path, launcher: str, *extra: str) -> Path:
    sweep_dir = tmp / f"sweep_{launcher}"
    res = run("decomp.train", "-m", *TINY, f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep_dir}", *extra, cwd=tmp)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return sweep_dir


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory) -> Path:
    return launch(tmp_path_factory.mktemp("smax"), "joblib")


def names(map_names=("3m", "2s3z"), methods=("qatten", "vdn"), seeds=(0, 1)) -> set[str]:
    return {f"smac-{m}__{x}__{s}{SUFFIX}" for m in map_names for x in methods for s in seeds}


def check_sweep(sweep_dir: Path) -> None:
    assert {p.name for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")} == names()
    for name in names():
        summary = json.loads((sweep_dir / name / "summary.json").read_text())
        assert summary["env_steps"] == 400 and 0.0 <= summary["eval_win_rate"] <= 1.0
        assert (sweep_dir / name / "checkpoints" / "best.pt").exists()
    assert (sweep_dir / ".jax_cache").is_dir() and any((sweep_dir / ".jax_cache").iterdir())


def check_report(sweep_dir: Path, out: Path) -> str:
    from decomp.cli.report import main

    main(["smac", "--sweep", str(sweep_dir), "--out", str(out), "--reps", "200"])
    md = (out / "smac_results.md").read_text()
    assert "**SMAX is not SC2.**" in md and "python -m decomp.report smac --sweep" in md
    assert "| map | budget | Qatten | VDN | published SMAX, IPPO / MAPPO % |" in md
    assert re.search(r"\| `2s3z` \| 400 \| \*\*\d+\*\* <sub>n=2</sub> \(97\) \| \*\*\d+\*\* <sub>n=2</sub> \(97\) \| — \|", md)
    assert re.search(r"\| `3m` \| 400 \| \*\*\d+\*\* <sub>n=2</sub> \(—\) \|", md)  # 3m is not in the paper
    assert "evaluated over 4 episodes" in md and "t_max = 400 env steps" in md and "**Seeds**: 0, 1" in md
    assert "python -m decomp.train -m env=smac" in md and "hydra/launcher=" in md
    assert "| VDN | 2 |" in md and "P(Qatten > method)" in md
    for mp in ("3m", "2s3z"):
        assert (out / "img" / f"smac_{mp}.png").stat().st_size > 5000 and f"(img/smac_{mp}.png)" in md
    links = re.findall(r"\]\(<([^>]+)>\)", md)
    assert len(links) == 8 and all((out / link / "config.yaml").exists() for link in links)
    return md


def test_joblib_sweep_writes_one_named_folder_per_job(joblib_sweep: Path) -> None:
    check_sweep(joblib_sweep)
    launches = json.loads((joblib_sweep / "sweep.json").read_text())["launches"]
    assert len(launches) == 1 and launches[0]["launcher"] == "joblib" and launches[0]["seconds"] > 0


def test_report_smac_builds_the_table_from_the_sweep(joblib_sweep: Path, tmp_path: Path) -> None:
    check_report(joblib_sweep, tmp_path / "docs")


def test_evaluate_prints_a_wilson_interval_and_writes_eval_json(joblib_sweep: Path) -> None:
    folder = joblib_sweep / f"smac-3m__qatten__0{SUFFIX}"
    res = run("decomp.evaluate", f"run={folder}", "episodes=8", "threads=1", cwd=joblib_sweep,
              extra_env={"JAX_COMPILATION_CACHE_DIR": str(joblib_sweep / ".jax_cache")})
    assert res.returncode == 0, res.stderr[-3000:]
    assert re.search(r"smax:3m · qatten · final weights \(trained to env step 400\): win rate \d\.\d{3} "
                     r"\(95 % Wilson interval \d\.\d{3}–\d\.\d{3}; \d/8 episodes, seed 0\), mean return", res.stdout)
    saved = json.loads((folder / "eval.json").read_text())["final"]
    assert saved["episodes"] == 8 and saved["env"] == "smax:3m" and len(saved["win_rate_ci95"]) == 2


@pytest.mark.slow
def test_submitit_local_sweep_and_report(tmp_path: Path) -> None:
    sweep_dir = launch(tmp_path, "submitit_local", "hydra.sweeper.max_batch_size=2")  # two jobs at a time
    check_sweep(sweep_dir)
    assert "hydra/launcher=submitit_local" in check_report(sweep_dir, tmp_path / "docs")
