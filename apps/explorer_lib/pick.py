"""Choose one trained run (method and seed) from the lab's last result, for the surface and theory tabs."""

from __future__ import annotations

import streamlit as st

from decomp.training.matrix_lab import MatrixRun
from explorer_lib.lab_page import LabResult


def pick_run(res: LabResult, key: str) -> MatrixRun:
    c1, c2 = st.columns(2)
    method = c1.selectbox("Method", list(res.settings.methods), key=f"{key}_method")
    seed = c2.selectbox("Seed", list(res.settings.seeds), key=f"{key}_seed")
    return res.runs[(method, seed)]
