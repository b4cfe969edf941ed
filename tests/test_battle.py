"""The battle view (issue 32): a replay's model view is the saved model's, and the explorer shows it.

Two real SMAX 3m runs (QMIX and Qatten, 800 env steps each) are trained by the session fixture
``battle_runs`` (tests/conftest.py) through the CLI's own ``train``, which records ``replay.npz`` at the
end. The value tests recompute everything from the saved checkpoint: the agents' Q^i by unrolling the
saved agent over the stored observations, λ_i by autograd of the saved mixer (not its closed form),
Qatten's heads; the AppTests read the numbers off the rendered page. A replay from before the model's view (positions only) must open with a message that says
how to record it again, and ``python -m decomp.evaluate … replay=true`` must record the same episode.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from decomp.analysis.battle import BattleFileError, read_battle
from decomp.analysis.battle_plot import battle_figure, draw_q_bars, save_animation
from decomp.core.agents import build_inputs
from decomp.core.mixers import autograd_local_weights
from decomp.training.checkpoint import load_model

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "apps" / "explorer.py"
sys.path.insert(0, str(ROOT / "apps"))
TOL = 1e-5


@pytest.fixture()
def runs(battle_runs: dict[str, Path]) -> dict[str, Path]:
    """The QMIX and Qatten SMAX 3m run folders of tests/conftest.py (trained once per session)."""
    return battle_runs


def saved_view(run: Path) -> tuple[np.ndarray, ...]:
    """Recompute from the checkpoint the replay names: Q^i (T, N, A), λ_i by autograd (T, N), Q_tot (T,)."""
    view = read_battle(run / "replay.npz").view  # type: ignore[union-attr]
    assert view is not None
    model = load_model(run, view.meta["weights"])
    cfg = model.cfg
    obs = torch.as_tensor(view.obs, dtype=torch.float32)  # (T, N, O)
    actions = torch.as_tensor(view.actions)  # (T, N)
    last = torch.cat([torch.full_like(actions[:1], -1), actions[:-1]])  # (T, N) the previous action, -1 at t = 0
    inputs = build_inputs(obs, last, view.q.shape[-1], cfg["agent_id"], cfg["last_action"])  # (T, N, in)
    with torch.no_grad():
        q, _ = model.agent(inputs[None])  # (1, T, N, A): one episode unrolled over time
    q = q[0]
    chosen = q.gather(-1, actions[..., None])[..., 0]  # (T, N)
    state, feats = torch.as_tensor(view.state, dtype=torch.float32), torch.as_tensor(view.feats, dtype=torch.float32)
    lam = autograd_local_weights(model.mixer, chosen, state, feats)  # (T, N)
    with torch.no_grad():
        q_tot = model.mixer(chosen, state, feats)[:, 0]  # (T,)
    return q.numpy(), lam.numpy(), q_tot.numpy()


# ---- the values -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["qmix", "qatten"])
def test_replay_holds_the_saved_models_q_lambda_and_q_tot(runs: dict[str, Path], method: str) -> None:
    battle = read_battle(runs[method] / "replay.npz")
    assert battle is not None and battle.view is not None
    view = battle.view
    assert view.meta["method"] == method and view.meta["kind"] == "value" and view.meta["gamma"] == 0.99
    assert battle.steps == view.decisions + 1 >= 2
    q, lam, q_tot = saved_view(runs[method])
    np.testing.assert_allclose(view.q, q, atol=TOL)  # the bars: the saved agent's outputs
    np.testing.assert_allclose(view.lam, lam, atol=TOL)  # λ_i = ∂Q_tot/∂Q^i of the saved mixer
    np.testing.assert_allclose(view.q_tot, q_tot, atol=TOL)
    assert np.ptp(view.lam) > 1e-4, "λ_i varies over agents and steps (a constant would not test much)"
    assert (view.actions == np.where(view.avail, view.q, -np.inf).argmax(-1)).all(), "greedy over available"


def test_qatten_heads_combine_into_lambda(runs: dict[str, Path]) -> None:
    view = read_battle(runs["qatten"] / "replay.npz").view  # type: ignore[union-attr]
    assert view is not None and view.head_lam is not None and view.head_w is not None
    model = load_model(runs["qatten"], view.meta["weights"])
    n_heads = model.mixer.n_heads
    assert view.head_lam.shape == (view.decisions, n_heads, 3) and view.head_w.shape == (view.decisions, n_heads)
    np.testing.assert_allclose(view.head_lam.sum(-1), 1.0, atol=TOL)  # a softmax over agents per head
    np.testing.assert_allclose((view.head_w[..., None] * view.head_lam).sum(1), view.lam, atol=TOL)


def test_the_drawn_bars_are_the_agents_outputs(runs: dict[str, Path]) -> None:
    import matplotlib.pyplot as plt

    battle = read_battle(runs["qmix"] / "replay.npz")
    assert battle is not None and battle.view is not None
    q, _, _ = saved_view(runs["qmix"])
    step = battle.view.decisions - 1
    fig, axes = plt.subplots(1, 3)
    draw_q_bars(axes, battle.view, step)
    for i, ax in enumerate(axes):
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(heights, q[step, i], atol=TOL)
        hatched = [bool(p.get_hatch()) for p in ax.patches]
        assert hatched == list(~battle.view.avail[step, i])  # unavailable actions are marked
    plt.close(fig)
    plt.close(battle_figure(battle, battle.steps - 1))  # the end frame draws (no decision there)


def test_the_map_shows_terrain_where_the_replays_map_has_it(runs: dict[str, Path]) -> None:
    """SMAX+'s 2c_vs_64zg: its cliff and void under the units; SMAX's 3m: nothing drawn under them."""
    import dataclasses

    import matplotlib.pyplot as plt

    from decomp.analysis.battle_plot import draw_map
    from decomp.envs.smax_plus.terrain import CLIFF, terrain

    battle = read_battle(runs["qmix"] / "replay.npz")
    assert battle is not None and battle.view is not None
    for name, drawn in (("3m", False), ("2c_vs_64zg", True)):
        view = dataclasses.replace(battle.view, meta={**battle.view.meta, "map_name": name})
        fig, ax = plt.subplots()
        draw_map(ax, dataclasses.replace(battle, view=view), 0, None)
        assert bool(ax.images) == drawn, name
        if drawn:
            rgba = np.asarray(ax.images[0].get_array())  # (H, W, 4)
            cliff = terrain("ravine").cells == CLIFF
            assert (rgba[cliff, 3] > 0).all() and (rgba[~cliff & (terrain("ravine").cells == 0), 3] == 0).all()
        plt.close(fig)


@pytest.mark.parametrize("name", ["iql", "vdn", "qmix", "qatten", "ow_qmix", "qplex", "qtran", "coma"])
def test_model_view_gives_each_kind_its_own_lambda(name: str) -> None:
    """VDN λ ≡ 1; QMIX, Qatten, OW-QMIX: ∂Q_tot/∂Q^i by autograd; QPLEX: its λ_i(s, u); QTRAN, COMA: Q_jt and no λ;
    IQL: neither. Random inputs of T = 4 steps, 3 agents, 5 actions (no env needed)."""
    from decomp.core.methods import get_method, kind_of
    from decomp.core.mixers import Dims, describe
    from decomp.rollout.model_view import model_view

    t, n, a, s, f = 4, 3, 5, 6, 2
    mixer = get_method(name).build_mixer(Dims(n, s, f, a, 7))
    g = torch.Generator().manual_seed(1)
    q, state, feats = torch.randn(t, n, a, generator=g), torch.randn(t, s, generator=g), torch.randn(t, n, f, generator=g)
    avail = torch.rand(t, n, a, generator=g) > 0.3
    avail[..., 0] = True
    actions = q.masked_fill(~avail, float("-inf")).argmax(-1)  # (T, N)
    view = model_view(mixer, q, actions, avail, state, feats, torch.zeros(t, n, 8))
    chosen = q.gather(-1, actions[..., None])[..., 0]  # (T, N)
    kind = kind_of(mixer).value
    if kind == "value":
        np.testing.assert_allclose(view.lam, autograd_local_weights(mixer, chosen, state, feats).numpy(), atol=TOL)
        assert (name == "vdn") == bool(np.allclose(view.lam, 1.0)) and view.no_lambda == ""
        assert (view.heads != {}) == (name == "qatten")
    elif kind == "action":
        onehot = torch.nn.functional.one_hot(actions, a).float()
        np.testing.assert_allclose(view.lam, mixer.lambdas(state, onehot).detach().numpy(), atol=TOL)
        assert view.lam_label.startswith("λ_i(s, u)")
    else:
        assert np.isnan(view.lam).all() and view.no_lambda.startswith(describe(kind_of(mixer)).no_lambda)
        assert np.isnan(view.q_tot).all() == (kind == "independent")
    assert view.q_tot.shape == (t,)


def test_load_model_reads_the_best_or_the_final_weights(runs: dict[str, Path]) -> None:
    from decomp.training.checkpoint import CheckpointError, load_checkpoint

    run = runs["qmix"]
    best, latest = load_checkpoint(run / "checkpoints" / "best.pt", ("best",)), load_checkpoint(run)
    for weights, nets, step in (("best", best["best"]["weights"], best["best"]["step"]),
                                ("final", latest["learner"], latest["env_steps"])):
        model = load_model(run, weights)
        assert model.env_steps == step
        for key, value in model.mixer.state_dict().items():
            torch.testing.assert_close(value, nets["mixer"][key], msg=f"{weights}: {key}")
    with pytest.raises(CheckpointError, match="weights='last'; allowed: final, best"):
        load_model(run, "last")


# ---- old replays, regeneration, export ------------------------------------------------------------
def old_format(run: Path, dest: Path) -> Path:
    """A copy of ``run`` whose replay.npz holds only the battle arrays (as written before issue 32)."""
    shutil.copytree(run, dest)
    with np.load(run / "replay.npz") as data:
        np.savez(dest / "replay.npz", **{k: data[k] for k in ("ally_pos", "ally_health", "enemy_pos", "enemy_health")})
    return dest


def test_evaluate_replay_true_records_the_same_episode_again(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    from decomp.cli.evaluate import main

    before = read_battle(runs["qmix"] / "replay.npz").view  # type: ignore[union-attr]
    assert before is not None
    old = old_format(runs["qmix"], tmp_path / "old")
    assert read_battle(old / "replay.npz").view is None  # type: ignore[union-attr]
    main([f"run={old}", "replay=true", f"weights={before.meta['weights']}"])
    assert f"wrote {old / 'replay.npz'}" in capsys.readouterr().out
    after = read_battle(old / "replay.npz").view  # type: ignore[union-attr]
    assert after is not None and after.meta == before.meta
    for key in ("actions", "q", "q_tot", "lam", "reward"):
        np.testing.assert_allclose(getattr(after, key), getattr(before, key), atol=TOL, err_msg=key)
    with pytest.raises(SystemExit):
        main([f"run={old}", "replay=maybe"])
    assert "replay= takes true or false, got 'maybe'" in capsys.readouterr().err


def test_battle_cli_writes_a_gif_and_refuses_old_replays(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    from PIL import Image

    from decomp.cli.battle import frames_of, main

    assert frames_of(10, 4) == [0, 4, 8, 9] and frames_of(9, 4) == [0, 4, 8] and frames_of(1, 3) == [0]
    out = tmp_path / "b.gif"
    battle = read_battle(runs["qatten"] / "replay.npz")
    assert battle is not None
    every = max(1, battle.steps // 2)
    main([f"run={runs['qatten']}", f"out={out}", f"every={every}", "fps=2"])
    with Image.open(out) as gif:
        assert gif.n_frames == len(frames_of(battle.steps, every))
    old = old_format(runs["qatten"], tmp_path / "old")
    for argv, message in (([f"run={old}"], f"python -m decomp.evaluate run={old} replay=true"),
                          ([f"run={tmp_path}"], "has no replay.npz"), (["fps=2"], "give run=<run folder>"),
                          ([f"run={old}", "every=0"], "every= must be > 0"), (["speed=2"], "cannot read 'speed=2'")):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err, argv
    with pytest.raises(ValueError, match="written as .gif or .mp4"):
        save_animation(battle, tmp_path / "b.avi")


def test_malformed_replays_are_refused_by_name(runs: dict[str, Path], tmp_path: Path) -> None:
    with np.load(runs["qmix"] / "replay.npz") as data:
        arrays = {k: data[k] for k in data.files}
    broken = tmp_path / "replay.npz"
    np.savez(broken, **{**arrays, "lam": arrays["lam"][:-1]})
    with pytest.raises(BattleFileError, match=r"lam has shape \(\d+, 3\), expected .*one decision fewer"):
        read_battle(broken)
    np.savez(broken, **{k: v for k, v in arrays.items() if k != "q"})
    with pytest.raises(BattleFileError, match="lacks array"):
        read_battle(broken)
    np.savez(broken, **{**arrays, "meta": np.array("{not json")})
    with pytest.raises(BattleFileError, match="meta is not JSON"):
        read_battle(broken)
    assert json.loads(str(arrays["meta"]))["view_version"] == 1


def test_a_replay_recorded_before_the_method_key_reads_its_method(runs: dict[str, Path], tmp_path: Path) -> None:
    """Replays written when the key was ``mixer`` (meta["mixer"]) show their method like new ones."""
    with np.load(runs["qmix"] / "replay.npz") as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    old = {**{k: v for k, v in meta.items() if k != "method"}, "mixer": meta["method"]}
    np.savez(tmp_path / "replay.npz", **{**arrays, "meta": np.array(json.dumps(old))})
    view = read_battle(tmp_path / "replay.npz").view  # type: ignore[union-attr]
    assert view is not None and view.meta["method"] == "qmix" and "mixer" not in view.meta


# ---- the explorer ---------------------------------------------------------------------------------
BATTLE_STATE = "Trainer run (a battle state)"


def _app(**state: object):
    """The explorer after one run with ``state`` preset in its session (one render instead of one per widget)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=240)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_battle_view_shows_the_saved_mixers_lambda_and_plays(runs: dict[str, Path]) -> None:
    battle = read_battle(runs["qmix"] / "replay.npz")
    assert battle is not None and battle.view is not None
    last = battle.steps - 1
    step = last - 1  # the last decision
    at = _app(runs_dir=str(runs["qmix"]), replay_step=step)
    assert not at.error, [e.value for e in at.error]
    assert f"Step {step} of {last}" in [m.value for m in at.markdown]
    table = at.dataframe[0].value
    _, lam, _ = saved_view(runs["qmix"])
    np.testing.assert_allclose(table["λ_i"].to_numpy(), lam[step], atol=TOL)  # autograd of the saved mixer
    names = battle.view.action_names()
    assert list(table["action"]) == [names[a] for a in battle.view.actions[step]]
    assert at.button(key="battle_gif")  # the export is offered
    at.toggle(key="battle_play").set_value(True).run()  # play: one step per run, off by itself at the end
    assert any(m.value.startswith(f"Step {last} of {last}") for m in at.markdown)
    assert not at.toggle(key="battle_play").value and not at.exception


