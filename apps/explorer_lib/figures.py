"""Show a matplotlib figure in the page and free it (a long session must not pile up figures)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import streamlit as st
from matplotlib.figure import Figure


def show(fig: Figure) -> None:
    st.pyplot(fig, clear_figure=True)
    plt.close(fig)
