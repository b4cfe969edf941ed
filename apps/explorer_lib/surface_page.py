"""The surfaces tab: Q_tot over (Q^i, Q^j) for one trained mixer, with the joint actions on it: a matrix
game from the lab, or a state of a trainer run's SMAX battle (``battle_surface``)."""

from __future__ import annotations

import streamlit as st

from explorer_lib import battle_surface, surfaces, theory_calc
from explorer_lib.figures import show
from explorer_lib.lab_page import LabResult
from explorer_lib.pick import pick_run


SOURCES = ("Matrix-game lab", "Trainer run (a battle state)")


def render(res: LabResult | None) -> None:
    source = st.radio("Utilities from", SOURCES, horizontal=True, key="surf_source")
    if source == SOURCES[1]:
        battle_surface.render()
        return
    st.markdown(
        "Q_tot as a function of two agents' utilities at the game's state. Dots are the joint actions "
        "(Q^i(a^i), Q^j(a^j)), coloured by their **payoff**; dashed stems in 3-D run from the learned "
        "Q_tot to the payoff, so long stems are where the mixer cannot fit the game."
    )
    if res is None:
        st.info("Train in the **Matrix-game lab** tab first.")
        return
    run = pick_run(res, "surf")
    n = len(run.agent_qs)
    i, j = 0, 1
    if n > 2:
        c1, c2 = st.columns(2)
        i = int(c1.selectbox("x axis: agent", range(n), index=0, format_func=lambda a: f"agent {a + 1}", key="surf_i"))
        j = int(c2.selectbox("y axis: agent", range(n), index=1, format_func=lambda a: f"agent {a + 1}", key="surf_j"))
        if i == j:
            st.error("Choose two different agents for the axes.")
            return
        st.caption("The other agents are held at their greedy utilities Q^k(argmax Q^k).")
    surf = surfaces.compute_surface(run, i, j)
    if surf is None:
        st.warning(f"{theory_calc.why_not_function(run)}. There is no surface Q_tot(Q^i, Q^j) to draw; "
                   "its learned table is in the lab tab.")
        return
    show(surfaces.surface_figure(surf, f"{run.method}, seed {run.seed}: Q_tot(Q^{i + 1}, Q^{j + 1})"))
    worst = surf.points.iloc[surf.points["payoff − Q_tot"].abs().argmax()]
    st.markdown(
        f"Largest misfit: **{worst['joint action']}** with payoff {worst['payoff']:.3g} "
        f"but Q_tot {worst['Q_tot']:.3g}."
    )
    st.dataframe(surf.points.round(3), hide_index=True)