def test_battle_state_surface_and_theorem1_on_qatten(runs: dict[str, Path]) -> None:
    view = read_battle(runs["qatten"] / "replay.npz").view  # type: ignore[union-attr]
    assert view is not None
    step = min(1, view.decisions - 1)
    at = _app(runs_dir=str(runs["qatten"]), surf_source=BATTLE_STATE, bsurf_run=str(runs["qatten"]), bsurf_step=step)
    assert not at.error, [e.value for e in at.error]
    text = " ".join(m.value for m in at.markdown)
    assert f"Step {step}: joint action taken" in text
    err = float(text.split("over the")[1].split("max **")[1].split("**")[0])
    assert err < 1e-9, "Qatten is affine in the Q^i at a fixed state: Theorem 1's expansion is exact"
    lam = next(t.value for t in at.table if "λ_i (autograd, at the actions taken)" in t.value.index)
    np.testing.assert_allclose(lam.to_numpy()[0].astype(float), view.lam[step], atol=TOL)
    heads = next(d.value for d in at.dataframe if "w_h" in d.value.columns)  # the battle view's head table
    np.testing.assert_allclose(heads["w_h"].to_numpy(), view.head_w[0], atol=TOL)  # type: ignore[index]


def test_a_replay_from_before_the_view_opens_with_how_to_record_it(runs: dict[str, Path], tmp_path: Path) -> None:
    old = old_format(runs["qmix"], tmp_path / "old")
    at = _app(runs_dir=str(old), surf_source=BATTLE_STATE, bsurf_run=str(old))
    hint = f"python -m decomp.evaluate run={old} replay=true"
    assert any(hint in w.value for w in at.warning), [w.value for w in at.warning]  # the run viewer
    assert any("allies and" in m.value for m in at.markdown)  # the units still replay
    assert any(hint in e.value for e in at.error), [e.value for e in at.error]  # the battle-state surface
