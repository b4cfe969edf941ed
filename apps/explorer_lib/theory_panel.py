"""The theory tab: Qatten's Theorem 1 (λ_i, linearisation error) and Theorem 2 (λ_{i,h} decay).

Left: the trained mixer from the lab, differentiated with autograd. Right: the exact symbolic
examples of ``theory.examples`` (sympy), whose F is rendered as a formula.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from explorer_lib import plots, theory_calc
from explorer_lib.figures import show
from explorer_lib.lab_page import LabResult
from explorer_lib.pick import pick_run
from explorer_lib.lab import joint_label

MAX_ORDER = 8


def render(res: LabResult | None) -> None:
    st.markdown(
        "**Theorem 1** (Qatten): near the optimal joint action a_o, "
        "Q_tot(a) ≈ c + Σ_i λ_i Q^i(a^i) with λ_i = ∂Q_tot/∂Q^i ≥ 0. "
        "**Theorem 2**: λ_i = Σ_h λ_{i,h}, where λ_{i,h} collects the h-th order derivatives of F and "
        "decays quickly in h."
    )
    st.latex(r"Q_{tot}(a) = c + \sum_i \lambda_i\, Q^i(a^i) + o(|a-a_o|^2),\qquad "
             r"\lambda_i = \sum_{h\ge1} \lambda_{i,h}")
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Trained mixer")
        if res is None:
            st.info("Train in the **Matrix-game lab** tab first.")
        else:
            _trained(res)
    with right:
        st.subheader("Symbolic examples")
        _symbolic()


def _trained(res: LabResult) -> None:
    run = pick_run(res, "theory")
    st.caption(f"Expanded at the greedy joint action a_o = {joint_label(run.greedy)} (λ_i by autograd on the "
               "trained network; λ_{i,h} around Q = 0).")
    try:
        ll = theory_calc.local_linear(run)
    except theory_calc.NotDefined as err:
        st.warning(f"λ_i not defined: {err}. QTRAN learns Q_jt(s, a) directly; it has no F(Q^1..Q^n).")
        return
    lam_df = pd.DataFrame({"agent": [f"{i + 1}" for i in range(len(ll.lam))], "λ_i": ll.lam}).set_index("agent")
    st.table(lam_df.T.style.format("{:.4g}"))
    st.caption(f"λ from {ll.source}; c = {ll.c:.4g}.")
    if not ll.monotone:
        st.warning("Not monotone: this mixer does not guarantee ∂Q_tot/∂Q^i ≥ 0, so Theorem 1's λ_i ≥ 0 may fail.")
    elif (ll.lam < -1e-9).any():
        st.error("A monotone mixer produced λ_i < 0: this should not happen.")
    err = ll.error
    st.markdown(f"Linearisation error Q_tot − (c + Σ λ_i Q^i): max |error| = **{np.abs(err).max():.3g}** "
                f"over {err.size} joint actions.")
    scale = max(float(np.abs(err).max()), 1e-3)  # below 1e-3 it is float noise: keep the colours neutral
    q0 = np.array([float(np.asarray(q)[a]) for q, a in zip(run.agent_qs, run.greedy)])
    grids = np.meshgrid(*[np.abs(np.asarray(q, dtype=float) - v) for q, v in zip(run.agent_qs, q0)], indexing="ij")
    c1, c2 = st.columns(2)
    with c1:
        show(plots.heatmap(err, "Q_tot − linearisation", greedy=run.greedy, vrange=(-scale, scale),
                           fmt=".2g", cmap="RdBu_r"), width="stretch")
    with c2:
        show(plots.error_vs_distance(sum(grids), err), width="stretch")
    try:
        lam_h = theory_calc.lambda_orders(run, MAX_ORDER)
    except theory_calc.NotDefined as e:
        st.warning(f"λ_{{i,h}} not defined: {e}")
        return
    show(plots.lambda_decay(lam_h, f"{run.mixer_name}: $\\lambda_{{i,h}}$ around Q = 0"))
    _decay_table(lam_h, ll.lam)
    if run.mixer_name == "qmix":
        st.caption("QMIX's ELU is not analytic at 0, so its Taylor series may not sum to λ_i.")


def _decay_table(lam_h: np.ndarray, lam: np.ndarray | None) -> None:
    from theory.decay import classify_decay

    rows = []
    for i, row in enumerate(lam_h):
        d = classify_decay(row)
        rows.append({"agent": i + 1, "Σ_h λ_(i,h)": f"{row.sum():.4g}",
                     "λ_i": "" if lam is None else f"{lam[i]:.4g}", "decay": d.label()})
    st.table(pd.DataFrame(rows).set_index("agent"))


@st.cache_data(show_spinner="expanding symbolically…")
def _symbolic_result(name: str) -> dict[str, Any]:
    """Theorems 1 and 2 for one example of ``theory.examples.suite`` (exact, sympy + mpmath)."""
    import sympy as sp

    from theory.examples import suite
    from theory.problem import make_problem
    from theory.symbolic import theorem1, theorem2

    ex = {e.name: e for e in suite()}[name]
    problem = make_problem(**ex.kwargs())
    t1 = theorem1(problem)
    out: dict[str, Any] = {
        "F": sp.latex(problem.F), "desc": ex.description,
        "utilities": [sp.latex(u) for u in problem.utilities], "a_o": [sp.latex(a) for a in problem.a_o],
        "lam": t1.lam_float(), "negative": list(t1.negative), "lam_h": None, "error": "",
    }
    try:
        t2 = theorem2(problem, t1, max_order=12)
        out["lam_h"] = np.array(t2.lam_h)
    except ValueError as err:
        out["error"] = str(err)
    return out


def _symbolic() -> None:
    from theory.examples import suite

    names = [e.name for e in suite()]
    name = st.selectbox("Example F", names, index=names.index("exp_sum") if "exp_sum" in names else 0, key="sym_ex")
    r = _symbolic_result(name)
    st.latex(r"F(q) = " + r["F"])
    st.caption(r["desc"])
    for i, u in enumerate(r["utilities"]):
        st.latex(f"Q^{i + 1}(a_{i + 1}) = {u}")
    st.caption("a_o = (" + ", ".join(f"${a}$" for a in r["a_o"]) + ")")
    lam = np.array(r["lam"])
    st.table(pd.DataFrame([lam], columns=[f"λ_{i + 1}" for i in range(len(lam))], index=["λ_i"]).style.format("{:.4g}"))
    if r["negative"]:
        agents = ", ".join(str(i + 1) for i in r["negative"])
        st.warning(f"Not monotone: λ_i < 0 for agent(s) {agents}, so F is not a cooperative (monotone) mixer here.")
    if r["lam_h"] is None:
        st.warning(f"λ_(i,h) not defined: {r['error']}")
        return
    show(plots.lambda_decay(r["lam_h"], f"{name}: $\\lambda_{{i,h}}$, exact (sympy)"))
    _decay_table(r["lam_h"], lam)
