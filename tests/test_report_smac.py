"""``python -m decomp.report smac`` on hand-made run folders: the numbers in each table are checked exactly."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from decomp.analysis.paper_smac import PAPER_METHODS, PAPER_SMAC, paper_win_rate
from decomp.analysis.sweep_runs import SweepError, load_sweep
from decomp.cli.report import main
from decomp.cli.report_smac import budget_text
from decomp.cli.sweep import plan_job, relaunch_overrides
from decomp.config.compose import compose_config, folder_overrides, sweep_job_name
from decomp.config.schema import ConfigError

# (map, method) -> final win rate per seed
WINS = {("2s3z", "qatten"): [1.0, 0.9, 0.8], ("2s3z", "qmix"): [0.5, 0.7, 0.6], ("2s3z", "iql"): [0.0, 0.1, 0.0],
        ("5m_vs_6m", "qatten"): [0.25, 0.5, 0.25], ("5m_vs_6m", "qmix"): [0.25, 0.5, 0.25], ("5m_vs_6m", "qplex"): [0.0]}


def fake_run(sweep: Path, map_name: str, method: str, seed: int, win: float | None, extra: tuple[str, ...] = ()) -> Path:
    cfg = compose_config(["env=smac", f"map={map_name}", f"method={method}", f"seed={seed}", "t_max=3000",
                          "threads=1", *extra])
    folder = sweep / f"smac-{map_name}__{method}__{seed}"
    folder.mkdir(parents=True)
    OmegaConf.save(OmegaConf.structured(cfg), folder / "config.yaml")
    start = 200.0 * seed  # each run trains 220 s from 200 s × its seed: consecutive seeds overlap by 20 s
    rows = ["step,wall_time,key,value", f"0,{start},eval/random_return,1.5"] + [
        f"{s},{start + 220 * s / 3000},{key},{scale * (win or 0) * s / 3000}" for s in (1000, 2000, 3000)
        for key, scale in (("eval/win_rate", 1), ("eval/return", 10))]
    (folder / "metrics.csv").write_text("\n".join(rows) + "\n")
    if win is not None:
        (folder / "summary.json").write_text(json.dumps({"env_steps": 3000, "eval_win_rate": win, "eval_return": 10 * win,
                                                         "seconds": 60.0}))
        (folder / "host.json").write_text(json.dumps({"host": "node7", "cpu": "Test CPU", "cores": 2}))
    return folder


@pytest.fixture()
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    for (map_name, method), wins in WINS.items():
        for seed, win in enumerate(wins):
            fake_run(root, map_name, method, seed, win)
    fake_run(root, "2s3z", "qmix", 3, None)  # killed: no summary
    stale = fake_run(root, "2s3z", "qmix", 4, 0.9)  # being extended: its summary is at an older t_max
    (stale / "summary.json").write_text(json.dumps({"env_steps": 1000, "eval_win_rate": 0.9, "eval_return": 9,
                                                    "seconds": 1.0}))
    (root / "sweep.json").write_text(json.dumps({"launches": [
        {"command": "python -m decomp.train -m env=smac seed=0,1,2", "launcher": "joblib", "started": "x",
         "seconds": 1800.0, "host": "login"},
        {"command": "python -m decomp.train -m env=smac seed=0,1,2", "launcher": "joblib", "started": "y",
         "seconds": 1800.0, "host": "login"},
        {"command": "python -m decomp.train -m env=smac seed=3,4", "launcher": "joblib", "started": "z",
         "seconds": None, "host": "login"}]}))
    return root


SEED_TABLE = Path(__file__).resolve().parent / "data" / "qatten_seed_table.txt"  # shipped copy of the table
SEED_DOC = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_8662738cbb68a05b.txt"  # its source


def seed_table_rows(text: str) -> tuple[list[str], dict[str, list[int]]]:
    """(column labels of the "Senario …" header, map -> win rates) from the seed document's table lines."""
    header = [line.split()[1:] for line in text.splitlines() if line.split()[:1] == ["Senario"]]
    assert len(header) == 1, f"expected one 'Senario …' header line, found {len(header)}"
    rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in text.splitlines()
            if line.split() and line.split()[0] in PAPER_SMAC}
    return header[0], rows


