"""QPLEX (Wang et al. 2021): duplex dueling, Q_tot = Σ_i V_i + Σ_i λ_i(s, u) A_i.

Each agent's utility is first transformed with a positive state weight and a bias,
Q_i ← w_i(s) Q_i + b_i(s) (w_i > 0), so V_i = w_i max_a Q_i + b_i and A_i = w_i (Q_i(u_i) − max_a Q_i) ≤ 0.
The importance weights λ_i(s, u) > 0 come from multi-head attention over (s, u): the query sees the
state and the whole joint action, agent i's key sees the state, its id and its own action; scores go
through a sigmoid (not a softmax) and heads are combined with |w_h(s)|, so every λ_i is positive.

IGM holds by construction: A_i = 0 exactly at agent i's greedy action and < 0 elsewhere, so Q_tot is
maximal (= Σ V_i) exactly at the per-agent greedy joint action. Q_tot is *not* a function of the Q^i
alone (λ depends on the joint action), so this is not a :class:`~decomp.core.mixers.base.Mixer`: it has no
local weights λ_i = ∂Q_tot/∂Q^i in the Theorem-1 sense and the theory layer treats it as undefined.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from decomp.core.mixers.base import ActionModule
from decomp.core.mixers.kinds import Kind


class QPlexMixer(ActionModule):
    """forward needs the joint action one-hot and each agent's max Q^i besides the chosen Q^i."""

    kind: ClassVar[Kind] = Kind.ACTION
    log_prefix = "qplex"  # extras logged as qplex/lambda/<i>

    def __init__(
        self,
        n_agents: int,
        state_dim: int,
        n_actions: int,
        n_heads: int = 4,
        attn_dim: int = 32,
        embed_dim: int = 64,
        min_weight: float = 1e-2,
        w_floor: float = 1e-10,
        detach_advantage: bool = True,
        advantage_trains_w: bool = True,
    ) -> None:
        super().__init__(n_agents, state_dim, n_actions)
        if n_heads < 1 or attn_dim < 1 or embed_dim < 1:
            raise ValueError(f"n_heads, attn_dim, embed_dim must be >= 1, got {n_heads}, {attn_dim}, {embed_dim}")
        if min_weight <= 0 or w_floor <= 0:
            raise ValueError(f"min_weight and w_floor must be > 0 (keep λ_i, w_i strictly positive), "
                             f"got {min_weight}, {w_floor}")
        self.n_heads, self.attn_dim, self.min_weight = n_heads, attn_dim, min_weight
        self.w_floor, self.detach_advantage, self.advantage_trains_w = w_floor, detach_advantage, advantage_trains_w
        n, a, s = n_agents, n_actions, state_dim
        self.w_net = nn.Sequential(nn.Linear(s, embed_dim), nn.ReLU(), nn.Linear(embed_dim, n))
        self.b_net = nn.Sequential(nn.Linear(s, embed_dim), nn.ReLU(), nn.Linear(embed_dim, n))
        self.query = nn.Sequential(nn.Linear(s + n * a, embed_dim), nn.ReLU(), nn.Linear(embed_dim, n_heads * attn_dim))
        self.key = nn.Linear(s + n + a, n_heads * attn_dim)
        self.head_w = nn.Sequential(nn.Linear(s, embed_dim), nn.ReLU(), nn.Linear(embed_dim, n_heads))
        self.register_buffer("agent_ids", torch.eye(n_agents))

    # ---- pieces ---------------------------------------------------------------------------
    def transform(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """state (M, S) -> w (M, N) ≥ w_floor > 0, b (M, N): the per-agent affine transformation.

        The default w_floor = 1e-10 is the reference's |·| + ε. A floor of 1 (the former default) did not
        stop the collapse it was meant for: on the matrix report's QTRAN-game settings it gave 3/5 optimal
        (seeds 0, 2 flat Q_tot, seed 4 diverged to Q_tot(A,A) = 622); what fixed that was
        ``advantage_trains_w`` (see forward)."""
        return self.w_net(state).abs() + self.w_floor, self.b_net(state)

    def lambdas(self, state: torch.Tensor, actions_onehot: torch.Tensor) -> torch.Tensor:
        """state (M, S), actions_onehot (M, N, A) -> λ (M, N) > 0, all heads in one einsum."""
        m, n, h, d = state.shape[0], self.n_agents, self.n_heads, self.attn_dim
        q = self.query(torch.cat([state, actions_onehot.reshape(m, -1)], dim=-1)).view(m, h, d)  # (M, H, d)
        key_in = torch.cat([state.unsqueeze(1).expand(m, n, -1), self.agent_ids.expand(m, n, n), actions_onehot], -1)
        k = self.key(key_in).view(m, n, h, d)  # (M, N, H, d)
        scores = torch.sigmoid(torch.einsum("mhd,mnhd->mhn", q, k) / math.sqrt(d))  # (M, H, N) in (0, 1)
        w_h = self.head_w(state).abs()  # (M, H) ≥ 0
        return (w_h.unsqueeze(-1) * scores).sum(1) + self.min_weight  # (M, N)

    # ---- forward ----------------------------------------------------------------------------
    def forward(
        self,
        agent_qs: torch.Tensor,
        state: torch.Tensor,
        feats: torch.Tensor | None,
        actions_onehot: torch.Tensor,
        max_qs: torch.Tensor,
    ) -> torch.Tensor:
        """agent_qs (*B, N) at the joint action, state (*B, S), feats (unused), actions_onehot
        (*B, N, A), max_qs (*B, N) = max over each agent's available actions -> Q_tot (*B, 1)."""
        batch = self._check(agent_qs, state, actions_onehot, max_qs)
        m, n = math.prod(batch), self.n_agents
        qs, mx = agent_qs.reshape(m, n), max_qs.reshape(m, n)  # (M, N)
        st = state.reshape(m, self.state_dim)  # (M, S)
        onehot = actions_onehot.reshape(m, n, self.n_actions)  # (M, N, A)
        w, b = self.transform(st)  # (M, N)
        lam = self.lambdas(st, onehot)  # (M, N)
        q_t = w * qs + b  # (M, N) transformed Q_i(u_i)
        adv = w * (qs - mx)  # (M, N) transformed A_i ≤ 0
        if self.detach_advantage and self.advantage_trains_w:
            # Departure from the reference, which detaches the whole transformed advantage w_i (Q_i − max Q_i):
            # here only the utilities' part is detached, and w keeps its true gradient
            # ∂Q_tot/∂w_i = λ_i Q_i(u_i) + (1 − λ_i) max Q_i. With w detached too its gradient is Q_i(u_i)
            # alone, which at a joint action with λ_i → min_weight has the wrong sign: w and the Q_i then
            # run away together. QTRAN game, lr 0.01, 9000 steps, uniform data, seeds 0-4 (issue 12):
            #   w ≥ 1 floor, w detached:  3/5 optimal; seeds 0, 2 near-flat Q_tot; seed 4 Q_tot(A,A) = 622
            #   |w| + 1e-10, w detached (the reference's form):  2/5; seed 3 max|Q_tot| = 132 (diverged)
            #   |w| + 1e-10, this:         5/5, mean |Q_tot − payoff| 0.93, max |Q_tot| ≤ 17.6
            # (lr 0.001 / 0.003: 0/5 to 3/5, under-trained in 281 updates; grad_clip 1 with w detached:
            # 5/5 argmax but seed 4 still diverged; grad_clip 1 with this: 5/5, error 0.75)
            adv = w * (qs - mx).detach()
        elif self.detach_advantage:
            adv = adv.detach()
        # = Σ V_i + Σ λ_i A_i in value; written as Σ Q_i + Σ (λ_i − 1) A_i so that, with A_i detached
        # (as in the QPLEX reference code), the TD error reaches each taken utility with weight w_i
        # and the λ's learn the joint structure. Otherwise a small λ_i(s, u) at an under-valued joint
        # action would all but stop the utilities there from learning, and greedy joint actions stick.
        q_tot = (q_t + (lam - 1.0) * adv).sum(-1, keepdim=True)  # (M, 1)
        self.extras = {"lambda": lam.detach().mean(0)}
        return q_tot.reshape(*batch, 1)

    def _check(
        self, agent_qs: torch.Tensor, state: torch.Tensor, actions_onehot: torch.Tensor, max_qs: torch.Tensor
    ) -> tuple[int, ...]:
        n = self.n_agents
        if agent_qs.dim() < 1 or agent_qs.shape[-1] != n:
            raise ValueError(f"QPlexMixer: agent_qs must be (*B, n_agents={n}), got {tuple(agent_qs.shape)}")
        return self.check(state, agent_qs=(agent_qs, (n,)), actions_onehot=(actions_onehot, (n, self.n_actions)),
                          max_qs=(max_qs, (n,)))
