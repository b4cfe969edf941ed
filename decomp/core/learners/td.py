"""Masked TD learning of Q_tot for value-mixing methods (IQL, VDN, QMIX, Qatten, QPLEX, ...)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from decomp.core.buffer import EpisodeBatch
from decomp.core.learners.base import Learner
from decomp.core.ops import gather_actions, masked_mean, mix_live, td_targets, usable_avail

NOW, NEXT = slice(None, -1), slice(1, None)  # the batch's observation slots of step t and of t+1


class TDLearner(Learner):
    """Q_tot(s_t, u_t) regressed on r_t + γ Q_tot^target(s_{t+1}, ū_{t+1}), masked over padding.

    With double-Q, ū is the online agents' greedy action and the target nets evaluate it.
    Methods differ only in how a joint action's Q^i become Q_tot: :meth:`mix_chosen`.
    Mixers may add an auxiliary loss via ``mixer.extras["aux_loss"]`` (Qatten's regulariser); their
    other extras are per-index diagnostics, logged as ``<mixer.log_prefix>/<key>/<i>``.
    """

    # open padded rows (nothing available) before the greedy next action, for mixers that see them
    open_padded_avail: ClassVar[bool] = False

    def mix_chosen(
        self, mixer: nn.Module, q: torch.Tensor, actions: torch.Tensor, batch: EpisodeBatch, steps: slice,
    ) -> torch.Tensor:
        """Q_tot of a joint action: q (B, T, N, A) all Q^i at the batch's slots ``steps`` (NOW or NEXT),
        actions (B, T, N) -> (B, T, K). Value mixers see only the chosen Q^i, on live steps."""
        chosen = gather_actions(q, actions)  # (B, T, N)
        return mix_live(mixer, chosen, batch.state[:, steps], batch.feats[:, steps], batch.mask)  # (B, T, K)

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        inputs = self.agent_inputs(batch)  # (B, T+1, N, in)
        q_all, _ = self.unroll(self.agent, inputs, batch)  # (B, T+1, N, A)
        q_tot = self.mix_chosen(self.mixer, q_all[:, NOW], batch.actions, batch, NOW)  # (B, T, K)
        aux = self.mixer.extras.get("aux_loss")
        extras = dict(self.mixer.extras)

        with torch.no_grad():
            target_q, _ = self.unroll(self.target_agent, inputs, batch)  # (B, T+1, N, A)
            next_avail = batch.avail[:, NEXT]  # (B, T, N, A)
            if self.open_padded_avail:
                next_avail = usable_avail(next_avail)
            next_act = self.next_greedy(q_all[:, NEXT], target_q[:, NEXT], next_avail)  # (B, T, N)
            next_tot = self.mix_chosen(self.target_mixer, target_q[:, NEXT], next_act, batch, NEXT)  # (B, T, K)
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
        prefix = getattr(self.mixer, "log_prefix", "mixer")
        for key, value in extras.items():
            if key != "aux_loss":
                logs.update({f"{prefix}/{key}/{i}": v for i, v in enumerate(value.tolist())})
        return loss, logs
