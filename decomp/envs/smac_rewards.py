"""The StarCraft reward forms both backends share (real SMAC in sc2.py, SMAX in smax.py).

A module of its own so that each backend and the backend choice (smac_select.py) read the same numbers
without importing one another.
"""

from __future__ import annotations

SMAX_MAX_RETURN = 2.0
"""An episode's largest return on SMAX (all enemy health + the win bonus); both backends' rewards are
normalised to it, so ``reward_scale`` means the same on each."""

REWARDS = ("native", "smac")
"""``native``: the backend's own reward (SMAX: mean fraction of enemy health removed + 1 for a win, ≤ 2
an episode). ``smac``: SMAC's default shaping (oxwhirl/smac ``StarCraft2Env``: health removed + 10 per
enemy killed + 200 for a win, ``reward_only_positive``) — SC2's native reward; on SMAX computed from the
units and rescaled to SMAX's maximum of 2, so ``reward_scale`` means the same thing for both."""

# SMAC's StarCraft2Env defaults (reward_death_value, reward_win): the kill and win bonuses in health units
SMAC_KILL = 10.0
SMAC_WIN = 200.0
