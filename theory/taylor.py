"""Taylor coefficients of g(τ) = ∇F(z + τδ) at τ = 0 for a torch function F (the numeric λ_{i,h}).

Two estimators, because neither is good everywhere:
  - ``autograd``: nested forward-mode derivatives in τ. Exact (one-sided at kinks such as QMIX's
    ELU), but each order doubles the cost, so it is capped at a few orders.
  - ``chebyshev``: one batched gradient at Chebyshev nodes τ ∈ [−1, 1], a polynomial fit, then the
    monomial coefficients. Cheap; absolute error ≤ ~1e-10 up to order 16 for analytic F (measured
    against sympy on log-sum-exp); wrong across kinks.
``auto`` runs Chebyshev and accepts it only if it matches autograd on the first orders; otherwise it
falls back to autograd.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from numpy.polynomial import chebyshev
from torch.func import grad, jacfwd

BatchFn = Callable[[torch.Tensor], torch.Tensor]  # (B, N) -> (B,)
CHEB_NODES = 20
CHEB_MAX_ORDER = 16  # absolute error ≤ ~1e-10 up to here (vs sympy on log-sum-exp); NOISE_FLOOR covers it
AUTOGRAD_MAX_ORDER = 6
CHECK_ORDERS = 3
CHECK_RTOL = 1e-6


def orders_autograd(F: BatchFn, q0: torch.Tensor, z: torch.Tensor, max_order: int) -> np.ndarray:
    """(H, N) exact Taylor coefficients by nested jacfwd (cost ~ 2^H forwards)."""
    delta = q0 - z  # (N,)
    grad_f = grad(lambda q: F(q[None])[0])  # (N,) -> (N,)
    fns: list[Callable[[torch.Tensor], torch.Tensor]] = [lambda tau: grad_f(z + tau * delta)]
    for _ in range(max_order - 1):
        fns.append(jacfwd(fns[-1]))
    tau0 = torch.zeros((), dtype=q0.dtype)
    return torch.stack([f(tau0) / math.factorial(k) for k, f in enumerate(fns)]).detach().numpy()  # (H, N)


def _pad_to(c: np.ndarray, m: int) -> np.ndarray:
    return np.pad(c, (0, m - len(c)))


def orders_chebyshev(F: BatchFn, q0: torch.Tensor, z: torch.Tensor, max_order: int) -> np.ndarray:
    """(H, N) Taylor coefficients from a Chebyshev fit of the gradient along the segment (one batch)."""
    x = np.cos(np.pi * (np.arange(CHEB_NODES) + 0.5) / CHEB_NODES)  # (M,) nodes in [-1, 1]
    tau = torch.as_tensor(x, dtype=q0.dtype)
    with torch.enable_grad():
        q = (z + tau[:, None] * (q0 - z)).requires_grad_(True)  # (M, N)
        (g,) = torch.autograd.grad(F(q).sum(), q)  # (M, N): rows are independent batch elements
    coef = chebyshev.chebfit(x, g.detach().numpy(), CHEB_NODES - 1)  # (M, N)
    # cheb2poly trims trailing exact zeros (e.g. a mixer linear in one agent), so pad back to M.
    mono = np.stack([_pad_to(chebyshev.cheb2poly(coef[:, i]), CHEB_NODES) for i in range(coef.shape[1])], 1)  # (M, N)
    return mono[:max_order]


def taylor_orders(
    F: BatchFn, q0: torch.Tensor, z: torch.Tensor, max_order: int, method: str = "auto"
) -> tuple[np.ndarray, str]:
    """(λ_{i,h} as (H, N), the estimator used); see the module docstring for ``method``."""
    if method not in ("auto", "autograd", "chebyshev"):
        raise ValueError(f"method must be 'auto', 'autograd' or 'chebyshev', got {method!r}")
    if method == "autograd":
        return orders_autograd(F, q0, z, max_order), "autograd"
    cheb = orders_chebyshev(F, q0, z, min(max_order, CHEB_MAX_ORDER))
    if method == "chebyshev":
        return cheb, "chebyshev"
    exact = orders_autograd(F, q0, z, min(CHECK_ORDERS, max_order))
    scale = max(float(np.abs(exact).max()), 1e-12)
    if np.abs(cheb[: exact.shape[0]] - exact).max() <= CHECK_RTOL * scale:
        return cheb, "chebyshev (checked)"
    return orders_autograd(F, q0, z, min(max_order, AUTOGRAD_MAX_ORDER)), "autograd (F not analytic)"
