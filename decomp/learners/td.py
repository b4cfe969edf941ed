"""Masked TD learning of Q_tot for value-mixing methods (IQL, VDN, QMIX, Qatten, ...)."""

from __future__ import annotations

import torch

from decomp.buffer import EpisodeBatch
from decomp.learners.base import Learner
from decomp.learners.ops import gather_actions, masked_mean, mix_live, td_targets


class TDLearner(Learner):
    """Q_tot(s_t, u_t) regressed on r_t + γ Q_tot^target(s_{t+1}, ū_{t+1}), masked over padding.

    With double-Q, ū is the online agents' greedy action and the target nets evaluate it.
    Mixers may add an auxiliary loss via ``mixer.extras["aux_loss"]`` (Qatten's regulariser).
    """

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        inputs = self.agent_inputs(batch)  # (B, T+1, N, in)
        q_all, _ = self.unroll(self.agent, inputs, batch)  # (B, T+1, N, A)
        chosen = gather_actions(q_all[:, :-1], batch.actions)  # (B, T, N)
        q_tot = mix_live(self.mixer, chosen, batch.state[:, :-1], batch.feats[:, :-1], batch.mask)  # (B, T, K)
        aux = self.mixer.extras.get("aux_loss")
        extras = dict(self.mixer.extras)

        with torch.no_grad():
            target_q, _ = self.unroll(self.target_agent, inputs, batch)  # (B, T+1, N, A)
            next_avail = batch.avail[:, 1:]  # (B, T, N, A)
            next_act = self.next_greedy(q_all[:, 1:], target_q[:, 1:], next_avail)  # (B, T, N)
            next_q = gather_actions(target_q[:, 1:], next_act)  # (B, T, N)
            next_tot = mix_live(self.target_mixer, next_q, batch.state[:, 1:], batch.feats[:, 1:], batch.mask)  # (B, T, K)
            targets = td_targets(batch, next_tot, cfg.gamma, cfg.td_lambda)  # (B, T, K)

        mask = batch.mask.unsqueeze(-1)  # (B, T, 1)
        td = q_tot - targets
        loss = masked_mean(td.pow(2), mask)
        logs = {
            "losses/td": float(loss.detach()),
            "train/q_tot_mean": float(masked_mean(q_tot.detach(), mask)),
            "train/target_mean": float(masked_mean(targets, mask)),
        }
        if aux is not None:
            loss = loss + aux
            logs["losses/aux"] = float(aux.detach())
        for key, value in extras.items():
            if key in ("head_entropy", "lambda"):
                for i, v in enumerate(value.tolist()):
                    logs[f"qatten/{key}/{i}"] = v
        return loss, logs
