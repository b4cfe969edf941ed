"""SMAX+ maps through decomp: SMAC's unit counts, the env protocol, labels, training without recompiles,
presets, the report's separate block; the five maps through the CLI and a sweep (slow).

Compiling a SMAX+ step costs as much as a SMAX one, so the fast tests compile only the smallest map,
2s_vs_1sc, with 4 envs and the smac preset's reward scale: the module's env and the trainer's share it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from decomp.config.compose import compose_config
from decomp.envs.smax import SmaxEnv
from decomp.envs.smax_plus import PLUS_MAP_NAMES
from tests.compiles import CompileCounter, train_counting_warm_compiles

ROOT = Path(__file__).resolve().parents[1]
N_ENVS = 4
# map -> (allies, enemies, ally types, enemy types), from SMAC's smac_maps.py
SMAC_UNITS = {
    "2s_vs_1sc": (2, 1, {"stalker": 2}, {"spine_crawler": 1}),
    "1c3s5z": (9, 9, {"colossus": 1, "stalker": 3, "zealot": 5}, {"colossus": 1, "stalker": 3, "zealot": 5}),
    "bane_vs_bane": (24, 24, {"zergling": 20, "baneling": 4}, {"zergling": 20, "baneling": 4}),
    "2c_vs_64zg": (2, 64, {"colossus": 2}, {"zergling": 64}),
    "MMM2": (10, 12, {"medivac": 1, "marauder": 2, "marine": 7}, {"medivac": 1, "marauder": 3, "marine": 8}),
}


@pytest.fixture(scope="module")
def env() -> SmaxEnv:
    e = SmaxEnv("2s_vs_1sc", N_ENVS, seed=0, reward_scale=10.0)  # = the trainer's env below: one compile
    yield e
    e.close()


def random_valid(rng: np.random.Generator, avail: np.ndarray) -> np.ndarray:
    return (rng.random(avail.shape) * avail).argmax(-1)  # (E, N) uniform over available actions


@pytest.mark.parametrize("map_name", PLUS_MAP_NAMES)
def test_each_map_has_smacs_units_and_sizes(map_name: str) -> None:
    """Built, not compiled: counts, unit types and the sizes SMAX's formulas give for ten unit types."""
    from decomp.envs.smax_plus import make_env
    from decomp.envs.smax_plus.env import TABLE

    n_allies, n_enemies, ally_types, enemy_types = SMAC_UNITS[map_name]
    jenv = make_env(map_name)
    assert (jenv.num_allies, jenv.num_enemies, jenv.num_ally_actions) == (n_allies, n_enemies, 5 + n_enemies)
    types = [TABLE.names[t] for t in np.asarray(jenv.scenario)]
    assert {t: types[:n_allies].count(t) for t in set(types[:n_allies])} == ally_types
    assert {t: types[n_allies:].count(t) for t in set(types[n_allies:])} == enemy_types
    assert jenv.obs_size == 17 * (n_allies - 1 + n_enemies) + 14 and jenv.state_size == 16 * (n_allies + n_enemies)


def test_env_protocol_label_feats_and_a_rooted_spine_crawler(env: SmaxEnv) -> None:
    info = env.info
    assert info.name == "smax:2s_vs_1sc (SMAX+)"  # an approximation, labelled so wherever the name goes
    assert (info.n_agents, info.n_actions, info.obs_dim, info.state_dim, info.feat_dim) == (2, 6, 48, 48, 14)
    o = env.reset(seed=1)
    np.testing.assert_array_equal(o.feats, o.state[:, :28].reshape(N_ENVS, 2, 14))
    assert (o.feats[..., 4:].argmax(-1) == 2).all()  # stalkers
    assert o.state[0, 28 + 4:28 + 14].argmax() == 9  # the enemy: spine crawler, type 9
    start = np.asarray(env.snapshot().states.state.unit_positions)[:, 2]  # (E, 2) the spine crawler
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(120):
        r = env.step(random_valid(rng, o.avail))
        ended += int(r.done.sum())
        o = r.restart
        np.testing.assert_array_equal(np.asarray(env.snapshot().states.state.unit_positions)[:, 2], start)
    assert ended >= N_ENVS  # episodes ended (and restarted) in every env, and the crawler stayed put
    stats = env.battle_stats(r.next)
    assert stats["allies_alive"].shape == (N_ENVS,) and (stats["enemy_health_lost"] <= 1).all()


def test_no_recompilation_in_the_env_loop(env: SmaxEnv) -> None:
    assert_env_loop_compiles_once(env)


@pytest.mark.slow
@pytest.mark.parametrize("map_name", [m for m in PLUS_MAP_NAMES if m != "2s_vs_1sc"])  # that one: the fast test
def test_no_recompilation_in_the_env_loop_of_every_map(map_name: str) -> None:
    """Every map, 2c_vs_64zg's terrain included: steps, auto-resets and a reset compile nothing new."""
    e = SmaxEnv(map_name, 2, seed=0)
    try:
        assert_env_loop_compiles_once(e)
    finally:
        e.close()


