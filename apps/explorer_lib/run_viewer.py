"""The run-viewer tab: a trainer run folder's config, learning curves, Qatten diagnostics and battle view."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from explorer_lib import battle_view, plots, runs
from explorer_lib.figures import show
from explorer_lib.validate import InputError

DEFAULT_DIR = "runs"
CURVE_PREFIXES = ("eval/", "charts/", "losses/")  # greedy evaluation first: it is the standard metric
# evaluation diagnostics drawn together in "How the greedy policy plays" rather than one panel each
DIAG_KEYS = {"eval/frac_move", "eval/frac_stop", "eval/frac_attack", "eval/q_tot", "eval/discounted_return",
             "eval/allies_alive", "eval/enemy_health_lost", "eval/random_return", "eval/random_win_rate"}


@st.cache_data(show_spinner=False, max_entries=32)
def _metrics(run: str, mtime: float, size: int) -> pd.DataFrame | None:
    """The run's metrics.csv, re-read only when the file changes (a live run keeps appending)."""
    return runs.read_metrics(Path(run))


def render() -> None:
    text = st.text_input("Run folder or runs directory", value=DEFAULT_DIR, key="runs_dir",
                         help="The trainer writes runs/<env>-<game|map>__<method>__<seed>__<time>/ by default.")
    try:
        found = runs.find_runs(text)
    except InputError as err:
        if text.strip() == DEFAULT_DIR and not (Path(DEFAULT_DIR).is_dir() and runs.find_runs_or_none(DEFAULT_DIR)):
            # the default, not typed by the user: no runs yet is a starting point, not an error
            st.info("No runs in runs/ here yet. Train with `python -m decomp.train env=… method=…` "
                    "or enter another folder above.")
        else:
            st.error(str(err))
        return
    run = found[0]
    if len(found) > 1:
        root = Path(text.strip()).expanduser()
        run = st.selectbox("Run", found, format_func=lambda p: str(p.relative_to(root)), key="run_pick")
    try:
        _render_run(run)
    except InputError as err:
        st.error(str(err))


def _render_run(run: Path) -> None:
    cfg, cfg_text = runs.read_config(run)
    st.subheader(run.name)
    st.caption(f"{run.resolve()} · env: {runs.env_name(run, cfg)}")
    c1, c2 = st.columns(2)
    with c1.expander("config.yaml", expanded=False):
        if cfg_text:
            st.code(cfg_text, language="yaml")
        else:
            st.write("no config.yaml in this run")
    with c2.expander("env_info.json / summary.json", expanded=False):
        for name in ("env_info.json", "summary.json"):
            data = runs.read_json(run, name)
            if data is not None:
                st.markdown(f"`{name}`")
                st.code(json.dumps(data, indent=2), language="json")

    f = run / "metrics.csv"
    metrics = _metrics(str(run), f.stat().st_mtime, f.stat().st_size) if f.is_file() else None
    if metrics is None or metrics.empty:
        st.warning("This run has no metrics yet (metrics.csv is missing or empty).")
    else:
        _curves(metrics)
    if runs.looks_like_smax(run, cfg):
        battle_view.render(run)


def _curves(metrics: pd.DataFrame) -> None:
    st.markdown("### Learning curves")
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for prefix in CURVE_PREFIXES:
        series.update(runs.series(metrics, prefix))
    diag = {k: series.pop(k) for k in list(series) if k in DIAG_KEYS}
    shown = bool(series)
    if series:
        show(plots.metric_grid(series, per_row=4), width="stretch")
    if diag:
        shown = True
        _diagnostics(diag, series.get("eval/return"))
    entropy = runs.series(metrics, "qatten/head_entropy/")
    lam = runs.series(metrics, "qatten/lambda/")
    if entropy or lam:
        shown = True
        st.markdown("### Qatten diagnostics")
        c1, c2 = st.columns(2)
        with c1:
            if entropy:
                named = {f"head {k.rsplit('/', 1)[-1]}": v for k, v in entropy.items()}
                show(plots.metric_curves(named, "attention entropy per head", "entropy (nats)"))
        with c2:
            if lam:
                named = {f"agent {k.rsplit('/', 1)[-1]}": v for k, v in lam.items()}
                show(plots.metric_curves(named, "λ_i per agent", "λ_i"))
    if not shown:
        keys = ", ".join(sorted(metrics["key"].astype(str).unique())[:10])
        st.info(f"No eval/, charts/, losses/ or qatten/ keys in metrics.csv (found: {keys}).")


def _diagnostics(diag: dict[str, tuple[np.ndarray, np.ndarray]],
                 greedy_return: tuple[np.ndarray, np.ndarray] | None) -> None:
    """What the greedy policy does at each evaluation: the signs of a policy that avoids the fight."""
    st.markdown("### How the greedy policy plays")
    rand = diag.get("eval/random_return")
    if rand is not None and greedy_return is not None and len(greedy_return[1]):
        base, last = float(rand[1][0]), float(greedy_return[1][-1])
        if last < base:
            st.warning(f"The latest greedy return ({last:.2f}) is below the random policy's ({base:.2f}, ε = 1): "
                       "the agents are not learning to fight. Check the action mix and Q_tot against the return.")
    c1, c2, c3 = st.columns(3)
    with c1:
        kinds = {k.rsplit("_", 1)[-1]: diag[f"eval/frac_{k}"] for k in ("move", "stop", "attack") if f"eval/frac_{k}" in diag}
        if kinds:
            show(plots.metric_curves(kinds, "action mix (agents with a choice)", "fraction"))
    with c2:
        values = {name: diag[k] for name, k in (("mean Q_tot", "eval/q_tot"), ("mean discounted return", "eval/discounted_return"))
                  if k in diag}
        if values:
            show(plots.metric_curves(values, "Q_tot against what the policy earns", "value"))
    with c3:
        battle = {name: diag[k] for name, k in (("allies alive", "eval/allies_alive"),
                                                ("enemy health lost", "eval/enemy_health_lost")) if k in diag}
        if battle:
            show(plots.metric_curves(battle, "at episode end", "allies / fraction"))
