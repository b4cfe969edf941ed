"""Show a matplotlib figure in the page and free it (a long session must not pile up figures)."""

from __future__ import annotations

from typing import Literal

import matplotlib.pyplot as plt
import streamlit as st
from matplotlib.figure import Figure


def show(fig: Figure, width: Literal["content", "stretch"] = "content", alt: str | None = None) -> None:
    """Native size by default: the figures are sized for their columns, stretching only blurs them."""
    st.pyplot(fig, clear_figure=True, width=width, alt=alt or (fig.axes[0].get_title() if fig.axes else None))
    plt.close(fig)
