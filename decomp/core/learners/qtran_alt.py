"""QTRAN-alt (Son et al. 2019, §3.2): QTRAN-base with L_nopt replaced by its counterfactual form.

For every agent i and each of its own actions a (the others fixed at the taken u^{-i}):
    L_nopt-min = mean_i ( min_a [ Q'(s, a, u^{-i}) − Q̂_jt(s, a, u^{-i}) + V(s) ] )²
with Q' = Σ_j Q^j and Q̂_jt detached. All N×A counterfactual joint actions go through Q_jt in one
batched call. td and opt are QTRAN-base's (reused from :class:`QTranLearner`).
"""

from __future__ import annotations

import torch
from torch import nn

from decomp.core.agents import AgentInputs
from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.learners.base import LearnerConfig
from decomp.core.ops import gather_actions, masked_mean, usable_avail
from decomp.core.learners.qtran import QTranLearner


def counterfactual_joint(onehot: torch.Tensor) -> torch.Tensor:
    """onehot (*B, N, A) -> (*B, N, A, N, A): entry [i, a] is the joint action with agent i's action
    replaced by a and everyone else's kept."""
    n, a = onehot.shape[-2:]
    base = onehot[..., None, None, :, :].expand(*onehot.shape[:-2], n, a, n, a)
    agent_eye = torch.eye(n, dtype=torch.bool, device=onehot.device).view(n, 1, n, 1)
    action_eye = torch.eye(a, dtype=onehot.dtype, device=onehot.device).view(1, a, 1, a).expand(n, a, n, a)
    return torch.where(agent_eye, action_eye, base)


class QTranAltLearner(QTranLearner):
    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig,
                 opt_weight: float = 1.0, nopt_weight: float = 0.1, use_hidden: bool = False, *,
                 inputs: AgentInputs = AgentInputs()) -> None:
        # nopt_weight: pymarl-style weight of L_nopt-min; 1.0 let it dominate the clipped gradient (Q_jt under-fits)
        if nopt_weight < 0:
            raise ValueError(f"qtran_alt nopt_weight must be >= 0, got {nopt_weight}")
        # the base class's L_nopt is switched off; ours replaces it
        super().__init__(agent, mixer, info, cfg, opt_weight=opt_weight, nopt_weight=0.0, use_hidden=use_hidden,
                         inputs=inputs)
        self.nopt_min_weight = nopt_weight

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        base, logs = super().loss(batch)  # td + opt_weight · opt
        l_nopt = self.nopt_min(batch)
        logs["losses/nopt"] = float(l_nopt.detach())
        return base + self.nopt_min_weight * l_nopt, logs

    def nopt_min(self, batch: EpisodeBatch) -> torch.Tensor:
        """The counterfactual L_nopt-min, vectorised over agents and actions."""
        q_all, hs = self.unroll(self.agent, self.agent_inputs(batch), batch)  # (B, T+1, N, A), (B, T+1, N, H)
        q_now = q_all[:, :-1]  # (B, T, N, A)
        chosen = gather_actions(q_now, batch.actions).unsqueeze(-1)  # (B, T, N, 1)
        q_prime = chosen.sum(-2, keepdim=True)  # (B, T, 1, 1)
        q_prime_cf = q_prime - chosen + q_now  # (B, T, N, A): agent i switches to a
        state = batch.state[:, :-1]  # (B, T, S)
        b, t, n, a = q_now.shape
        with torch.no_grad():  # Q̂_jt is detached (the paper's stop-gradient)
            joint_cf = counterfactual_joint(self._onehot(batch.actions))  # (B, T, N, A, N, A)
            state_cf = state[:, :, None, None, :].expand(b, t, n, a, state.shape[-1])  # (B, T, N, A, S)
            hidden = None
            if self.use_hidden:
                h = hs[:, :-1].detach()  # (B, T, N, H)
                hidden = h[:, :, None, None].expand(b, t, n, a, n, h.shape[-1])  # (B, T, N, A, N, H)
            q_jt_cf = self.mixer.q_jt(state_cf, joint_cf, hidden).squeeze(-1)  # (B, T, N, A)
        v = self.mixer.v(state).unsqueeze(-1)  # (B, T, 1, 1)
        gap = (q_prime_cf - q_jt_cf + v).masked_fill(~usable_avail(batch.avail[:, :-1]), float("inf"))
        per_agent = gap.min(-1).values.pow(2)  # (B, T, N)
        return masked_mean(per_agent.mean(-1, keepdim=True), batch.mask.unsqueeze(-1))
