"""Headless checks of ``apps/explorer.py`` with Streamlit's AppTest (no browser, no server).

The page must render without an exception, train two methods into heatmaps and a summary table,
and turn bad input (a non-numeric payoff cell, no method, a folder that is not a run) into a visible
``st.error`` instead of a traceback. Everything is small so the file runs in well under a minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "apps" / "explorer.py"
sys.path.insert(0, str(ROOT / "apps"))

from streamlit.testing.v1 import AppTest  # noqa: E402

from explorer_lib import runs  # noqa: E402
from explorer_lib.validate import InputError, parse_payoff_grid  # noqa: E402

TIMEOUT = 120  # seconds per script run; training two tiny runs takes a few seconds


def _app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def make_run(root: Path, replay: bool = True, name: str = "smax_3m__qatten__0__20250101-000000") -> Path:
    """A tiny run folder in the trainer's format (config, env_info, long-format metrics, replay)."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("env:\n  name: smax\n  map_name: 3m\nmixer:\n  name: qatten\nseed: 0\n")
    (run / "env_info.json").write_text('{"name": "smax_3m", "n_agents": 3, "n_actions": 8}')
    lines = ["step,wall_time,key,value"]
    for t in range(0, 5000, 1000):
        lines += [f"{t},{t / 100},eval/win_rate,{t / 5000}", f"{t},{t / 100},eval/return,{t / 500}",
                  f"{t},{t / 100},charts/episode_return,{t / 600}", f"{t},{t / 100},losses/td,{1 / (1 + t)}"]
        lines += [f"{t},{t / 100},qatten/head_entropy/{h},{1.0 - h * t / 20000}" for h in range(2)]
        lines += [f"{t},{t / 100},qatten/lambda/{i},{1 + i * t / 5000}" for i in range(3)]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    if replay:
        t, n, m = 6, 3, 3
        rng = np.random.default_rng(0)
        np.savez(run / "replay.npz",
                 ally_pos=rng.uniform(0, 32, (t, n, 2)), ally_health=np.linspace(1, 0.2, t)[:, None].repeat(n, 1),
                 enemy_pos=rng.uniform(0, 32, (t, m, 2)), enemy_health=np.linspace(1, 0, t)[:, None].repeat(m, 1))
    return run


# ---- the page ----------------------------------------------------------------------------------
def test_app_runs_without_exception() -> None:
    at = _app()
    assert [t.label for t in at.tabs] == ["Matrix-game lab", "Surfaces", "Theory", "Run viewer"]
    assert not _errors(at)
    assert at.image, "the payoff preview and the symbolic λ_(i,h) plot should render"


def test_an_empty_default_runs_folder_is_a_hint_not_an_error(tmp_path: Path, monkeypatch) -> None:
    """A runs/ folder without runs (logs, scratch files) where the app starts: the default path was not typed."""
    (tmp_path / "runs" / "scratch").mkdir(parents=True)
    (tmp_path / "runs" / "notes.log").write_text("x")
    monkeypatch.chdir(tmp_path)
    at = _app()
    assert not _errors(at)
    assert any("No runs in runs/ here yet" in i.value for i in at.info)
    at.text_input(key="runs_dir").set_value(str(tmp_path / "runs" / "scratch")).run()  # typed: an error
    assert any("is not a run folder" in e for e in _errors(at))