def test_the_paper_table_in_code_is_the_seed_documents() -> None:
    """PAPER_SMAC against the shipped copy of the seed document's table: always runs, no shared/ needed."""
    header, rows = seed_table_rows(SEED_TABLE.read_text())
    assert header == [label for label, _ in PAPER_METHODS]
    assert list(rows) == list(PAPER_SMAC)  # every map, in the paper's order
    for map_name, numbers in rows.items():
        assert numbers == [paper_win_rate(map_name, m) for _, m in PAPER_METHODS], map_name
    body = [line for line in SEED_TABLE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert len(body) == 1 + len(PAPER_SMAC), "only the header and the map rows are shipped"


def test_the_shipped_seed_table_is_the_shared_seed_documents() -> None:
    """The copy in tests/data must be the table of the seed document itself, where that document is present."""
    if not SEED_DOC.exists():
        pytest.skip(f"seed document {SEED_DOC} not found beside this checkout (the shipped copy is still checked)")
    assert seed_table_rows(SEED_DOC.read_text()) == seed_table_rows(SEED_TABLE.read_text())


def test_report_tables_hold_the_exact_medians_iqms_and_improvements(sweep: Path, tmp_path: Path, capsys) -> None:
    main(["smac", "--sweep", str(sweep), "--out", str(tmp_path / "docs"), "--reps", "500"])
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'docs' / 'smac_results.md'}"
    md = (tmp_path / "docs" / "smac_results.md").read_text()
    # paper order, then methods outside the paper; each map's budget; the published SMAX curves where they exist
    assert "| map | budget | Qatten | QMIX | IQL | qplex | published SMAX, IPPO / MAPPO % |" in md
    assert ("| `2s3z` | 3k | **90** <sub>n=3</sub> (97) | **60** <sub>n=3</sub> (97) | **0** <sub>n=3</sub> (75) | "
            "**—** (—) | — |") in md
    assert ("| `5m_vs_6m` | 3k | **25** <sub>n=3</sub> (74) | **25** <sub>n=3</sub> (63) | **—** (49) | "
            "**0** <sub>n=1</sub> (—) | 1M 0 / 0 · 2M 0 / 1 · ~10M 7–12 |") in md
    # with 3 seeds the IQM trims nothing (int(0.25 · 3) = 0): it is the mean; bounds come from the bootstrap
    assert re.search(r"\| Qatten \| 3 \| 0\.90 \| 0\.90 \[0\.8\d, (0\.9\d|1\.00)\] \| — \|", md)
    assert re.search(r"\| QMIX \| 3 \| 0\.60 \| 0\.60 \[0\.5\d, 0\.7\d\] \| 1\.00 \[1\.00, 1\.00\] \|", md)  # always beaten
    assert re.search(r"\| QMIX \| 3 \| 0\.25 \| 0\.33 \[0\.2\d, 0\.\d\d\] \| 0\.50 \[0\.\d\d, 0\.\d\d\] \|", md)  # same scores: ½
    assert "| qplex | 1 | 0.00 | 0.00 [0.00, 0.00] | 1.00 [1.00, 1.00] |" in md
    assert "16 finished of 18" in md and "2 unfinished" in md and "[seed 3: unfinished](<" in md
    assert "[seed 4: unfinished](<" in md
    assert "t_max = 3,000 env steps" in md and "**Seeds**: 0, 1, 2, 3, 4" in md
    assert "node7 (Test CPU, 2 cores)" in md and "login" not in md.split("**Machine**")[1].split("\n")[0]
    # seed s trains over [200·s, 200·s + 220] in every cell: the union over seeds 0-4 is 1,020 s; summed
    # over the 18 runs (6 of seed 0, 5 each of seeds 1 and 2, one each of seeds 3 and 4) 18 × 220 = 3,960 s
    assert "**Total wall time**: 17.0 min in which at least one run of the sweep was training" in md
    assert "training time summed over runs: 1.10 h, ≈ 3.9 runs at a time; 3 launch(es)" in md
    assert md.count("python -m decomp.train -m env=smac seed=0,1,2    # joblib") == 2
    assert (tmp_path / "docs" / "img" / "smac_2s3z.png").exists()


