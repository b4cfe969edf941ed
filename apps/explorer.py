"""decomp explorer: ``streamlit run apps/explorer.py``.

Page layout only; every piece lives in ``apps/explorer_lib`` so it can be tested without a browser.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # make explorer_lib importable however we are started

import streamlit as st  # noqa: E402
import torch  # noqa: E402

from explorer_lib import lab_page, run_viewer, surface_page, theory_panel  # noqa: E402

torch.set_num_threads(1)  # the lab's nets are tiny: extra threads only add overhead and contend with the server
st.set_page_config(page_title="decomp explorer", layout="wide")
st.title("decomp explorer")
st.caption("Cooperative value decomposition (VDN, QMIX, QTRAN, Qatten) on matrix games, "
           "with the Qatten theory and the trainer's runs.")

lab_tab, surface_tab, theory_tab, runs_tab = st.tabs(["Matrix-game lab", "Surfaces", "Theory", "Run viewer"])
with lab_tab:
    lab_page.render()
result = lab_page.current_result()
with surface_tab:
    surface_page.render(result)
with theory_tab:
    theory_panel.render(result)
with runs_tab:
    run_viewer.render()
