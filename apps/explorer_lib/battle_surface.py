"""The Surfaces tab at a state of a SMAX battle: Q_tot over (Q^i, Q^j) at one step of a run's replay,
the other agents at the utilities of the actions they took, and Theorem 1's expansion there.

The surface is the matrix-game one (``surfaces.compute_surface``) fed a
:class:`decomp.analysis.battle_state.BattleState`; the theory numbers are ``theory.numeric.analyse_mixer``
on the saved mixer at that state, over the joint actions of the agents' available actions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from decomp.analysis.battle import Battle, regenerate_hint
from decomp.analysis.battle_state import BattleState, battle_state, stored_mismatch
from decomp.training.checkpoint import CheckpointError, load_model
from explorer_lib import plots, runs, surfaces
from explorer_lib.figures import show
from explorer_lib.validate import InputError
from theory.numeric import NumericResult, analyse_mixer

MAX_ORDER = 4  # λ_(i,h) orders computed at a battle state: Theorem 1 only needs h = 1
MISMATCH_TOL = 1e-4  # |mixer(Q at the action taken) − stored Q_tot| above this: another checkpoint


@st.cache_resource(show_spinner="loading the saved mixer…", max_entries=4)
def _model(run: str, weights: str, stamp: float) -> Any:
    """The run's agent and mixer with ``weights`` (cached per checkpoint file version ``stamp``)."""
    return load_model(run, weights)


@st.cache_data(show_spinner="expanding Q_tot at this state (Theorem 1)…", max_entries=16)
def _theory(run: str, weights: str, stamp: float, decision: int) -> NumericResult:
    view = _battle(Path(run)).view
    assert view is not None
    state = battle_state(view, _model(run, weights, stamp).mixer, decision)
    res = analyse_mixer(state.mixer, state.agent_qs, state.state, state.feats, max_order=MAX_ORDER)
    res.F = None  # the callable holds the network: not part of the cached value
    return res


def _battle(run: Path) -> Battle:
    battle = runs.read_replay(run)
    if battle is None:
        raise InputError(f"{run} has no replay.npz; record one with `{regenerate_hint(run)}`.")
    if battle.view is None:
        raise InputError(f"{run}/replay.npz was recorded before replays carried the model's view, so there is no "
                         f"battle state to draw; record it again with `{regenerate_hint(run)}`.")
    return battle


def render() -> None:
    st.markdown("Q_tot of a trained SMAX run at one step of its greedy replay, over two agents' utilities "
                "(the others held at the utilities of the actions they took). Dots are the joint actions of the "
                "two agents' available actions, coloured by Q_tot; the action pair taken is named below.")
    text = st.text_input("Run folder or runs directory", value=st.session_state.get("runs_dir", "runs"),
                         key="bsurf_run", help="A SMAX run whose replay.npz carries the model's view.")
    try:
        found = runs.find_runs(text)
        run = found[0] if len(found) == 1 else st.selectbox("Run", found, key="bsurf_pick", format_func=lambda p: p.name)
        _render_state(run)
    except (InputError, CheckpointError, ValueError) as err:
        st.error(str(err))


def _render_state(run: Path) -> None:
    view = _battle(run).view
    assert view is not None
    weights = str(view.meta.get("weights", "final"))
    ckpt = run / "checkpoints" / ("best.pt" if weights == "best" and (run / "checkpoints" / "best.pt").exists()
                                  else "latest.pt")
    stamp = ckpt.stat().st_mtime if ckpt.exists() else 0.0
    model = _model(str(run), weights, stamp)
    n = view.q.shape[1]
    c1, c2, c3 = st.columns(3)
    last = view.decisions - 1
    decision = int(c1.slider("Replay step", 0, last, key="bsurf_step")) if last > 0 else 0
    agent = lambda k: f"a{k} (axis Q^{k + 1})"  # noqa: E731
    i = int(c2.selectbox("x axis: agent", range(n), index=0, format_func=agent, key="bsurf_i"))
    j = int(c3.selectbox("y axis: agent", range(n), index=min(1, n - 1), format_func=agent, key="bsurf_j"))
    if i == j:
        st.error("Choose two different agents for the axes.")
        return
    state = battle_state(view, model.mixer, decision)
    gap = stored_mismatch(view, state)
    if gap > MISMATCH_TOL:
        st.warning(f"The saved mixer gives a Q_tot {gap:.3g} away from the one the replay recorded at this step: "
                   f"{ckpt.name} changed since the replay was recorded. Record it again: `{regenerate_hint(run)}`")
    surf = surfaces.compute_surface(state, i, j, labels=state.labels, min_pad=0.05)
    if surf is None:
        st.warning(f"{model.method}: Q_tot is not a function of the Q^i alone, so there is no surface "
                   f"Q_tot(Q^i, Q^j) to draw. {view.meta.get('no_lambda', '')}")
        return
    show(surfaces.surface_figure(surf, f"{model.method}, step {decision}: Q_tot(Q^{i + 1}, Q^{j + 1})"))
    taken = [state.labels[k][g] for k, g in enumerate(state.greedy)]
    st.markdown(f"Step {decision}: joint action taken ({', '.join(taken)}), "
                f"Q_tot = **{view.q_tot[decision]:.4g}** (recorded), return-to-go {view.return_to_go()[decision]:.4g}.")
    _theorem1(run, weights, stamp, decision, state)


def _theorem1(run: Path, weights: str, stamp: float, decision: int, state: BattleState) -> None:
    """Theorem 1 at this state: λ_i by autograd and the error of Q_tot ≈ c + Σ λ_i Q^i over the joint actions."""
    st.markdown("#### Theorem 1 at this state")
    res = _theory(str(run), weights, stamp, decision)
    if not res.defined:
        st.warning(f"Not defined: {res.reason}.")
        return
    k = int(np.prod([len(q) for q in state.agent_qs]))
    st.table(pd.DataFrame([res.lam], index=["λ_i (autograd, at the actions taken)"],
                          columns=[f"a{a}" for a in range(len(res.lam))]).style.format("{:.4g}"))
    slope = "n/a (error is zero or too few points)" if res.err_slope is None else f"{res.err_slope:.2f}"
    st.markdown(f"Linear-expansion error |Q_tot − (c + Σ λ_i Q^i)| over the {k:,} joint actions of the available "
                f"actions: max **{res.max_err:.3g}**, mean {res.mean_err:.3g} (c = {res.c:.4g}); log–log slope "
                f"against |Q(a) − Q(a_o)|: **{slope}** (≈ 2 for a smooth nonlinear F, error ≡ 0 for an affine one).")
    by = ", ".join(f"{d} agent(s) off: {e:.3g}" for d, e in sorted(res.err_by_deviators.items()) if d > 0)
    if by:
        st.caption(f"Largest error by how many agents deviate from the actions taken: {by}.")
    show(plots.error_vs_distance(res.q_dist, res.err))
