"""QTRAN-base losses (Son et al. 2019): L = L_td + w_opt·L_opt + w_nopt·L_nopt.

L_td trains Q_jt towards r + γ Q_jt^target(s', ū'), ū' greedy for the online agents (``double_q``, as in
pymarl) or for the target agents; L_opt = (Q'(ū) − Q̂_jt(s, ū) + V(s))² at the agents' greedy ū and
L_nopt = min(Q'(u) − Q̂_jt(s, u) + V(s), 0)² at the taken u, with Q' = Σ_i Q^i and Q̂_jt
detached (the paper's stop-gradient), so those two only shape the Q^i and V.

pymarl's qtran_learner differs from the paper in one place, which ``hidden_grad`` (with ``use_hidden``)
reproduces: L_td trains the agents through Q_jt's hidden-state inputs. It did not make QTRAN learn
SMAX 3m (docs/benchmarks.md, "COMA and QTRAN on SMAX").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from decomp.core.agents import AgentInputs
from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.learners.base import Learner, LearnerConfig
from decomp.core.ops import gather_actions, greedy_actions, masked_mean, td_targets


class QTranLearner(Learner):
    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig,
                 opt_weight: float = 1.0, nopt_weight: float = 1.0, use_hidden: bool = False,
                 hidden_grad: bool = False, *,
                 inputs: AgentInputs = AgentInputs()) -> None:
        super().__init__(agent, mixer, info, cfg, inputs=inputs)
        if opt_weight < 0 or nopt_weight < 0:
            raise ValueError(f"qtran loss weights must be >= 0, got opt={opt_weight}, nopt={nopt_weight}")
        if hidden_grad and not use_hidden:
            raise ValueError("qtran hidden_grad=true needs use_hidden=true (and mixer option hidden_dim = the "
                             "agents' hidden_dim): it lets L_td train the agents through Q_jt's hidden-state inputs")
        self.opt_weight, self.nopt_weight, self.use_hidden = opt_weight, nopt_weight, use_hidden
        # pymarl's qtran_learner feeds Q_jt the agents' GRU outputs without a stop-gradient, so L_td
        # also trains the agents' recurrent features; the paper's form (default) keeps them apart
        self.hidden_grad = hidden_grad

    def _onehot(self, actions: torch.Tensor) -> torch.Tensor:
        return F.one_hot(actions, self.n_actions).float()  # (..., N, A)

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        inputs = self.agent_inputs(batch)  # (B, T+1, N, in)
        q_all, hs = self.unroll(self.agent, inputs, batch)  # (B, T+1, N, A), (B, T+1, N, H)
        hidden = (hs if self.hidden_grad else hs.detach()) if self.use_hidden else None
        state, avail = batch.state, batch.avail
        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)

        # --- td: Q_jt(s_t, u_t) -> r + γ Q_jt^target(s_{t+1}, ū_{t+1}) --------------------------
        h_now = hidden[:, :-1] if hidden is not None else None
        q_jt = self.mixer.q_jt(state[:, :-1], self._onehot(batch.actions), h_now)  # (B, T, 1)
        with torch.no_grad():
            # double_q (pymarl's qtran_learner): the online agents pick ū_{t+1}, the target nets value it;
            # otherwise the target agents pick it too
            target_q, target_hs = self.unroll(self.target_agent, inputs, batch)  # (B, T+1, N, A), (…, H)
            next_greedy = self.next_greedy(q_all[:, 1:], target_q[:, 1:], avail[:, 1:])  # (B, T, N)
            h_next = target_hs[:, 1:] if self.use_hidden else None
            next_jt = self.target_mixer.q_jt(state[:, 1:], self._onehot(next_greedy), h_next)  # (B, T, 1)
            targets = td_targets(batch, next_jt, cfg.gamma, cfg.td_lambda)  # (B, T, 1)
        l_td = masked_mean((q_jt - targets).pow(2), mask)

        # --- opt: at the greedy joint action ū --------------------------------------------------
        q_now = q_all[:, :-1]  # (B, T, N, A)
        greedy = greedy_actions(q_now.detach(), avail[:, :-1])  # (B, T, N)
        q_prime_opt = gather_actions(q_now, greedy).sum(-1, keepdim=True)  # (B, T, 1)
        q_jt_opt = self.mixer.q_jt(state[:, :-1], self._onehot(greedy), h_now).detach()  # (B, T, 1)
        v = self.mixer.v(state[:, :-1])  # (B, T, 1)
        l_opt = masked_mean((q_prime_opt - q_jt_opt + v).pow(2), mask)

        # --- nopt: at the taken joint action u ----------------------------------------------------
        q_prime = gather_actions(q_now, batch.actions).sum(-1, keepdim=True)  # (B, T, 1)
        gap = q_prime - q_jt.detach() + v
        l_nopt = masked_mean(gap.clamp(max=0.0).pow(2), mask)

        loss = l_td + self.opt_weight * l_opt + self.nopt_weight * l_nopt
        return loss, {
            "losses/td": float(l_td.detach()), "losses/opt": float(l_opt.detach()),
            "losses/nopt": float(l_nopt.detach()), "train/q_tot_mean": float(masked_mean(q_jt.detach(), mask)),
        }
