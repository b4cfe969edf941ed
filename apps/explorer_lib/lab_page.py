"""The matrix-game lab tab: pick a game and methods, train (cached), compare learned Q_tot with the payoff."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from decomp.training.matrix_lab import MatrixRun
from decomp.core.methods import METHODS, kind_of
from decomp.core.mixers import describe
from explorer_lib import lab, plots
from explorer_lib.figures import show
from explorer_lib.validate import InputError, check_methods, check_seeds, parse_payoff_grid, payoff_to_grid
from games import GAMES, TwoStepGame, make_game

CUSTOM = "custom (edit a 2-agent payoff)"
RESULT_KEY = "lab_result"
DEFAULT_METHODS = ["vdn", "qmix", "qtran"]
DATA_LABELS = {"uniform": "uniform (every joint action equally often)", "egreedy": "ε-greedy (anneal ε from 1)"}


@dataclass
class LabResult:
    """What the last press of Train produced; the other tabs read it from the session."""

    game: lab.GameSpec
    settings: lab.TrainSettings
    runs: dict[tuple[str, int], MatrixRun]


def current_result() -> LabResult | None:
    res = st.session_state.get(RESULT_KEY)
    return res if isinstance(res, LabResult) else None


def _describe(name: str) -> str:
    doc = (GAMES[name].__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def pick_game() -> lab.GameSpec | None:
    """Preset or custom payoff; None (with an error shown) if the edited payoff is not valid."""
    names = [n for n in GAMES] + [CUSTOM]
    choice = st.selectbox("Game", names, index=names.index("qtran"), key="game")
    if choice == CUSTOM:
        return _custom_game()
    if choice == "penalty":
        k = st.number_input("penalty k (cost of mis-coordination, ≤ 0)", max_value=0.0, value=-100.0, step=10.0,
                            key="penalty_k")
        return lab.GameSpec("penalty", make_game("penalty", k=k).values, preset=(k == -100.0))
    game = make_game(choice)
    st.caption(_describe(choice))
    if isinstance(game, TwoStepGame):
        st.caption("Tables below are the second stage 2B; 'optimum found' uses the full two-step return.")
        return lab.GameSpec(choice, game.stage_payoffs()[1].values, preset=True)
    return lab.GameSpec(choice, game.values, preset=True)


def _custom_game() -> lab.GameSpec | None:
    c1, c2 = st.columns(2)
    rows = int(c1.number_input("actions of agent 1 (rows)", 1, 8, 3, key="grid_rows"))
    cols = int(c2.number_input("actions of agent 2 (columns)", 1, 8, 3, key="grid_cols"))
    base = payoff_to_grid(make_game("qtran").values, rows, cols)
    st.caption("Edit the team reward of each joint action (starts from the QTRAN game).")
    edited = st.data_editor(base, key=f"payoff_grid_{rows}x{cols}", width="content")
    try:
        payoff = parse_payoff_grid(edited)
    except InputError as err:
        st.error(str(err))
        return None
    return lab.GameSpec("custom", payoff.values, preset=False)


def pick_settings() -> lab.TrainSettings | None:
    """Methods, data distribution, seeds and budget; None (error shown) when nothing is selected."""
    methods = st.multiselect("Methods", list(METHODS), default=DEFAULT_METHODS, key="methods",
                            format_func=lambda m: f"{m}: {METHODS[m].summary}" if m in METHODS else m)
    c1, c2, c3 = st.columns(3)
    data = c1.radio("Data distribution", list(DATA_LABELS), format_func=DATA_LABELS.__getitem__, key="data")
    eps = c1.slider("final ε", 0.0, 1.0, 0.2, 0.05, key="epsilon", disabled=data != "egreedy")
    n_seeds = int(c2.number_input("Seeds", 1, 10, 3, key="seeds"))
    steps = int(c3.number_input("Step budget (env steps per run)", 200, 100_000, 10_000, 1000, key="steps"))
    try:
        chosen = check_methods(methods)
        seeds = check_seeds(n_seeds)
    except InputError as err:
        st.error(str(err))
        return None
    # uniform data ignores ε: a fixed value keeps the cache key from changing with a hidden slider
    return lab.TrainSettings(tuple(chosen), tuple(seeds), steps, data, float(eps) if data == "egreedy" else 0.2)


def train(game: lab.GameSpec, settings: lab.TrainSettings) -> None:
    """Train with a progress bar and keep the result in the session; failures become messages."""
    bar = st.progress(0.0, text="starting")
    try:
        runs = lab.train_all(game, settings, lambda f, label: bar.progress(f, text=label))
    except Exception as err:  # noqa: BLE001 - the page boundary: show the message, not a traceback
        bar.empty()
        st.error(f"Training failed ({type(err).__name__}): {err}")
        return
    bar.empty()
    st.session_state[RESULT_KEY] = LabResult(game, settings, runs)


def render() -> None:
    left, right = st.columns([1, 2], gap="large")
    with left:
        game = pick_game()
        if game is not None:
            show(plots.heatmap(game.values, "payoff", optima=game.payoff.optimal_actions()))
    with right:
        picked = pick_settings()
        clicked = st.button("Train", type="primary", key="train", disabled=game is None or picked is None)
    if clicked and game is not None and picked is not None:
        train(game, picked)
    res = current_result()
    if res is None:
        st.info("Pick a game and methods, then press **Train**. Results appear here and feed the other tabs.")
        return
    if game is not None and picked is not None and (game.key() != res.game.key() or picked != res.settings):
        st.caption("Settings changed since the last training: press **Train** to update.")
    render_result(res)


def render_result(res: LabResult) -> None:
    s = res.settings
    st.subheader(f"Results: {res.game.name}, {len(s.seeds)} seed(s), {s.steps} steps, {s.data} data")
    for m in s.methods:
        k, n = lab.found_count(res.runs, m)
        color, icon = ("green", "check_circle") if k == n else (("orange", "warning") if k else ("red", "cancel"))
        st.markdown(f":{color}[:material/{icon}:] **{m}**: optimum found in {k} of {n} seeds")
    st.table(lab.summary_table(res.runs, s.methods))

    seed = st.columns(4)[0].selectbox("Show seed", list(s.seeds), key="show_seed")
    payoff = res.game.values
    shown = {m: res.runs[(m, seed)] for m in s.methods if (m, seed) in res.runs}
    tables = [payoff] + [np.asarray(r.q_tot) for r in shown.values()]
    vrange = (float(min(t.min() for t in tables)), float(max(t.max() for t in tables)))
    optima = res.game.payoff.optimal_actions()
    st.caption("Blue box: greedy joint action (each agent's argmax Q^i). ★: optimal joint action. Shared colour scale.")
    cols = st.columns(1 + len(shown))
    with cols[0]:
        st.markdown("**true payoff**")
        show(plots.heatmap(payoff, "payoff", optima=optima, vrange=vrange))
    for col, (m, run) in zip(cols[1:], shown.items()):
        with col:
            verdict = "optimal" if run.optimal else "not optimal"
            st.markdown(f"**{m}** learned Q_tot: greedy {lab.joint_label(run.greedy)}, {verdict}")
            name = describe(kind_of(run.mixer)).table if run.mixer is not None else "Q_tot"
            show(plots.heatmap(run.q_tot, f"{m}: {name}", greedy=run.greedy, optima=optima, vrange=vrange))
            show(plots.agent_q_bars(run.agent_qs, run.greedy, f"{m}: utilities Q^i"))
            if "sum_qi" in run.extra_tables:
                show(plots.heatmap(run.extra_tables["sum_qi"], f"{m}: Σ_i Q^i", greedy=run.greedy, optima=optima))
    losses = {m: [res.runs[(m, sd)].losses for sd in s.seeds if (m, sd) in res.runs] for m in s.methods}
    with st.columns([3, 2])[0]:
        st.markdown("**Training loss** (mean over seeds, band: min–max)")
        show(plots.loss_curves(losses))
    with st.expander("Every seed"):
        st.table(lab.seed_table(res.runs))
