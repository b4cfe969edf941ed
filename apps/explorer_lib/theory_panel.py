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
    st.caption(f"Expanded at the greedy joint action a_o = {joint_label(run.greedy)} with theory.numeric "
               "(λ_i by autograd on the trained network, λ_(i,h) around Q = 0).")
    r = theory_calc.analyse(run)
    if not r.defined:
        st.warning(f"Not defined: {r.reason}.")
        return
    rows = {"λ_i (autograd)": r.lam}
    if r.attention_lam is not None:
        rows["Σ_h w_h λ_(i,h) (Qatten heads)"] = r.attention_lam
    lam_df = pd.DataFrame(rows, index=[f"agent {i + 1}" for i in range(len(r.lam))]).T
    st.table(lam_df.style.format("{:.4g}"))
    st.caption(f"c = {r.c:.4g}; IGM on the table: {'yes' if r.igm else 'no'}.")
    if not r.monotone:
        st.warning("Not monotone: this mixer does not guarantee ∂Q_tot/∂Q^i ≥ 0, so Theorem 1's λ_i ≥ 0 may fail.")
    if (r.lam < 0).any():
        st.error("λ_i < 0 for agent(s) " + ", ".join(str(i + 1) for i in np.flatnonzero(r.lam < 0)) +
                 ": not monotone at this point.")
    err = theory_calc.error_table(r, run)
    slope = "n/a (error is zero or too few points)" if r.err_slope is None else f"{r.err_slope:.2f}"
    st.markdown(f"Linearisation error |Q_tot − (c + Σ λ_i Q^i)|: max **{r.max_err:.3g}**, mean {r.mean_err:.3g} "
                f"over {err.size} joint actions; log–log slope against |Q(a) − Q(a_o)|: **{slope}** "
                "(≈ 2 expected for a smooth nonlinear F, error ≡ 0 for an affine one).")
    scale = max(float(err.max()), 1e-3)  # below 1e-3 it is float noise: keep the colours neutral
    c1, c2 = st.columns(2)
    with c1:
        show(plots.heatmap(err, "|Q_tot − linearisation|", greedy=run.greedy, vrange=(0.0, scale),
                           fmt=".2g", cmap="Reds"), width="stretch")
    with c2:
        show(plots.error_vs_distance(r.q_dist, r.err), width="stretch")
    if r.lam_h is None:
        st.warning(f"λ_(i,h) could not be computed, so Theorem 2 is unchecked here: {r.orders_error or r.reason}")
        return
    lam_h = np.asarray(r.lam_h).T  # (N, H)
    show(plots.lambda_decay(lam_h, f"{run.method}: $\\lambda_{{i,h}}$ around Q = 0"))
    st.caption(f"Estimator: {r.orders_method}; max_i |Σ_h λ_(i,h) − λ_i| = {r.lam_h_gap:.3g}.")
    _decay_table(lam_h, r.lam, [d.label() for d in r.decay])


def _decay_table(lam_h: np.ndarray, lam: np.ndarray, labels: list[str]) -> None:
    rows = [{"agent": i + 1, "Σ_h λ_(i,h)": f"{row.sum():.4g}", "λ_i": f"{lam[i]:.4g}", "decay": label}
            for i, (row, label) in enumerate(zip(lam_h, labels))]
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
        out["decay"] = [d.label() for d in t2.decay]
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
    _decay_table(r["lam_h"], lam, r["decay"])
