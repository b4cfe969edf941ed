"""Qatten (Yang et al. 2020): Q_tot = c(s) + Σ_h w_h(s) Σ_i λ_{i,h}(s) Q^i.

Head h's weights λ_{·,h} are a softmax over agents of query_h(s)·key_h(feat_i)/√d, so they are
≥ 0 and sum to 1; heads are combined with w_h = |f(s)| ≥ 0 (or 1). For fixed s the mixer is affine
in Q, which is Theorem 1's form, and λ_i = Σ_h w_h λ_{i,h} ≥ 0. With ``nonlinear=True`` the keys
also see Q^i, so the λ's depend on Q and the mixer is no longer guaranteed monotone.
All heads are computed in one batched op (no per-head loop).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from decomp.core.mixers.base import Mixer


class QattenMixer(Mixer):
    needs_feats = True
    log_prefix = "qatten"  # extras logged as qatten/head_entropy/<h>, qatten/lambda/<i>

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        feat_dim: int,
        n_heads: int = 4,
        attn_dim: int = 32,
        hypernet_embed: int = 64,
        weighted_head: bool = True,
        nonlinear: bool = False,
        mask_dead: bool = False,
        reg_coef: float = 1e-2,
    ) -> None:
        super().__init__(n_agents, state_dim, feat_dim)
        if n_heads < 1 or attn_dim < 1:
            raise ValueError(f"n_heads and attn_dim must be >= 1, got {n_heads}, {attn_dim}")
        if reg_coef < 0:
            raise ValueError(f"reg_coef must be >= 0, got {reg_coef}")
        self.n_heads, self.attn_dim = n_heads, attn_dim
        self.weighted_head, self.nonlinear, self.mask_dead = weighted_head, nonlinear, mask_dead
        self.reg_coef = reg_coef
        self.monotone = not nonlinear
        key_in = feat_dim + (1 if nonlinear else 0)
        self.query = nn.Sequential(
            nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, n_heads * attn_dim)
        )
        self.key = nn.Linear(key_in, n_heads * attn_dim, bias=False)
        self.head_w = nn.Sequential(
            nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, n_heads)
        )
        self.c = nn.Sequential(nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, 1))

    def attention(
        self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat batch -> (λ (M, H, N), w (M, H), raw logits (M, H, N)).

        The raw logits are query·key before the 1/√d scaling and before dead agents are masked:
        that is what the authors' regulariser penalises.
        """
        m, n, h, d = qs.shape[0], self.n_agents, self.n_heads, self.attn_dim
        key_in = torch.cat([feats, qs.unsqueeze(-1)], dim=-1) if self.nonlinear else feats  # (M, N, F')
        query = self.query(state).view(m, h, d)  # (M, H, d)
        keys = self.key(key_in).view(m, n, h, d)  # (M, N, H, d)
        # broadcast-multiply-and-sum: ~2.5x faster than einsum's batched tiny matmuls on CPU
        raw = (query.unsqueeze(2) * keys.transpose(1, 2)).sum(-1)  # (M, H, N)
        logits = raw / math.sqrt(d)
        if self.mask_dead:
            alive = feats.abs().sum(-1) > 0  # (M, N)
            alive = alive | ~alive.any(-1, keepdim=True)  # all dead -> attend to everyone
            logits = logits.masked_fill(~alive.unsqueeze(1), float("-inf"))
        lam = torch.softmax(logits, dim=-1)  # (M, H, N)
        w = self.head_w(state).abs() if self.weighted_head else qs.new_ones(m, h)  # (M, H)
        return lam, w, raw

    def mix(self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        assert feats is not None  # checked in forward
        lam, w, raw = self.attention(qs, state, feats)
        heads = (lam * qs.unsqueeze(1)).sum(-1)  # (M, H)
        q_tot = (w * heads).sum(-1, keepdim=True) + self.c(state)  # (M, 1)
        self.extras = {
            # the authors' attention-logit regulariser: coef · Σ_h mean(raw logit_h²) (unscaled by √d,
            # summed, not averaged, over heads), over the live steps this mixer is called on
            "aux_loss": self.reg_coef * raw.pow(2).mean(dim=(0, 2)).sum(),
            "head_entropy": -(lam * lam.clamp_min(1e-12).log()).sum(-1).mean(0).detach(),  # (H,)
            "lambda": (w.unsqueeze(-1) * lam).sum(1).mean(0).detach(),  # (N,)
        }
        return q_tot

    def attention_weights(
        self, agent_qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-head weights λ_{i,h} (*B, H, N) and head weights w_h (*B, H)."""
        batch = self._check(agent_qs, state, feats)
        lam, w, _ = self.attention(
            agent_qs.reshape(-1, self.n_agents),
            state.reshape(-1, self.state_dim),
            feats.reshape(-1, self.n_agents, self.feat_dim),
        )
        return lam.reshape(*batch, self.n_heads, self.n_agents), w.reshape(*batch, self.n_heads)

    def local_weights(
        self, agent_qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None = None
    ) -> torch.Tensor:
        """λ_i = Σ_h w_h λ_{i,h} (*B, N) — equal to ∂Q_tot/∂Q^i when ``nonlinear=False``."""
        if self.nonlinear:
            raise NotImplementedError(
                "QattenMixer(nonlinear=True): the attention weights depend on Q, so ∂Q_tot/∂Q^i ≠ Σ_h w_h λ_{i,h}; "
                "use attention_weights() for the latter or theory's autograd estimate for the former"
            )
        if feats is None:
            raise ValueError("QattenMixer.local_weights needs feats (*B, n_agents, feat_dim)")
        lam, w = self.attention_weights(agent_qs, state, feats)
        return (w.unsqueeze(-1) * lam).sum(-2)  # (*B, N)
