"""Theorem 1/2 quantities for a trained matrix-game mixer (no Streamlit here).

λ_i = ∂Q_tot/∂Q^i at the greedy point Q(a_o); the linearisation c + Σ λ_i Q^i(a^i) is compared with
the learned Q_tot on every joint action; λ_{i,h} is the τ^{h−1} Taylor coefficient of
g_i(τ) = ∂_iF(z + τ(Q(a_o) − z)) with z = 0 (Theorem 2, as in ``theory.symbolic``), taken by nested
autograd on a float64 copy of the mixer.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from decomp.matrix import MatrixRun
from decomp.mixers import autograd_local_weights


class NotDefined(Exception):
    """λ_i has no meaning for this run (e.g. QTRAN's Q_jt is not a function of the Q^i)."""


@dataclass
class LocalLinear:
    lam: np.ndarray  # (n,) λ_i at the greedy point
    source: str  # where λ came from (closed form local_weights, or autograd)
    monotone: bool  # the mixer guarantees λ_i ≥ 0
    c: float  # Q_tot(a_o) − Σ λ_i Q^i(a_o)
    q_tot: np.ndarray  # (k_1..k_n) mixer output on the table
    linear: np.ndarray  # (k_1..k_n) c + Σ λ_i Q^i(a^i)

    @property
    def error(self) -> np.ndarray:
        return self.q_tot - self.linear


def is_value_mixer(run: MatrixRun) -> bool:
    """True when Q_tot = F(s, Q^1..Q^n) with a scalar output (not QTRAN's joint net, not IQL)."""
    m = run.mixer
    if m is None or run.state is None:
        return False
    flag = getattr(run, "is_function_of_q", None)
    if flag is not None:
        return bool(flag)
    return not getattr(m, "joint", False) and not getattr(m, "per_agent", False) and run.mixer_name != "none"


def _inputs(run: MatrixRun, qs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Broadcast the game's state/feats to a batch of utilities (dtype follows the mixer)."""
    p = next(iter(run.mixer.parameters()), None)  # type: ignore[union-attr]
    dtype = p.dtype if p is not None else torch.float32
    q = torch.as_tensor(np.asarray(qs), dtype=dtype)
    batch = q.shape[:-1]
    st = run.state.to(dtype).reshape(-1)  # type: ignore[union-attr]
    state = st.expand(*batch, st.shape[-1])
    feats = None
    if run.feats is not None:
        f = run.feats.to(dtype).reshape(q.shape[-1], -1)
        feats = f.expand(*batch, *f.shape)
    return q, state, feats


def local_linear(run: MatrixRun) -> LocalLinear:
    """Theorem 1 at the greedy joint action for a trained mixer."""
    if not is_value_mixer(run):
        raise NotDefined(
            f"{run.mixer_name}: Q_tot is not a function of the Q^i, so λ_i = ∂Q_tot/∂Q^i is not defined"
        )
    mixer = run.mixer
    assert mixer is not None
    n = len(run.agent_qs)
    q0 = np.array([float(np.asarray(q)[a]) for q, a in zip(run.agent_qs, run.greedy)])
    q, state, feats = _inputs(run, q0[None])
    monotone = bool(getattr(mixer, "monotone", False))
    if monotone and hasattr(mixer, "local_weights"):
        lam_t = mixer.local_weights(q, state, feats)
        source = "closed form (mixer.local_weights)"
    else:
        lam_t = autograd_local_weights(mixer, q, state, feats)
        source = "autograd ∂Q_tot/∂Q^i"
    lam = lam_t.detach().double().numpy().reshape(n)
    grids = np.meshgrid(*[np.asarray(x, dtype=float) for x in run.agent_qs], indexing="ij")
    table = np.stack(grids, -1)  # (k_1..k_n, n)
    with torch.no_grad():
        qt, st, ft = _inputs(run, table)
        q_tot = mixer(qt, st, ft).double().numpy()[..., 0]
        q0t, s0, f0 = _inputs(run, q0[None])
        at_opt = float(mixer(q0t, s0, f0).double().numpy().reshape(-1)[0])
    c = at_opt - float(lam @ q0)
    linear = c + np.tensordot(table, lam, axes=([-1], [0]))
    return LocalLinear(lam, source, monotone, c, q_tot, linear)


def lambda_orders(run: MatrixRun, max_order: int = 8) -> np.ndarray:
    """λ_{i,h} for h = 1..max_order, shape (n, H), expanding around Q = 0 (Theorem 2)."""
    if not is_value_mixer(run):
        raise NotDefined(f"{run.mixer_name}: λ_{{i,h}} needs Q_tot = F(Q^1..Q^n)")
    mixer = copy.deepcopy(run.mixer).double()  # type: ignore[union-attr]
    n = len(run.agent_qs)
    delta = torch.tensor([float(np.asarray(q)[a]) for q, a in zip(run.agent_qs, run.greedy)], dtype=torch.float64)
    st = run.state.double().reshape(1, -1)  # type: ignore[union-attr]
    ft = run.feats.double().reshape(1, n, -1) if run.feats is not None else None
    out = np.zeros((n, max_order))
    for i in range(n):
        tau = torch.zeros((), dtype=torch.float64, requires_grad=True)
        qs = (tau * delta).reshape(1, n)  # the segment z + τδ from z = 0
        q_tot = mixer(qs, st, ft).sum()
        (g,) = torch.autograd.grad(q_tot, qs, create_graph=True)
        deriv = g[0, i]  # g_i(τ) at τ = 0
        for h in range(1, max_order + 1):
            out[i, h - 1] = float(deriv.detach()) / math.factorial(h - 1)
            if h == max_order or not deriv.requires_grad:
                break
            (nxt,) = torch.autograd.grad(deriv, tau, create_graph=True, allow_unused=True)
            if nxt is None:  # g_i does not depend on τ: every higher order is exactly 0
                break
            deriv = nxt
    return out