def test_train_two_methods_shows_heatmaps_and_summary() -> None:
    at = _app()
    at.multiselect(key="methods").set_value(["vdn", "qtran"])
    at.number_input(key="seeds").set_value(1)
    at.number_input(key="steps").set_value(200)
    at.run()
    at.button(key="train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not _errors(at)
    text = [m.value for m in at.markdown]
    assert any("**vdn**: optimum found in" in t and "of 1 seeds" in t for t in text)
    assert any("**qtran**: optimum found in" in t for t in text)
    assert any("**vdn** learned Q_tot" in t for t in text) and any("**qtran** learned Q_tot" in t for t in text)
    summary = at.table[0].value
    assert list(summary.index) == ["vdn", "qtran"] and "optimum found" in summary.columns
    assert summary.index.name == "method"  # the lab names what it trains as the CLI does (method=)
    # payoff preview + payoff + (Q_tot, Q^i bars) per method + qtran's Σ Q^i + loss curves, then the other tabs
    assert len(at.image) >= 7
    # the other tabs now use the trained runs: VDN has a surface and λ_i = 1
    assert any("Largest misfit" in t for t in [m.value for m in at.markdown])
    assert any("λ_i" in str(t.value.columns.tolist()) or "λ_i" in str(t.value.index.tolist()) for t in at.table)

    at.selectbox(key="surf_method").set_value("qtran").run()
    from decomp.core.mixers import Kind, describe

    assert any(describe(Kind.JOINT).no_lambda in w.value for w in at.warning)  # qtran's Q_jt: no surface
    at.selectbox(key="theory_method").set_value("qtran").run()
    assert any("not defined" in w.value for w in at.warning)
    assert not at.exception


# ---- bad input ---------------------------------------------------------------------------------
def test_invalid_payoff_cell_shows_error() -> None:
    at = _app()
    at.selectbox(key="game").set_value("custom (edit a 2-agent payoff)").run()
    assert not _errors(at)
    editor = at.data_editor[0]
    column = editor.value.columns[1]
    at.session_state[editor.key] = {"edited_rows": {0: {column: "abc"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("row 1, column 2 is not a number" in e for e in _errors(at)), _errors(at)
    assert at.button(key="train").disabled


def test_empty_method_selection_shows_error() -> None:
    at = _app()
    at.multiselect(key="methods").set_value([]).run()
    assert not at.exception
    assert "Choose at least one method to train." in _errors(at)
    assert at.button(key="train").disabled


def test_non_run_folder_shows_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a run")
    at = _app()
    at.text_input(key="runs_dir").set_value(str(tmp_path)).run()
    assert not at.exception
    assert any("is not a run folder" in e for e in _errors(at)), _errors(at)
    at.text_input(key="runs_dir").set_value(str(tmp_path / "missing")).run()
    assert any("does not exist" in e for e in _errors(at))


# ---- run viewer --------------------------------------------------------------------------------
def test_run_viewer_shows_curves_and_replay(tmp_path: Path) -> None:
    make_run(tmp_path)
    at = _app()
    at.text_input(key="runs_dir").set_value(str(tmp_path)).run()
    assert not at.exception and not _errors(at)
    text = [m.value for m in at.markdown]
    assert "### Learning curves" in text and "### Qatten diagnostics" in text and "### Episode replay (greedy policy)" in text
    at.slider(key="replay_step").set_value(5).run()
    assert not at.exception
    assert any("Step 5 of 5" in t for t in [m.value for m in at.markdown])


def test_run_viewer_without_replay_says_so(tmp_path: Path) -> None:
    make_run(tmp_path, replay=False)
    at = _app()
    at.text_input(key="runs_dir").set_value(str(tmp_path)).run()
    assert not at.exception and not _errors(at)
    assert any("No replay.npz" in i.value for i in at.info)


def test_run_viewer_on_a_real_trainer_run_shows_the_diagnostics(tmp_path: Path) -> None:
    """The viewer reads what the trainer really writes (a tiny SMAX 3m QMIX run), not only a fixture."""
    from decomp.config.compose import compose_config
    from decomp.training.run_record import write_config
    from decomp.training.trainer import Trainer

    cfg = compose_config(["env=smac", "env.backend=smax", "method=qmix", "env.n_envs=8", "env.eval_envs=8",
                          "t_max=400", "eval_interval=200", "log_interval=200", "batch_size=8",
                          "buffer_size=100", "episodes_per_update=8", "progress=false"])
    run = tmp_path / "smac-3m__qmix__0__20260101-000000"
    run.mkdir()
    trainer = Trainer(cfg, run_dir=run)
    write_config(run, cfg, trainer.info)
    trainer.run()
    at = _app()
    at.text_input(key="runs_dir").set_value(str(run)).run()
    assert not at.exception and not _errors(at), _errors(at)
    text = [m.value for m in at.markdown]
    assert "### Learning curves" in text and "### How the greedy policy plays" in text


def test_run_viewer_warns_when_greedy_is_below_random(tmp_path: Path) -> None:
    run = make_run(tmp_path, replay=False)
    with open(run / "metrics.csv", "a") as fh:  # greedy return tops out at 8 (t/500); random earns 50
        fh.write("0,0,eval/random_return,50\n4000,40,eval/frac_attack,0.1\n4000,40,eval/frac_move,0.9\n")
    at = _app()
    at.text_input(key="runs_dir").set_value(str(tmp_path)).run()
    assert not at.exception
    assert any("below the random policy's" in w.value for w in at.warning)


# ---- helpers -----------------------------------------------------------------------------------
def test_parse_payoff_grid() -> None:
    assert parse_payoff_grid([["8", "−12"], [" -12 ", "0"]]).values.tolist() == [[8, -12], [-12, 0]]
    for grid, msg in (([["1", "x"]], "row 1, column 2 is not a number"), ([["1", ""]], "is empty"),
                      ([["1", "inf"]], "finite"), ([["1", "2"], ["3"]], "row 2 has 1 entries"), ([], "empty")):
        with pytest.raises(InputError, match=msg):
            parse_payoff_grid(grid)


def test_read_replay_rejects_bad_shapes(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    assert runs.read_replay(run).steps == 6  # type: ignore[union-attr]
    np.savez(run / "replay.npz", ally_pos=np.zeros((4, 3, 2)), ally_health=np.zeros((5, 3)),
             enemy_pos=np.zeros((4, 2, 2)), enemy_health=np.zeros((4, 2)))
    with pytest.raises(InputError, match="ally_health has shape"):
        runs.read_replay(run)
    assert runs.find_runs(str(run)) == [run]


def test_find_runs_lists_the_seeds_of_a_seed_group(tmp_path: Path) -> None:
    """A runs directory shows plain runs and each seed of a ``seeds=[...]`` group folder."""
    plain = make_run(tmp_path)
    group = tmp_path / "smac-3m__qmix__seeds0-1__20250101-000000"
    members = [make_run(group, name=f"seed_{s}") for s in (0, 1)]
    (group / "group.json").write_text('{"seeds": [0, 1]}')
    make_run(tmp_path / "not_a_group", name="seed_9")  # a folder without group.json is not searched
    assert sorted(runs.find_runs(str(tmp_path))) == sorted([plain, *members])
    assert sorted(runs.find_runs(str(group))) == sorted(members)
