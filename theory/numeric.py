"""Theorems 1 and 2 for a trained mixer: at a fixed state s the mixer *is* F(Q^1..Q^n).

Given per-agent utility tables Q^i(a^i) (k_i,), the greedy point is a_o = (argmax Q^1, ..., argmax Q^n):
  - λ_i = ∂F/∂Q^i at Q(a_o) by autograd, c = F(Q(a_o)) − Σ λ_i Q^i(a_o)  (Theorem 1);
  - the linearisation error |F(Q(a)) − c − Σ λ_i Q^i(a^i)| over the whole joint-action table, by
    number of deviating agents and against the utility-space distance |Q(a) − Q(a_o)| (the fitted
    log–log slope is ≈ 2 for a smooth nonlinear F and the error is 0 for an affine one);
  - λ_{i,h}, h = 1..H: the τ^{h−1} Taylor coefficient of ∂_iF(z + τ(Q(a_o) − z)) around z = 0 (the
    same definition as :mod:`theory.symbolic`), in float64 by :mod:`theory.taylor`;
  - for Qatten, the explicit weights Σ_heads w_head λ_{i,head} against the autograd λ_i. Note that
    Qatten's heads are not derivative orders: the paper only motivates multiple heads by Theorem 2;
  - independent references for the checks in :mod:`theory.checks`: λ by central finite differences,
    the mixer's closed-form ``local_weights`` when it overrides the autograd default, and the order of
    the true remainder along rays ΔQ = −t²·d away from the greedy point.
Mixers that are not a function of the Q^i (QTRAN's joint net, IQL's) give an explicit
"not defined" result instead of a crash.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from decomp.core.mixers import ActionModule, Mixer, autograd_local_weights, describe
from theory.checks import OrderFit, lambda_fd, measure_mixer_remainder
from theory.decay import Decay, classify_decay
from theory.taylor import taylor_orders

NOISE_FLOOR = 1e-9  # relative size under which a numeric λ_{i,h} counts as 0


@dataclass
class NumericResult:
    """Everything measured on one mixer at one state; ``defined=False`` carries only ``reason``."""

    mixer: str
    defined: bool
    reason: str = ""
    monotone: bool = False  # the mixer's own claim
    greedy: tuple[int, ...] = ()
    q_greedy: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,)
    c: float = math.nan
    lam: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,)
    max_err: float = math.nan
    mean_err: float = math.nan
    err_by_deviators: dict[int, float] = field(default_factory=dict)  # #agents off-greedy -> max error
    err_slope: float | None = None  # log err vs log |Q(a) − Q(a_o)|
    q_dist: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (K,) per joint action
    err: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (K,)
    igm: bool = False  # argmax of the Q_tot table is the greedy tuple
    lam_h: np.ndarray | None = None  # (H, N) orders × agents; None only when orders_error says why
    orders_error: str = ""  # the RuntimeError that stopped the λ_(i,h) computation ("" = none)
    orders_method: str = ""  # which estimator produced lam_h (see theory.taylor)
    lam_h_gap: float = math.nan  # max_i |Σ_h λ_{i,h} − λ_i|
    decay: tuple[Decay, ...] = ()
    attention_lam: np.ndarray | None = None  # (N,) Qatten's Σ_head w λ_{i,head}
    attention_gap: float | None = None  # max_i |attention λ_i − autograd λ_i|
    lam_fd: np.ndarray | None = None  # (N,) central finite differences of F at Q(a_o)
    lam_closed: np.ndarray | None = None  # (N,) the mixer's own closed-form local_weights, if any
    remainder_fit: OrderFit | None = None  # order of the true remainder along rays ΔQ = −t²·d
    F: "MixerFunction | None" = field(default=None, repr=False, compare=False)  # the mixer at this state

    @property
    def analytic(self) -> bool:
        """False when the Chebyshev fit disagreed with exact autograd (a kink, e.g. QMIX's ELU)."""
        return not self.orders_method.startswith("autograd (F not analytic)")

    @property
    def lam_nonneg(self) -> bool:
        return bool(self.defined and (self.lam >= 0).all())


class MixerFunction:
    """F(Q) = mixer(Q, s, feats) at a fixed state, float64; a picklable callable (B, N) -> (B,)."""

    def __init__(self, net: nn.Module, state: torch.Tensor, feats: torch.Tensor | None) -> None:
        self.net, self.state, self.feats = net, state, feats  # (S,), (N, F) or None

    def __call__(self, qs: torch.Tensor) -> torch.Tensor:
        b = qs.shape[0]
        f_b = None if self.feats is None else self.feats.expand(b, *self.feats.shape)  # (B, N, F)
        return self.net(qs, self.state.expand(b, self.state.shape[0]), f_b).squeeze(-1)  # (B,)


def not_defined_reason(mixer: nn.Module) -> str:
    """Why λ_i = ∂Q_tot/∂Q^i makes no sense for this mixer, or '' if it does."""
    if not isinstance(mixer, (Mixer, ActionModule)):
        return f"{type(mixer).__name__} is not a mixing module (Mixer or ActionModule): λ_i is not defined"
    reason = describe(mixer.kind).no_lambda
    return f"{type(mixer).__name__}: {reason}" if reason else ""


def analyse_mixer(
    mixer: nn.Module,
    tables: Sequence[np.ndarray],
    state: torch.Tensor,
    feats: torch.Tensor | None = None,
    max_order: int = 16,
    center: Sequence[float] | None = None,
    method: str = "auto",
) -> NumericResult:
    """Theorem 1/2 measurements for ``mixer`` at ``state`` (S,) with agent features ``feats`` (N, F)."""
    name = type(mixer).__name__
    reason = not_defined_reason(mixer)
    if reason:
        return NumericResult(name, defined=False, reason=reason)
    n = mixer.n_agents
    qtabs = _check_tables(tables, n)
    net = copy.deepcopy(mixer).double().eval()  # float64: high-order derivatives lose digits fast
    st = state.detach().to(torch.float64).reshape(net.state_dim)  # (S,)
    ft = None if feats is None else feats.detach().to(torch.float64).reshape(n, net.feat_dim)  # (N, F)

    F = MixerFunction(net, st, ft)
    greedy = tuple(int(t.argmax()) for t in qtabs)
    q0 = torch.stack([t[g] for t, g in zip(qtabs, greedy)])  # (N,)
    lam = autograd_local_weights(net, q0[None], st[None], None if ft is None else ft[None])[0]  # (N,)
    with torch.no_grad():
        c = F(q0[None])[0] - lam @ q0
        grid = torch.cartesian_prod(*qtabs) if n > 1 else qtabs[0][:, None]  # (K, N) joint actions, C order
        q_tot = F(grid)  # (K,)
        err = (q_tot - (c + grid @ lam)).abs()  # (K,)
    idx = np.stack(np.unravel_index(np.arange(grid.shape[0]), [len(t) for t in qtabs]), -1)  # (K, N)
    deviators = (idx != np.array(greedy)).sum(-1)  # (K,)
    dist = (grid - q0).norm(dim=-1).numpy()  # (K,)
    err_np = err.numpy()
    res = NumericResult(
        name, True, monotone=bool(getattr(mixer, "monotone", False)), greedy=greedy, q_greedy=q0.numpy(),
        c=float(c), lam=lam.detach().numpy(), max_err=float(err_np.max()), mean_err=float(err_np.mean()),
        err_by_deviators={int(k): float(err_np[deviators == k].max()) for k in np.unique(deviators)},
        err_slope=fit_slope(dist, err_np), q_dist=dist, err=err_np,
        igm=tuple(int(i) for i in idx[int(q_tot.argmax())]) == greedy,
    )
    res.F = F
    res.lam_fd = lambda_fd(F, res.q_greedy)
    res.lam_closed = _closed_form(net, q0, st, ft)
    res.remainder_fit = measure_mixer_remainder(F, res.q_greedy, res.c, res.lam)[0]
    _add_orders(res, F, q0, center, max_order, method)
    _add_attention(res, net, q0, st, ft)
    return res


def _closed_form(net: nn.Module, q0: torch.Tensor, st: torch.Tensor, ft: torch.Tensor | None) -> np.ndarray | None:
    """The mixer's own λ formula (QMIX, VDN, linear Qatten override local_weights), else None."""
    if type(net).local_weights is Mixer.local_weights:
        return None  # the base class would just call autograd again: not independent
    try:
        with torch.no_grad():
            return net.local_weights(q0[None], st[None], None if ft is None else ft[None])[0].numpy()  # (N,)
    except (NotImplementedError, ValueError):  # e.g. Qatten(nonlinear=True) has no closed form
        return None


def _check_tables(tables: Sequence[np.ndarray], n: int) -> list[torch.Tensor]:
    if len(tables) != n:
        raise ValueError(f"expected one utility table per agent ({n}), got {len(tables)}")
    out = []
    for i, t in enumerate(tables):
        arr = np.asarray(t, dtype=np.float64)
        if arr.ndim != 1 or arr.size < 1 or not np.isfinite(arr).all():
            raise ValueError(f"utility table {i} must be a finite 1-D array (k_i,), got shape {arr.shape}")
        out.append(torch.from_numpy(arr))
    return out


def fit_slope(dist: np.ndarray, err: np.ndarray) -> float | None:
    """Slope of log err vs log distance over the points where both are measurable (None if < 3)."""
    keep = (dist > 1e-12) & (err > 1e-12)
    if keep.sum() < 3 or np.ptp(np.log(dist[keep])) < 1e-6:
        return None
    return float(np.polyfit(np.log(dist[keep]), np.log(err[keep]), 1)[0])


def _add_orders(
    res: NumericResult, F: Callable[[torch.Tensor], torch.Tensor], q0: torch.Tensor,
    center: Sequence[float] | None, max_order: int, method: str,
) -> None:
    z = torch.zeros_like(q0) if center is None else torch.as_tensor(center, dtype=q0.dtype)
    try:
        lam_h, res.orders_method = taylor_orders(F, q0, z, max_order, method)  # (H, N)
    except RuntimeError as err:  # e.g. an op without higher-order autograd support
        # not swallowed: numeric_checks turns this into a FAILED Σ_h λ_(i,h) check naming the error
        res.orders_error = f"{type(err).__name__}: {err}"
        res.reason = f"λ_(i,h) unavailable: {res.orders_error}"
        return
    res.lam_h = lam_h
    res.lam_h_gap = float(np.abs(lam_h.sum(0) - res.lam).max())
    res.decay = tuple(classify_decay(lam_h[:, i], NOISE_FLOOR) for i in range(lam_h.shape[1]))


def _add_attention(
    res: NumericResult, net: nn.Module, q0: torch.Tensor, st: torch.Tensor, ft: torch.Tensor | None
) -> None:
    if not hasattr(net, "attention_weights") or ft is None:
        return
    with torch.no_grad():
        lam_heads, w = net.attention_weights(q0[None], st[None], ft[None])  # (1, H, N), (1, H)
    explicit = (w.unsqueeze(-1) * lam_heads).sum(-2)[0].numpy()  # (N,)
    res.attention_lam = explicit
    res.attention_gap = float(np.abs(explicit - res.lam).max())
