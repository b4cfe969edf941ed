"""What a trained model thinks along one episode: Q_tot of the joint action taken and λ_i(s_t).

Why a module of its own: the replay export (``replay_export.py``) stores these values next to the
unit positions, the explorer's battle view and ``python -m decomp.battle`` draw them, and the tests
check them against autograd of the saved mixer. Each kind of mixing module (``core/mixers/kinds.py``)
defines a different quantity, so this is the one place that says which:

* value mixers (VDN, QMIX, Qatten, OW/CW-QMIX's QMIX part): λ_i(s) = ∂Q_tot/∂Q^i, the mixer's closed
  form ``local_weights`` where it is monotone, autograd otherwise (non-linear Qatten); Qatten also gives
  its heads' λ_(i,h)(s) and head weights w_h(s);
* QPLEX: its attention weights λ_i(s, u) on the advantages (they depend on the joint action);
* joint critics (QTRAN, COMA): Q_jt(s, u), no λ_i; independent learners (IQL): neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.ops import gather_actions
from decomp.core.methods import kind_of
from decomp.core.mixers import ActionModule, JointCritic, Kind, Mixer, autograd_local_weights, describe

LAMBDA_LABEL = {Kind.VALUE: "λ_i(s) = ∂Q_tot/∂Q^i", Kind.ACTION: "λ_i(s, u) (QPLEX's weights on the advantages)"}


@dataclass
class ModelView:
    """The model's values at every step of an episode (T decisions); NaN where a kind has no such value."""

    q_tot: np.ndarray  # (T,) Q_tot (or Q_jt) of the joint action taken
    lam: np.ndarray  # (T, N) λ_i at each step; NaN when not defined (``no_lambda`` says why)
    lam_label: str  # what ``lam`` is, for axis labels
    no_lambda: str  # why λ_i is not defined ('' when it is)
    heads: dict[str, np.ndarray] = field(default_factory=dict)  # Qatten: head_lam (T, H, N), head_w (T, H)


@torch.no_grad()
def model_view(mixer: nn.Module, q: torch.Tensor, actions: torch.Tensor, avail: torch.Tensor,
               state: torch.Tensor, feats: torch.Tensor, hidden: torch.Tensor | None = None) -> ModelView:
    """q (T, N, A) agent outputs, actions (T, N), avail (T, N, A) bool, state (T, S), feats (T, N, F),
    hidden (T, N, H) the agents' recurrent states (QTRAN's Q_jt may read them) -> :class:`ModelView`."""
    kind = kind_of(mixer)
    t, n = actions.shape
    nan_lam = np.full((t, n), np.nan)
    chosen = gather_actions(q, actions)  # (T, N)
    onehot = F.one_hot(actions, q.shape[-1]).to(q.dtype)  # (T, N, A)
    if kind is Kind.VALUE:
        assert isinstance(mixer, Mixer)
        q_tot = mixer(chosen, state, feats)[:, 0]  # (T,)
        lam = (mixer.local_weights(chosen, state, feats) if mixer.monotone
               else autograd_local_weights(mixer, chosen, state, feats))  # (T, N)
        heads: dict[str, np.ndarray] = {}
        if hasattr(mixer, "attention_weights"):  # Qatten: λ_(i,h) (T, H, N) and w_h (T, H)
            head_lam, head_w = mixer.attention_weights(chosen, state, feats)
            heads = {"head_lam": _np(head_lam), "head_w": _np(head_w)}
        return ModelView(_np(q_tot), _np(lam), LAMBDA_LABEL[kind], "", heads)
    if kind is Kind.ACTION:
        assert isinstance(mixer, ActionModule)
        max_q = q.masked_fill(~avail, float("-inf")).max(-1).values  # (T, N)
        q_tot = mixer(chosen, state, feats, onehot, max_q)[:, 0]  # (T,)
        return ModelView(_np(q_tot), _np(mixer.lambdas(state, onehot)), LAMBDA_LABEL[kind], "")  # type: ignore[operator]
    reason = describe(kind).no_lambda
    if isinstance(mixer, JointCritic):  # QTRAN's Q_jt, COMA's critic
        try:
            q_jt = _np(mixer.q_jt(state, onehot, hidden if mixer.hidden_dim else None)[:, 0])  # (T,)
        except ValueError as err:  # e.g. a COMA critic that also reads local inputs
            q_jt, reason = np.full(t, np.nan), f"{reason}; Q_jt not shown: {err}"
        return ModelView(q_jt, nan_lam, "", reason)
    return ModelView(np.full(t, np.nan), nan_lam, "", reason)  # independent learners: no Q_tot


def _np(t: torch.Tensor) -> np.ndarray:
    """float64 numpy on the host (the mixer may sit on a GPU)."""
    return t.detach().cpu().double().numpy()
