"""The Qatten paper's SMAC table: median test win rate (%) over seeds, real StarCraft II.

Source: Yang et al. 2020, "Qatten: A General Framework for Cooperative Multiagent Reinforcement
Learning", arXiv:2002.03939, the median win-rate table on all maps, as reproduced in the project's
seed document ``shared/seeds/000_8662738cbb68a05b.txt`` (the Qatten overview). Those numbers come
from real SC2 with the paper's own budget and settings; beside SMAX results they are a reference, not
a like-for-like comparison.
"""

from __future__ import annotations

from typing import Final, Mapping

# The paper's columns, in its order, and the decomp method (method=) behind each.
PAPER_METHODS: Final[tuple[tuple[str, str], ...]] = (
    ("Qatten", "qatten"), ("QMIX", "qmix"), ("COMA", "coma"), ("VDN", "vdn"), ("IQL", "iql"), ("QTRAN", "qtran"),
)

# map -> {decomp method: median win rate in %}
PAPER_SMAC: Final[Mapping[str, Mapping[str, int]]] = {
    "2s_vs_1sc": {"qatten": 100, "qmix": 100, "coma": 97, "vdn": 100, "iql": 100, "qtran": 100},
    "2s3z": {"qatten": 97, "qmix": 97, "coma": 34, "vdn": 97, "iql": 75, "qtran": 83},
    "3s5z": {"qatten": 94, "qmix": 94, "coma": 0, "vdn": 84, "iql": 9, "qtran": 13},
    "1c3s5z": {"qatten": 97, "qmix": 94, "coma": 23, "vdn": 84, "iql": 11, "qtran": 67},
    "5m_vs_6m": {"qatten": 74, "qmix": 63, "coma": 0, "vdn": 63, "iql": 49, "qtran": 57},
    "3s_vs_5z": {"qatten": 96, "qmix": 85, "coma": 0, "vdn": 87, "iql": 43, "qtran": 0},
    "bane_vs_bane": {"qatten": 97, "qmix": 62, "coma": 40, "vdn": 90, "iql": 97, "qtran": 100},
    "2c_vs_64zg": {"qatten": 65, "qmix": 45, "coma": 0, "vdn": 19, "iql": 2, "qtran": 10},
    "MMM2": {"qatten": 79, "qmix": 61, "coma": 0, "vdn": 0, "iql": 0, "qtran": 0},
    "3s5z_vs_3s6z": {"qatten": 16, "qmix": 1, "coma": 0, "vdn": 0, "iql": 0, "qtran": 0},
}


def paper_win_rate(map_name: str, method: str) -> int | None:
    """The paper's median win rate (%) for this map and method, None where the paper has none (e.g. 3m)."""
    return PAPER_SMAC.get(map_name, {}).get(method)


def paper_label(method: str) -> str:
    """``qatten`` -> ``Qatten``; methods outside the paper keep their decomp name."""
    return dict((m, label) for label, m in PAPER_METHODS).get(method, method)
