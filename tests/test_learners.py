"""The learner skeleton: one TD(λ) helper for every head layout."""

from __future__ import annotations

import pytest
import torch

from decomp.buffer import EpisodeBatch
from decomp.learners.ops import td_targets

N, A, OBS, STATE, FEAT, T = 3, 4, 5, 6, 2, 6


def step_batch(reward: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor) -> EpisodeBatch:
    """A batch that only carries what td_targets reads (per-step reward, terminated, mask)."""
    b, t = reward.shape
    return EpisodeBatch(
        obs=torch.zeros(b, t + 1, N, OBS), state=torch.zeros(b, t + 1, STATE),
        avail=torch.ones(b, t + 1, N, A, dtype=torch.bool), feats=torch.zeros(b, t + 1, N, FEAT),
        actions=torch.zeros(b, t, N, dtype=torch.long), reward=reward, terminated=terminated, mask=mask,
    )


def reference_returns(batch: EpisodeBatch, next_value: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """Plain loops over episodes and heads: G_t = r_t + γ(1 − term_t)[(1 − λ) V'_t + λ G_{t+1}],
    with G_{t+1} replaced by V'_t at an episode's last live step; padding is left at 0."""
    nv = next_value if next_value.dim() == 3 else next_value.unsqueeze(-1)  # (B, T, K)
    out = torch.zeros_like(nv)
    for i in range(nv.shape[0]):
        length = int(batch.mask[i].sum())
        for k in range(nv.shape[2]):
            g = None
            for t in reversed(range(length)):
                boot = nv[i, t, k] if g is None else lam * g + (1 - lam) * nv[i, t, k]
                g = batch.reward[i, t] + gamma * (1 - batch.terminated[i, t]) * boot
                out[i, t, k] = g
    return out if next_value.dim() == 3 else out.squeeze(-1)


@pytest.mark.parametrize("heads", [None, 1, 3])  # None: (B, T); else (B, T, K)
@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_td_targets_match_reference_for_every_head_layout(heads: int | None, lam: float) -> None:
    g = torch.Generator().manual_seed(3)
    b, gamma = 4, 0.9
    lengths = torch.tensor([T, 4, 1, 5])
    mask = (torch.arange(T)[None] < lengths[:, None]).float()  # (B, T)
    term = torch.zeros(b, T)
    term[0, T - 1] = term[2, 0] = 1.0  # rows 1 and 3 end at the time limit: they bootstrap
    batch = step_batch(torch.randn(b, T, generator=g) * mask, term, mask)
    shape = (b, T) if heads is None else (b, T, heads)
    next_value = torch.randn(*shape, generator=g)
    got = td_targets(batch, next_value, gamma, lam)
    assert got.shape == next_value.shape
    live = mask if heads is None else mask.unsqueeze(-1)  # padding steps are masked out of every loss
    torch.testing.assert_close(got * live, reference_returns(batch, next_value, gamma, lam))


def test_td_targets_heads_are_independent_columns() -> None:
    """A (B, T, K) call equals K separate (B, T) calls: nothing mixes across heads."""
    g = torch.Generator().manual_seed(4)
    mask = torch.ones(2, T)
    mask[1, 3:] = 0
    batch = step_batch(torch.randn(2, T, generator=g), torch.zeros(2, T), mask)
    next_value = torch.randn(2, T, 3, generator=g)
    got = td_targets(batch, next_value, 0.95, 0.7)
    for k in range(3):
        assert torch.equal(got[..., k], td_targets(batch, next_value[..., k], 0.95, 0.7))


def test_td_targets_rejects_other_layouts() -> None:
    batch = step_batch(torch.zeros(2, T), torch.zeros(2, T), torch.ones(2, T))
    with pytest.raises(ValueError, match="next_value"):
        td_targets(batch, torch.zeros(2, T, 1, 1), 0.9, 0.0)
