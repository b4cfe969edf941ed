"""benchmarks/smax_plus_baselines.py: every battle ends exactly one way (won, lost, drawn or timed out)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from smax_plus_baselines import play  # noqa: E402


@pytest.mark.parametrize("player", ["random", "heuristic"])
def test_the_endings_of_a_few_battles_add_up(player: str) -> None:
    from decomp.envs.jaxmarl_import import import_jaxmarl

    import_jaxmarl()
    from decomp.envs.smax_plus import make_env

    episodes = 8
    r = play(make_env("2s_vs_1sc"), player, episodes, seed=0)
    ends = [r["win_rate"], r["lost"], r["drawn"], r["timed_out"]]
    assert sum(ends) == pytest.approx(1.0)
    assert all(abs(x * episodes - round(x * episodes)) < 1e-6 for x in ends)  # whole battles
    assert 0 < r["length"] <= 100 and r["lost"] > 0  # two stalkers do not beat a spine crawler this way