def assert_env_loop_compiles_once(env: SmaxEnv) -> None:
    rng = np.random.default_rng(2)
    o = env.reset(seed=4)
    o = env.step(random_valid(rng, o.avail)).restart
    with CompileCounter() as counter:
        for _ in range(60):
            o = env.step(random_valid(rng, o.avail).astype(np.int64)).restart
        o = env.reset(seed=9)
        for _ in range(10):
            o = env.step(random_valid(rng, o.avail)).restart
    assert env.compile_count() == 1 and counter.compiles == []


def test_training_on_a_smax_plus_map_never_recompiles_after_the_first_collection(env: SmaxEnv, tmp_path: Path) -> None:
    """The trainer's loop (collection, updates, evaluations, final evaluation) compiles nothing after warm-up."""
    cfg = compose_config(["env=smac", "env.backend=smax", "regime=replay", "map=2s_vs_1sc", f"env.n_envs={N_ENVS}",
                          f"env.eval_envs={N_ENVS}", "t_max=1200", "eval_interval=400", "log_interval=400",
                          "save_interval=400", "batch_size=4", "buffer_size=16", "final_eval_rounds=1",
                          "progress=false", "threads=1"])
    trainer, summary, counter, n_calls = train_counting_warm_compiles(cfg, tmp_path)
    compiles = counter.compiles
    assert trainer.info.name == "smax:2s_vs_1sc (SMAX+)" and summary.env_steps >= 1200 and n_calls >= 5
    assert compiles == [], f"{len(compiles)} XLA compilations inside the training loop"
    assert trainer.env.compile_count() == 1 and trainer.runner.compile_count() == 1


def test_map_names_reach_smax_plus_and_unknown_names_list_it(capsys: pytest.CaptureFixture[str]) -> None:
    from decomp.envs.smac_select import choose_backend, make_smac_env

    assert choose_backend("auto", "MMM2") == "smax"  # no SC2 here: the loud fallback line names SMAX+
    err = capsys.readouterr().err
    assert "-> using SMAX+ (decomp's extension of jaxmarl's SMAX: an approximation, not SMAC" in err
    assert "of map MMM2" in err and "SMAX (jaxmarl) re-implementation" not in err
    with pytest.raises(ValueError, match=r"unknown SMAX map 'corridor'.*SMAX\+ adds: 2s_vs_1sc, 1c3s5z"):
        make_smac_env("corridor", 2, backend="smax")
    with pytest.raises(ValueError, match=r"SMAX\+ adds: .*MMM2"):
        SmaxEnv("mmm2", 2)


@pytest.mark.parametrize("map_name", PLUS_MAP_NAMES)
def test_map_presets_compose_and_say_smax_plus(map_name: str) -> None:
    text = (ROOT / "decomp" / "conf" / "map" / f"{map_name}.yaml").read_text()
    assert "oxwhirl/smac docs/smac.md" in text and "SMAX+" in text and "docs/smax_plus.md" in text
    cfg = compose_config(["env=smac", f"map={map_name}"])
    assert cfg.env.map_name == map_name and cfg.t_max == 1_000_000


def test_report_puts_smax_plus_maps_in_their_own_block(tmp_path: Path) -> None:
    from decomp.cli.report import main
    from tests.test_report_smac import fake_run

    sweep = tmp_path / "sweep"
    for map_name, wins in (("2s3z", [1.0, 0.5]), ("MMM2", [0.25, 0.75]), ("2s_vs_1sc", [1.0, 1.0])):
        for seed, win in enumerate(wins):
            fake_run(sweep, map_name, "qmix", seed, win)
    main(["smac", "--sweep", str(sweep), "--out", str(tmp_path / "docs"), "--reps", "200"])
    md = (tmp_path / "docs" / "smac_results.md").read_text()
    main_table, rest = md.split("## SMAX+ maps: approximations, not SMAC", 1)
    plus_block = rest.split("\n## ", 1)[0]
    assert "| `2s3z` |" in main_table and "`MMM2`" not in main_table and "`2s_vs_1sc`" not in main_table
    assert "**SMAX+ is neither SC2 nor SMAX.**" in plus_block and "`2s3z`" not in plus_block
    assert "| `MMM2` | 3k | **50** <sub>n=2</sub> (61) |\n" in plus_block  # median of 0.25, 0.75; paper's SC2 61
    assert "published SMAX" in main_table and "published SMAX" not in plus_block  # SMAX+ maps have none
    assert "| `2s_vs_1sc` | 3k | **100** <sub>n=2</sub> (100) |" in plus_block
    assert "### `MMM2` (SMAX+)" in md and "### `2s3z`\n" in md
    # the return against the random policy's (fake runs: final 10 × win, random 1.5): MMM2's 2.5 and 7.5
    assert "| `MMM2` (SMAX+) | QMIX | 2 | 5.00 (2.50–7.50) | 1.50 | 2 of 2 |" in plus_block
    assert "| `2s_vs_1sc` (SMAX+) | QMIX | 2 | 10.00 (10.00–10.00) | 1.50 | 2 of 2 |" in plus_block
    assert "smac_MMM2_return.png" in md and "smac_2s3z_return.png" not in md
    assert (tmp_path / "docs" / "img" / "smac_MMM2_return.png").exists()
    assert "Across the maps SMAX shares with the paper" in md  # the aggregate: over SMAX maps only
    aggregate = md.split("## Across the maps SMAX shares with the paper")[1].split("\n## ")[0]
    assert "| QMIX | 2s3z (2) |" in aggregate


