"""The run viewer's replay section: the battle view (the decomposition at every step) or, for replays
recorded before the model's view existed, the plain unit replay with how to record the view.

The figure is ``decomp.analysis.battle_plot.battle_figure``, the same one ``python -m decomp.battle``
animates, so the download and the command line give the same GIF.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from decomp.analysis.battle import Battle, BattleView, regenerate_hint
from decomp.analysis.battle_plot import battle_figure, save_animation
from explorer_lib import plots, runs
from explorer_lib.figures import show

STEP_KEY, PLAY_KEY = "replay_step", "battle_play"
PLAY_SECONDS = 0.8  # between frames while playing (a frame takes about as long to draw)


def render(run: Path) -> None:
    st.markdown("### Episode replay (greedy policy)")
    battle = runs.read_replay(run)
    if battle is None:
        st.info(f"No replay.npz in this run folder, so there is no episode to replay. SMAX runs write one at the "
                f"end of training; record one from the saved weights with `{regenerate_hint(run)}`.")
        return
    if battle.view is None:
        st.warning("This replay was recorded before replays carried the model's view (each agent's Q^i, Q_tot "
                   f"and λ_i at every step), so only the units are shown. Record it again from the run's saved "
                   f"weights to get the battle view: `{regenerate_hint(run)}`")
        _units_only(battle)
        return
    last = battle.steps - 1
    clamp_step(last)
    if st.session_state.get(PLAY_KEY) and st.session_state.get(STEP_KEY, 0) >= last:
        st.session_state[PLAY_KEY] = False  # played to the end: stop before the toggle is drawn
    playing = st.toggle("▶ Play", key=PLAY_KEY, help="Step through the episode; switch off to pause.")
    st.fragment(_battle, run_every=PLAY_SECONDS if playing else None)(battle, run)


def clamp_step(last: int) -> None:
    """Keep the remembered step inside this replay (another run's replay may have been longer)."""
    if st.session_state.get(STEP_KEY, 0) > last:
        st.session_state[STEP_KEY] = last


def _battle(battle: Battle, run: Path) -> None:
    """One step of the battle view; while playing, each run of this fragment advances one step."""
    view = battle.view
    assert view is not None
    last = battle.steps - 1
    if st.session_state.get(PLAY_KEY) and st.session_state.get(STEP_KEY, 0) < last:
        st.session_state[STEP_KEY] = st.session_state.get(STEP_KEY, 0) + 1
    frame = int(st.slider("Step", 0, last, key=STEP_KEY)) if last > 0 else 0
    meta = view.meta
    st.caption(f"{meta.get('method', '?')} · {meta.get('weights', '?')} weights (trained to env step "
               f"{int(meta.get('policy_step', 0)):,}) · seed {meta.get('seed', '?')} · "
               + ("won" if meta.get("won") else "not won") + f" in {view.decisions} steps. "
               + (f"Colours and lines: {meta.get('lam_label')}." if view.has_lambda else f"No λ_i: {meta.get('no_lambda')}."))
    show(battle_figure(battle, frame), width="stretch")
    decision = min(frame, view.decisions - 1)
    st.markdown(f"Step {frame} of {last}" + (" (the episode is over; the table shows the last decision)"
                                            if frame > decision else ""))
    st.dataframe(step_table(battle, decision), hide_index=True)
    if view.head_lam is not None and view.head_w is not None:
        st.markdown("Qatten's heads at this step: λ_(i,h)(s) per agent and the head weights w_h(s); "
                    "λ_i = Σ_h w_h λ_(i,h).")
        st.dataframe(head_table(view, decision), hide_index=True)
    if st.session_state.get(PLAY_KEY) and frame >= last:
        st.rerun()  # the whole page: the play toggle turns itself off
    _gif(battle, run)


def step_table(battle: Battle, decision: int) -> pd.DataFrame:
    """Per ally at ``decision``: health, the action taken, its Q^i, the best alternative and λ_i."""
    view = battle.view
    assert view is not None
    names = view.action_names()
    q, avail, taken = view.q[decision], view.avail[decision], view.actions[decision]  # (N, A), (N, A), (N,)
    chosen = np.take_along_axis(q, taken[:, None], -1)[:, 0]  # (N,)
    runner_up = np.where(avail & (np.arange(q.shape[1]) != taken[:, None]), q, -np.inf).max(-1)  # (N,)
    return pd.DataFrame({
        "agent": [f"a{i}" for i in range(len(taken))],
        "health": battle.ally_health[decision],
        "action": [names[a] for a in taken],
        "Q^i(action)": chosen,
        "Q^i gap to next best": np.where(np.isfinite(runner_up), chosen - runner_up, np.nan),
        "λ_i": view.lam[decision],
    })


def head_table(view: BattleView, decision: int) -> pd.DataFrame:
    """Qatten's λ_(i,h) at ``decision`` (one column per agent) with each head's weight w_h."""
    assert view.head_lam is not None and view.head_w is not None
    lam_h, w = view.head_lam[decision], view.head_w[decision]  # (H, N), (H,)
    table = pd.DataFrame(lam_h, columns=[f"λ_(a{i},h)" for i in range(lam_h.shape[1])])
    table.insert(0, "w_h", w)
    table.insert(0, "head", [f"h{h}" for h in range(len(w))])
    return table


def _gif(battle: Battle, run: Path) -> None:
    """An animated GIF of the battle view (every frame), made on request: it takes about a second a frame."""
    key = f"battle_gif::{run.resolve()}"
    if st.button("Make an animated GIF of this battle", key="battle_gif",
                 help="Draws every step (about a second each); the same as `python -m decomp.battle run=…`."):
        with st.spinner(f"drawing {battle.steps} frames…"), tempfile.TemporaryDirectory() as tmp:
            st.session_state[key] = save_animation(battle, Path(tmp) / "battle.gif").read_bytes()
    data = st.session_state.get(key)
    if data:
        st.download_button(f"Download battle.gif ({len(data) / 1e6:.1f} MB)", data, file_name=f"{run.name}_battle.gif",
                           mime="image/gif", key="battle_gif_download", on_click="ignore")


def _units_only(battle: Battle) -> None:
    """The replay as it was before the battle view: positions and health per step."""
    clamp_step(battle.steps - 1)
    step = int(st.slider("Step", 0, battle.steps - 1, key=STEP_KEY)) if battle.steps > 1 else 0
    c1, c2 = st.columns([3, 2])
    with c1:
        show(plots.replay_frame(battle.ally_pos[step], battle.ally_health[step], battle.enemy_pos[step],
                                battle.enemy_health[step], step, battle.bounds(), battle.full_health()))
    with c2:
        show(plots.health_bars(battle.ally_health[step], battle.enemy_health[step]))
        alive_a = int((battle.ally_health[step] > 0).sum())
        alive_e = int((battle.enemy_health[step] > 0).sum())
        st.markdown(f"Step {step} of {battle.steps - 1}: **{alive_a}** allies and **{alive_e}** enemies alive.")
