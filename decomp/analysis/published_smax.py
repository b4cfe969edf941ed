"""Published SMAX results (JaxMARL's re-implementation, not SC2), the second reference beside the paper's.

The Qatten paper's table is real StarCraft II at the paper's budget; SMAX runs are better read against
what others report *on SMAX*. Two sources, both read off published figures (±3 points):

- per map, recurrent IPPO / MAPPO at 1M, 2M and ~10M env steps: Mava's SMAX benchmark
  (instadeepai/Mava, docs/smax_benchmark.md, which also draws JaxMARL's paper results);
- across SMAX maps, the win-rate IQM of PQN-VDN and of JaxMARL's QMIX at 1M / 2M / 5M: the PQN paper's
  figure (Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning", arXiv:2407.04811).

Neither uses this project's methods on the same budget, so they say how hard a map is on SMAX, not what a
cell should read.
"""

from __future__ import annotations

from typing import Final, Mapping

MAP_SOURCE: Final = ("recurrent IPPO / MAPPO on SMAX, read off Mava's SMAX benchmark figures (instadeepai/Mava, "
                     "docs/smax_benchmark.md, which also draws JaxMARL's paper results), ±3 points")
AGGREGATE_SOURCE: Final = ("win-rate IQM across SMAX maps, read off the PQN paper's figure (Gallici et al. 2024, "
                           "arXiv:2407.04811), ±3 points")

# map -> ((env steps label, "IPPO / MAPPO" in %), ...); one number where the figures give a range for both
PUBLISHED_SMAX: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "3s5z": (("1M", "2 / 1"), ("2M", "76 / 40"), ("~10M", "100 / 98")),
    "3s_vs_5z": (("1M", "0 / 1"), ("2M", "20 / 53"), ("~10M", "99 / 93")),
    "5m_vs_6m": (("1M", "0 / 0"), ("2M", "0 / 1"), ("~10M", "7–12")),
    "3s5z_vs_3s6z": (("1M", "– / 0"), ("2M", "0 / 0"), ("~10M", "70–75")),
}

# method -> {env steps: win-rate IQM across SMAX maps}
PUBLISHED_AGGREGATE: Final[Mapping[str, Mapping[int, float]]] = {
    "PQN-VDN": {1_000_000: 0.04, 2_000_000: 0.48, 5_000_000: 0.84},
    "JaxMARL QMIX": {1_000_000: 0.00, 2_000_000: 0.04, 5_000_000: 0.38},
}


def published_smax_cell(map_name: str) -> str | None:
    """``1M 2 / 1 · 2M 76 / 40 · ~10M 100 / 98`` for a map with published SMAX curves, None otherwise."""
    points = PUBLISHED_SMAX.get(map_name)
    return " · ".join(f"{steps} {value}" for steps, value in points) if points else None


def aggregate_reference_lines() -> list[str]:
    """One markdown bullet per published method: its IQM at each budget."""
    return [f"- {name}: " + " · ".join(f"{steps / 1e6:g}M {iqm:.2f}" for steps, iqm in sorted(points.items()))
            for name, points in PUBLISHED_AGGREGATE.items()]