def report_with_launch(sweep: Path, tmp_path: Path, command: str) -> str:
    """The report's text after ``command`` is appended to the sweep's sweep.json as an unfinished launch."""
    record = json.loads((sweep / "sweep.json").read_text())
    record["launches"].append({"command": command, "launcher": "joblib", "started": "w", "seconds": None})
    (sweep / "sweep.json").write_text(json.dumps(record))
    main(["smac", "--sweep", str(sweep), "--out", str(tmp_path / "docs"), "--reps", "100"])
    return (tmp_path / "docs" / "smac_results.md").read_text()


def test_a_launch_from_before_method_and_map_is_shown_in_todays_keys(sweep: Path, tmp_path: Path) -> None:
    """sweep.json keeps the command as launched; the report shows the one that relaunches it today."""
    old = "python -m decomp.train -m env=smac env.map_name=2s3z,5m_vs_6m mixer=qatten,qmix,none seed=0,1,2"
    md = report_with_launch(sweep, tmp_path, old)
    assert ("python -m decomp.train -m env=smac map=2s3z,5m_vs_6m method=qatten,qmix,iql seed=0,1,2    # joblib, "
            "started w, did not finish") in md
    assert "mixer=" not in md and "env.map_name=" not in md
    assert "launches shown as they are given today, which find the same runs: today's keys" in md
    assert json.loads((sweep / "sweep.json").read_text())["launches"][-1]["command"] == old  # the record is kept


def test_a_launch_into_a_folder_since_moved_names_the_folder_reported(sweep: Path, tmp_path: Path) -> None:
    """A sweep launched as /work/main/results/smac_table and moved since: its command relaunches where it is now."""
    old = "python -m decomp.train -m env=smac map=3m seed=0 hydra.sweep.dir=/work/main/results/old_name"
    md = report_with_launch(sweep, tmp_path, old)
    assert f"python -m decomp.train -m env=smac map=3m seed=0 hydra.sweep.dir={sweep}    # joblib" in md
    assert "old_name" not in md


def test_runs_trained_before_a_default_changed_say_how_to_train_them_again(tmp_path: Path) -> None:
    """A sweep trained on regime=replay, env=smac's default before 2026-12-06: a relaunch of its lines is refused
    (QMIX's default regime is another now), regime=replay gives every run's settings back, and the report says
    that the override names other job folders (it is part of the folder name), so a new sweep folder is needed."""
    root = tmp_path / "sweep"
    folders = [fake_run(root, m, method, 0, 0.5, ("regime=replay",)) for m in ("3m", "2s3z") for method in ("qmix", "coma")]
    (root / "sweep.json").write_text(json.dumps({"launches": [
        {"command": "python -m decomp.train -m env=smac map=3m,2s3z method=qmix,coma seed=0", "launcher": "joblib",
         "started": "x", "seconds": 60.0}]}))
    assert relaunch_overrides(folders) == ["regime=replay"]
    for folder in folders:
        map_name, method = folder.name.split("-", 1)[1].split("__")[:2]
        job = ["env=smac", f"map={map_name}", f"method={method}", "seed=0", "t_max=3000"]
        if method == "qmix":  # today's default regime for QMIX is another: refused
            with pytest.raises(ConfigError, match="regime"):
                plan_job(compose_config(job), {}, folder)
        assert plan_job(compose_config([*job, "regime=replay"]), {}, folder).action == "skip"
        assert "regime=replay" in sweep_job_name("smac", "", map_name, method, 0, "regime=replay")  # other folder
    main(["smac", "--sweep", str(root), "--out", str(tmp_path / "docs"), "--reps", "100"])
    md = (tmp_path / "docs" / "smac_results.md").read_text()
    assert "python -m decomp.train -m env=smac map=3m,2s3z method=qmix,coma seed=0    # joblib" in md
    assert ("**Relaunching today** is refused: these runs were trained with `regime=replay`" in md
            and "add `regime=replay` and give a new `hydra.sweep.dir=`" in md)


