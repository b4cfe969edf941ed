"""Pure tensor helpers shared by the learners and the acting policy: one home, so each loss and
each action choice reads the same way (and acting needs no learner module).

Nothing here holds state or touches modules' parameters; every function is vectorised over the
batch, the time steps and the agents / value heads.
"""

from __future__ import annotations

import torch
from torch import nn

from decomp.core.buffer import EpisodeBatch


def gather_actions(q: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Each agent's value of its own action: q (..., N, A), actions (..., N) long -> (..., N)."""
    return q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def greedy_actions(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """argmax over available actions: q, avail (..., A) -> (...) long."""
    return q.masked_fill(~avail, float("-inf")).argmax(-1)


def usable_avail(avail: torch.Tensor) -> torch.Tensor:
    """avail (..., A) bool with padded rows (no action available) opened up, so masked max/min and
    softmax stay finite there; those rows are masked out of every loss anyway."""
    return avail | ~avail.any(-1, keepdim=True)


_MASKED_LOGIT = -1e10  # finite, so log π of an unavailable action times π = 0 stays 0 (not nan)


def masked_log_policy(logits: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """logits, avail (..., A) -> log π (..., A) of the softmax policy over the available actions."""
    return torch.log_softmax(logits.masked_fill(~usable_avail(avail), _MASKED_LOGIT), dim=-1)


def behaviour_policy(logits: torch.Tensor, avail: torch.Tensor, epsilon: float) -> torch.Tensor:
    """logits, avail (..., A) -> (1 − ε) π + ε uniform(available) (..., A): what a sampled policy acts with."""
    avail = usable_avail(avail)
    uniform = avail.float() / avail.sum(-1, keepdim=True)  # (..., A)
    return (1.0 - epsilon) * masked_log_policy(logits, avail).exp() + epsilon * uniform


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over entries where mask is 1 (x and mask broadcast to the same shape)."""
    mask = mask.expand_as(x)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def mix_live(
    mixer: nn.Module, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor, mask: torch.Tensor,
) -> torch.Tensor:
    """Mix only the live steps of a padded batch; padding gets 0 (it is masked out of every loss).

    qs (B, T, N), state (B, T, S), feats (B, T, N, F), mask (B, T) -> (B, T, K). Mixers act per
    step, so this is the same maths as mixing everything, minus the padding's share of the work.
    """
    b, t = mask.shape
    idx = mask.reshape(-1).nonzero().squeeze(1)  # (M,) flat indices of live steps
    live = mixer(
        qs.reshape(b * t, -1).index_select(0, idx),  # (M, N)
        state.reshape(b * t, -1).index_select(0, idx),  # (M, S)
        feats.reshape(b * t, *feats.shape[2:]).index_select(0, idx),  # (M, N, F)
    )  # (M, K)
    return live.new_zeros(b * t, live.shape[-1]).index_copy(0, idx, live).view(b, t, -1)


def td_targets(batch: EpisodeBatch, next_value: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """TD(λ) targets for any head layout: next_value (B, T) or (B, T, K) -> the same shape.

    next_value[t] is the target value of the state after step t (one column per value head: a
    Q_tot head, or one per agent for COMA's critic). The batch's per-step reward, terminated and
    mask (B, T) are broadcast over the heads here, so no caller reshapes them.
    """
    per_step = (batch.reward, batch.terminated, batch.mask)  # each (B, T)
    if next_value.dim() == 3:
        per_step = tuple(x.unsqueeze(-1).expand_as(next_value) for x in per_step)  # each (B, T, K)
    elif next_value.dim() != 2:
        raise ValueError(f"next_value must be (B, T) or (B, T, K), got shape {tuple(next_value.shape)}")
    reward, terminated, mask = per_step
    return lambda_returns(reward, terminated, mask, next_value, gamma, lam)


def lambda_returns(
    reward: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor, next_q: torch.Tensor,
    gamma: float, lam: float,
) -> torch.Tensor:
    """The TD(λ) recursion behind :func:`td_targets`. All (B, T, ...) of one shape.

    G_t = r_t + γ(1 − term_t)[(1 − λ) Q'_t + λ G_{t+1}], where G_{t+1} is replaced by Q'_t at the
    episode's last step. The recursion is inherently sequential over time; each step is
    vectorised over the batch and the value heads.
    """
    if lam == 0.0:
        return reward + gamma * (1.0 - terminated) * next_q
    # What does not depend on G_{t+1} is computed for all t at once, with the per-step form's
    # operations in its order (so the same floats); the loop keeps only the recursion.
    cont = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)  # step t+1 happened
    blend = (1 - lam) * next_q
    stop = (1 - cont) * next_q
    discount = gamma * (1.0 - terminated)
    out = torch.empty_like(next_q)
    g_next = next_q[:, -1]
    per_step = zip(*(x.unbind(1) for x in (cont, blend, stop, discount, reward, out)))  # views of step t
    for cont_t, blend_t, stop_t, discount_t, reward_t, out_t in reversed(list(per_step)):
        boot = cont_t * (lam * g_next + blend_t) + stop_t
        g_next = torch.add(reward_t, discount_t * boot, out=out_t)
    return out
