"""What kind of joint value a method learns, described once for the CLI, the theory layer and the explorer.

Callers used to read loose flags (``joint``, ``per_agent``, ``needs_actions``) and wrote their own
sentences about them, which drifted apart (QPLEX was told it had no Q_tot). Every mixing module now
declares one :class:`Kind`, and :func:`describe` is the only place that says what that kind means.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(str, enum.Enum):
    VALUE = "value"
    """Q_tot = F(s, Q^1..Q^n): VDN, QMIX, Qatten, the QMIX part of WQMIX."""
    INDEPENDENT = "independent"
    """no mixing: every Q^i regresses the team reward on its own (IQL)."""
    ACTION = "action"
    """Q_tot(s, u) from the chosen Q^i *and* the joint action (QPLEX's λ_i(s, u))."""
    JOINT = "joint"
    """an unrestricted joint critic Q_jt(s, u), tied to Σ_i Q^i by extra losses (QTRAN)."""
    POLICY = "policy"
    """actor-critic: the agent nets output policy logits, a joint critic Q(s, u) trains them (COMA)."""


@dataclass(frozen=True)
class KindInfo:
    label: str
    """one line for menus and the CLI"""
    table: str
    """the joint table a matrix run shows for this kind"""
    function_of_q: bool
    """Q_tot is a function F(s, Q^1..Q^n): mixing surfaces, λ_i and Theorems 1/2 apply"""
    agent_outputs: str
    """what the agent network outputs: "q" (utilities) or "logits" (a policy)"""
    no_lambda: str
    """why λ_i = ∂Q_tot/∂Q^i is not defined ('' when it is)"""
    igm: str
    """how (or whether) greedy per-agent actions maximise the joint value"""


KINDS: dict[Kind, KindInfo] = {
    Kind.VALUE: KindInfo(
        "value mixer: Q_tot = F(s, Q^1..Q^n)", "Q_tot", True, "q", "",
        "holds wherever F is monotone in every Q^i (VDN, QMIX, linear Qatten)"),
    Kind.INDEPENDENT: KindInfo(
        "independent learners: no Q_tot", "Σ_i Q^i (no mixer)", False, "q",
        "independent learners have no Q_tot, so λ_i = ∂Q_tot/∂Q^i is not defined",
        "not targeted: each agent maximises its own Q^i against the team reward"),
    Kind.ACTION: KindInfo(
        "action-conditioned mixer: Q_tot(s, u) from the Q^i and the joint action", "Q_tot", False, "q",
        "Q_tot is not a function of the Q^i alone (λ_i(s, u) depends on the joint action), "
        "so λ_i = ∂Q_tot/∂Q^i is not defined",
        "by construction (duplex dueling: advantages ≤ 0, zero at the per-agent greedy action)"),
    Kind.JOINT: KindInfo(
        "joint critic: Q_jt(s, u) tied to Σ_i Q^i by the opt/nopt losses", "Q_jt", False, "q",
        "Q_jt is a joint network of the state and the joint action, not a function F(Q^1..Q^n), "
        "so λ_i is not defined",
        "only where the opt/nopt losses are driven to zero"),
    Kind.POLICY: KindInfo(
        "policy gradient: agents output logits, a joint critic Q(s, u) trains them", "critic Q(s, u)", False,
        "logits",
        "the critic Q(s, u) is a joint network, not a function F(Q^1..Q^n), so λ_i is not defined",
        "not applicable: the agents act by sampling their policies"),
}


def describe(kind: Kind) -> KindInfo:
    """The one description of a kind (every caller reads this, none writes its own)."""
    return KINDS[Kind(kind)]
