"""One step of a replay as a point of the mixer's function Q_tot = F(s_t, Q^1, …, Q^n).

Why: at a fixed state a value mixer is a function of the utilities alone, exactly what the matrix-game
surfaces and Theorem 1's expansion look at. This turns a replay step into that object — each agent's
Q^i over its *available* actions, the joint action taken, the state and per-agent features, and the
saved mixer — so the explorer's surface and ``theory.numeric.analyse_mixer`` can use it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from decomp.analysis.battle import BattleView
from decomp.core.methods import kind_of
from decomp.core.mixers import describe


@dataclass
class BattleState:
    """Agent utilities and the mixer at one decision of a replay (the surface's ``SurfaceSource``)."""

    decision: int
    agent_qs: list[np.ndarray]  # per agent (k_i,): Q^i over its available actions
    actions: list[np.ndarray]  # per agent (k_i,): the action index of each entry
    labels: list[list[str]]  # per agent: the names of those actions
    greedy: tuple[int, ...]  # per agent: the entry of the action taken (the masked argmax at ε = 0)
    mixer: nn.Module
    state: torch.Tensor  # (S,)
    feats: torch.Tensor  # (N, F)
    payoff: None = None  # a battle has no payoff table (the surface then colours by Q_tot)

    def mix(self, qs: np.ndarray) -> np.ndarray | None:
        """Q_tot at this state for utilities ``qs`` (..., N) -> (...); None when Q_tot is not F(Q^1..Q^n)."""
        if not describe(kind_of(self.mixer)).function_of_q:
            return None
        q = torch.as_tensor(np.asarray(qs), dtype=torch.float32)  # (*B, N)
        batch = q.shape[:-1]
        with torch.no_grad():
            out = self.mixer(q, self.state.expand(*batch, -1), self.feats.expand(*batch, *self.feats.shape))
        return out[..., 0].numpy()


def battle_state(view: BattleView, mixer: nn.Module, decision: int) -> BattleState:
    """The replay's ``decision`` with ``mixer`` (the saved one whose view the replay holds)."""
    if not 0 <= decision < view.decisions:
        raise ValueError(f"decision {decision} is outside the replay's 0..{view.decisions - 1}")
    names = view.action_names()
    avail, q, taken = view.avail[decision], view.q[decision], view.actions[decision]  # (N, A), (N, A), (N,)
    actions = [np.flatnonzero(row) for row in avail]
    if any(len(a) == 0 for a in actions):
        raise ValueError(f"step {decision}: an agent has no available action (a padded step?)")
    greedy = []
    for i, acts in enumerate(actions):
        where = np.flatnonzero(acts == taken[i])
        if len(where) != 1:
            raise ValueError(f"step {decision}: agent {i} took action {names[int(taken[i])]}, which was not available")
        greedy.append(int(where[0]))
    return BattleState(decision, [q[i, a].copy() for i, a in enumerate(actions)], actions,
                       [[names[int(k)] for k in a] for a in actions], tuple(greedy), mixer,
                       torch.as_tensor(view.state[decision], dtype=torch.float32),
                       torch.as_tensor(view.feats[decision], dtype=torch.float32))


def stored_mismatch(view: BattleView, state: BattleState) -> float:
    """|mixer(Q at the joint action taken) − the Q_tot the replay stored| at this step: > 0 beyond float
    noise means the checkpoint is not the one the replay was recorded with (e.g. trained further since)."""
    chosen = np.array([q[g] for q, g in zip(state.agent_qs, state.greedy)])  # (N,)
    value = state.mix(chosen[None])
    if value is None or not np.isfinite(view.q_tot[state.decision]):
        return 0.0
    return float(abs(value[0] - view.q_tot[state.decision]))

