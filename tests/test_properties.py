"""Property tests of the mixers: monotonicity (∂Q_tot/∂Q^i ≥ 0), IGM, and Qatten's affine form.

Parameters are initialised from a hypothesis-drawn seed, so each example is a different random
mixer. Hypothesis is derandomised (same examples on every run) so CI is deterministic. These tests
are what catches a QMIX without ``.abs()`` on its hypernetwork weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from decomp.core.methods import make_mixer
from decomp.core.mixers import autograd_local_weights

SETTINGS = settings(derandomize=True, deadline=None, max_examples=20, database=None)
STATE_DIM, FEAT_DIM, BATCH = 5, 3, 64
QATTEN_LINEAR = [{"weighted_head": w, "mask_dead": m} for w in (False, True) for m in (False, True)]
MONOTONE = [("vdn", {}), ("qmix", {})] + [("qatten", o) for o in QATTEN_LINEAR]
IDS = ["vdn", "qmix"] + [f"qatten-wh{int(o['weighted_head'])}-md{int(o['mask_dead'])}" for o in QATTEN_LINEAR]
seeds = st.integers(0, 2**31 - 1)
agents = st.integers(2, 5)


def build(name: str, opts: dict[str, object], seed: int, n: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return make_mixer(name, n, STATE_DIM, FEAT_DIM, 4, **opts).double()


def inputs(seed: int, n: int, batch: int = BATCH, dead: bool = False) -> tuple[torch.Tensor, ...]:
    """Random Q-values (wide range, both signs), states and features; ``dead`` zeroes ~30% of agents."""
    gen = torch.Generator().manual_seed(seed + 1)
    qs = 10 * torch.randn(batch, n, generator=gen, dtype=torch.float64)  # (B, N)
    state = 3 * torch.randn(batch, STATE_DIM, generator=gen, dtype=torch.float64)  # (B, S)
    feats = torch.randn(batch, n, FEAT_DIM, generator=gen, dtype=torch.float64)  # (B, N, F)
    if dead:
        feats[torch.rand(batch, n, generator=gen) < 0.3] = 0.0
    return qs, state, feats


# ---- monotonicity --------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "opts"), MONOTONE, ids=IDS)
@SETTINGS
@given(seed=seeds, n=agents)
def test_monotone_mixers_have_nonnegative_gradient(name: str, opts: dict[str, object], seed: int, n: int) -> None:
    mixer = build(name, opts, seed, n)
    assert mixer.monotone
    qs, state, feats = inputs(seed, n, dead=bool(opts.get("mask_dead")))
    grad = autograd_local_weights(mixer, qs, state, feats)  # (B, N)
    assert (grad >= 0).all(), f"{name}{opts}: ∂Q_tot/∂Q^i has negative entries, min {grad.min().item():.3g}"


@pytest.mark.parametrize("weighted_head", [False, True])
@SETTINGS
@given(seed=seeds, n=agents)
def test_nonlinear_qatten_attention_weights_nonnegative(weighted_head: bool, seed: int, n: int) -> None:
    """nonlinear=True feeds Q^i into the keys, so λ depends on Q and ∂Q_tot/∂Q^i can be negative:
    only the attention weights themselves are guaranteed ≥ 0 (and the mixer says it is not monotone)."""
    mixer = build("qatten", {"nonlinear": True, "weighted_head": weighted_head}, seed, n)
    assert not mixer.monotone
    qs, state, feats = inputs(seed, n)
    lam, w = mixer.attention_weights(qs, state, feats)  # (B, H, N), (B, H)
    assert (lam >= 0).all() and (w >= 0).all()
    torch.testing.assert_close(lam.sum(-1), torch.ones_like(lam.sum(-1)))


# ---- IGM -----------------------------------------------------------------------------------------
def distinct_tables(seed: int, n_actions: list[int]) -> list[np.ndarray]:
    """Per-agent utilities with a unique argmax: a permutation of 0..k-1 plus noise < 0.5, scaled and shifted."""
    rng = np.random.default_rng(seed)
    return [
        rng.uniform(0.5, 5) * (rng.permutation(k) + rng.uniform(0, 0.5, k)) + rng.uniform(-10, 10)
        for k in n_actions
    ]


@pytest.mark.parametrize(("name", "opts"), MONOTONE, ids=IDS)
@SETTINGS
@given(seed=seeds, n_actions=st.lists(st.integers(2, 6), min_size=2, max_size=5))
def test_igm_brute_force(name: str, opts: dict[str, object], seed: int, n_actions: list[int]) -> None:
    """argmax over the joint table of Q_tot == tuple of per-agent argmaxes (all agents alive)."""
    n = len(n_actions)
    mixer = build(name, opts, seed, n)
    tables = distinct_tables(seed, n_actions)
    grid = torch.cartesian_prod(*[torch.from_numpy(t) for t in tables])  # (K, N), C order
    _, state, feats = inputs(seed, n, batch=1)
    feats = feats + (feats == 0).double()  # every agent alive: a dead agent's action does not matter
    k = grid.shape[0]
    with torch.no_grad():
        q_tot = mixer(grid, state.expand(k, STATE_DIM), feats.expand(k, n, FEAT_DIM)).squeeze(-1)  # (K,)
    joint = np.unravel_index(int(q_tot.argmax()), n_actions)
    greedy = tuple(int(t.argmax()) for t in tables)
    assert tuple(int(i) for i in joint) == greedy, f"{name}{opts}: joint argmax {joint} != per-agent argmaxes {greedy}"


# ---- Qatten --------------------------------------------------------------------------------------
@pytest.mark.parametrize("opts", QATTEN_LINEAR, ids=IDS[2:])
@SETTINGS
@given(seed=seeds, n=agents, alpha=st.floats(-2.0, 3.0))
def test_qatten_weights_and_affine_form(opts: dict[str, object], seed: int, n: int, alpha: float) -> None:
    mixer = build("qatten", opts, seed, n)
    q1, state, feats = inputs(seed, n, dead=bool(opts["mask_dead"]))
    q2 = inputs(seed + 7, n)[0]
    lam, w = mixer.attention_weights(q1, state, feats)  # (B, H, N), (B, H)
    assert (lam >= 0).all() and (w >= 0).all()
    torch.testing.assert_close(lam.sum(-1), torch.ones_like(lam.sum(-1)))  # each head is a distribution
    if opts["mask_dead"]:
        dead = (feats.abs().sum(-1) == 0) & (feats.abs().sum(-1) > 0).any(-1, keepdim=True)  # (B, N)
        assert (lam.masked_select(dead.unsqueeze(1).expand_as(lam)) == 0).all(), "dead agents must get λ = 0"
    if not opts["weighted_head"]:
        assert (w == 1).all()

    def f(q: torch.Tensor) -> torch.Tensor:
        return mixer(q, state, feats)  # (B, 1)

    with torch.no_grad():
        torch.testing.assert_close(f(alpha * q1 + (1 - alpha) * q2), alpha * f(q1) + (1 - alpha) * f(q2))
        local = mixer.local_weights(q1, state, feats)  # (B, N)
        c = f(torch.zeros_like(q1))  # (B, 1)
        torch.testing.assert_close(f(q2), c + (local * q2).sum(-1, keepdim=True))
    torch.testing.assert_close(local, (w.unsqueeze(-1) * lam).sum(-2))


@pytest.mark.parametrize(("name", "opts"), MONOTONE, ids=IDS)
@SETTINGS
@given(seed=seeds, n=agents)
def test_local_weights_match_autograd(name: str, opts: dict[str, object], seed: int, n: int) -> None:
    mixer = build(name, opts, seed, n)
    qs, state, feats = inputs(seed, n, dead=bool(opts.get("mask_dead")))
    torch.testing.assert_close(mixer.local_weights(qs, state, feats), autograd_local_weights(mixer, qs, state, feats))