def test_runs_on_today_defaults_or_on_mixed_regimes_get_no_added_override(sweep: Path, tmp_path: Path) -> None:
    folders = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert relaunch_overrides(folders) == []
    main(["smac", "--sweep", str(sweep), "--out", str(tmp_path / "docs"), "--reps", "100"])
    assert "Relaunching today" not in (tmp_path / "docs" / "smac_results.md").read_text()
    mixed = [fake_run(tmp_path / "mixed", "3m", "qmix", s, 0.5, extra) for s, extra in ((0, ()), (1, ("regime=replay",)))]
    assert relaunch_overrides(mixed) is None  # no one override finds both: the relaunch's refusal names the difference
    own = mixed[1].rename(mixed[1].with_name(mixed[1].name + "__regime=replay"))  # launched with regime=replay
    assert folder_overrides(own) == ["regime=replay"] and relaunch_overrides([mixed[0], own]) == []


def test_a_map_without_finished_runs_says_so(sweep: Path, tmp_path: Path) -> None:
    fake_run(sweep, "3s5z", "qatten", 0, None)  # training: curve, no summary
    main(["smac", "--sweep", str(sweep), "--out", str(tmp_path / "docs"), "--reps", "500"])
    md = (tmp_path / "docs" / "smac_results.md").read_text()
    block = md.split("### `3s5z`")[1].split("### ")[0]
    assert "No finished run yet (1 started: their curves so far are below)." in block and "| method |" not in block
    assert "| `3s5z` | 3k | **—** (94) |" in md and (tmp_path / "docs" / "img" / "smac_3s5z.png").exists()


def test_aggregate_over_the_shared_maps_is_exact(sweep: Path, tmp_path: Path) -> None:
    """IQM over every (seed, map) run of the shared maps, P(Qatten > method) averaged over common maps."""
    fake_run(sweep, "3s5z", "qatten", 0, 0.9)  # a map still training: one seed of three must not cut the others
    main(["smac", "--sweep", str(sweep), "--out", str(tmp_path / "docs"), "--reps", "500"])
    md = (tmp_path / "docs" / "smac_results.md").read_text()
    section = md.split("## Across the maps SMAX shares with the paper")[1].split("\n## ")[0]
    # Qatten: 1.0, .9, .8 | .25, .5, .25 -> trim one run each end of six -> mean(.25, .5, .8, .9) = 0.6125
    assert re.search(r"\| Qatten \| 2s3z, 5m_vs_6m \(3\) \| 0\.61 \[0\.\d\d, 0\.\d\d\] \| — \|", section)
    # QMIX seeds 0-2 (seed 3 killed, seed 4 stale): .5, .7, .6 | .25, .5, .25 -> mean(.25, .5, .5, .6) = 0.4625;
    # P(Qatten > QMIX) = mean(1 on 2s3z, 1/2 on 5m_vs_6m) = 0.75
    assert re.search(r"\| QMIX \| 2s3z, 5m_vs_6m \(3\) \| 0\.46 \[0\.\d\d, 0\.\d\d\] \| 0\.75 \[0\.\d\d, 0\.\d\d\] \|", section)
    assert "| IQL | 2s3z (3) | 0.03 [0.00, 0.10] | 1.00 [1.00, 1.00] <sub>on 2s3z</sub> |" in section
    assert "| qplex |" not in section  # one finished seed of three: left out until the cell is full
    assert "- PQN-VDN: 1M 0.04 · 2M 0.48 · 5M 0.84" in section