def test_a_sweep_of_smax_plus_maps_only_gets_its_own_document(tmp_path: Path) -> None:
    from decomp.cli.report import main
    from tests.test_report_smac import fake_run

    sweep = tmp_path / "sweep"
    for map_name in ("MMM2", "2s_vs_1sc"):
        fake_run(sweep, map_name, "qmix", 0, 0.5)
    out = tmp_path / "docs"
    main(["smac", "--sweep", str(sweep), "--out", str(out), "--reps", "200"])
    md = (out / "smac_results.md").read_text()
    assert md.startswith("# SMAX+ maps: approximations of SMAC\n") and "**SMAX+ is neither SC2 nor SMAX.**" in md
    # no SMAX table, no published-SMAX column, no claim about the seed's ordering on the paper's SMAX maps
    for absent in ("SMAX is not SC2", "No SMAX map", "published SMAX", "seed's ordering", "Across the maps"):
        assert absent not in md, absent
    assert "| map | budget | QMIX |\n" in md and "| `MMM2` | 3k | **50** <sub>n=1</sub> (61) |" in md
    assert "| `MMM2` (SMAX+) | QMIX | 1 | 5.00 | 1.50 | 1 of 1 |" in md
    assert "## What the runs say" in md and "### `2s_vs_1sc` (SMAX+)" in md
    assert (out / "img" / "smac_2s_vs_1sc_return.png").exists()
    # the hand-written reading survives a regeneration, as in the SMAX report
    (out / "smac_results.md").write_text(md.replace("*Not written yet.*", "QMIX beats random on both."))
    main(["smac", "--sweep", str(sweep), "--out", str(out), "--reps", "200"])
    assert "QMIX beats random on both." in (out / "smac_results.md").read_text()


def test_the_return_table_counts_only_seeds_above_their_own_random_return(tmp_path: Path) -> None:
    from decomp.analysis.sweep_runs import load_sweep
    from decomp.cli.report_smax_plus import return_table
    from tests.test_report_smac import fake_run

    sweep = tmp_path / "sweep"
    fake_run(sweep, "MMM2", "qmix", 0, 0.1)  # final return 1.0 < its random policy's 1.5
    fake_run(sweep, "MMM2", "qmix", 1, 0.75)  # 7.5 > 1.5
    quiet = fake_run(sweep, "MMM2", "vdn", 0, 0.5)
    rows = (quiet / "metrics.csv").read_text().splitlines()
    (quiet / "metrics.csv").write_text("\n".join(r for r in rows if "random_return" not in r) + "\n")  # not logged
    table = return_table(load_sweep(sweep, env="smac"), ["MMM2"], ["qmix", "vdn"])
    assert "| `MMM2` (SMAX+) | QMIX | 2 | 4.25 (1.00–7.50) | 1.50 | 1 of 2 |" in table
    assert "| `MMM2` (SMAX+) | VDN | 1 | 5.00 | — (not logged) | 0 of 1 |" in table


# ---- the five maps through the real entry points (slow: each map compiles its own step) ------------
TINY = ["env=smac", "env.backend=auto", "method=qmix", "t_max=2000", "env.n_envs=4", "env.eval_envs=4",
        "eval_interval=1000", "save_interval=1000", "log_interval=1000", "batch_size=4", "buffer_size=16",
        "final_eval_rounds=1", "progress=false", "threads=1",
        "episodes_per_update=4", "handover.batch_size=4"]  # env=smac's regime at this size: rounds of 4, then replay


def _train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "decomp.train", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1800)


@pytest.mark.slow
@pytest.mark.parametrize("map_name", PLUS_MAP_NAMES)
def test_each_map_trains_through_the_cli(map_name: str, tmp_path: Path) -> None:
    res = _train(*TINY, f"map={map_name}", "run_name=r", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "using SMAX+ (decomp's extension of jaxmarl's SMAX: an approximation, not SMAC" in res.stderr
    info = json.loads((tmp_path / "runs" / "r" / "env_info.json").read_text())
    assert info["name"] == f"smax:{map_name} (SMAX+)"
    assert json.loads((tmp_path / "runs" / "r" / "summary.json").read_text())["env_steps"] >= 2000


@pytest.mark.slow
def test_the_five_maps_through_a_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    res = _train("-m", *[a for a in TINY if a.split("=")[0] not in ("env.backend", "t_max")], "env.backend=smax",
                 "t_max=1000",
                 f"map={','.join(PLUS_MAP_NAMES)}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=1",
                 f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    folders = sorted(p.name.split("__")[0] for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert folders == sorted(f"smac-{m}" for m in PLUS_MAP_NAMES)