def test_the_hand_written_reading_survives_regeneration(sweep: Path, tmp_path: Path) -> None:
    from decomp.cli.report_smac import READING_END, READING_START

    out = tmp_path / "docs"
    main(["smac", "--sweep", str(sweep), "--out", str(out), "--reps", "500"])
    md = (out / "smac_results.md").read_text()
    assert "*Not written yet.*" in md.split(READING_START)[1].split(READING_END)[0]
    reading = "On 2s3z Qatten beats QMIX in every pair of seeds.\n\n| a | b |\n|---|---|"
    (out / "smac_results.md").write_text(md.replace(md.split(READING_START)[1].split(READING_END)[0],
                                                    f"\n{reading}\n"))
    main(["smac", "--sweep", str(sweep), "--out", str(out), "--reps", "500"])
    again = (out / "smac_results.md").read_text()
    assert again.split(READING_START)[1].split(READING_END)[0] == f"\n{reading}\n"
    assert again.count(READING_START) == 1 and "Not written yet" not in again


def test_curves_are_read_from_metrics_csv(sweep: Path) -> None:
    runs = load_sweep(sweep, env="smac").runs
    qatten = next(r for r in runs if (r.map_name, r.method, r.seed) == ("2s3z", "qatten", 0))
    assert qatten.curve == ((1000, pytest.approx(1 / 3)), (2000, pytest.approx(2 / 3)), (3000, 1.0))
    assert np.isclose(qatten.win_rate, 1.0) and qatten.eval_episodes == 4 * 32
    per_map = [replace(r, t_max=1_000_000 if r.map_name == "2s3z" else 2_000_000) for r in runs]
    assert budget_text(per_map) == "`2s3z` 1,000,000 · `5m_vs_6m` 2,000,000"  # map presets: t_max per map


def test_bad_sweep_folders_are_usage_errors(sweep: Path, tmp_path: Path, capsys) -> None:
    for args, message in ((["--sweep", str(tmp_path / "nope")], "does not exist"),
                          (["--sweep", str(tmp_path / "docs")], "does not exist"),
                          (["--sweep", str(sweep), "--reps", "10"], "--reps must be >= 100")):
        with pytest.raises(SystemExit) as stop:
            main(["smac", *args, "--out", str(tmp_path / "out")])
        assert stop.value.code == 2 and message in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SweepError, match="holds no smac run folders"):
        load_sweep(tmp_path / "empty", env="smac")
    dup = fake_run(tmp_path / "dup", "2s3z", "qatten", 0, 1.0)
    dup.rename(tmp_path / "dup" / "other_name")
    fake_run(tmp_path / "dup", "2s3z", "qatten", 0, 0.5)
    with pytest.raises(SweepError, match="two runs of 2s3z / qatten / seed 0"):
        load_sweep(tmp_path / "dup", env="smac")


def test_a_curve_is_drawn_from_the_finished_seeds_unless_none_has_finished(tmp_path: Path) -> None:
    """A seed still training would cut the mean (taken at the steps every seed reached) short at its step."""
    from decomp.analysis.smac_figures import band_runs
    from decomp.analysis.sweep_runs import load_sweep

    root = tmp_path / "sweep"
    fake_run(root, "3s5z", "vdn", 0, 0.99)
    short = fake_run(root, "3s5z", "vdn", 1, None)  # killed at 1000 steps
    (short / "metrics.csv").write_text("step,wall_time,key,value\n1000,1.0,eval/win_rate,0.1\n")
    fake_run(root, "3s5z", "qmix", 0, None)
    sweep = load_sweep(root)
    runs, finished = band_runs(sweep, "3s5z", "vdn", lambda r: r.curve)
    assert finished and [r.seed for r in runs] == [0] and runs[0].curve[-1][0] == 3000
    runs, finished = band_runs(sweep, "3s5z", "qmix", lambda r: r.curve)
    assert not finished and [r.seed for r in runs] == [0]
    assert band_runs(sweep, "3s5z", "qatten", lambda r: r.curve) == ([], False)
