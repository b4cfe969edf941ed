"""What every learner shares: agent + mixer, their target copies, optimiser, target updates."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from decomp.agents import build_inputs
from decomp.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.learners.ops import (  # re-exported: older callers import these from here
    gather_actions, greedy_actions, lambda_returns, masked_mean, mix_live, td_targets, usable_avail,
)

__all__ = [
    "Learner", "LearnerConfig", "make_optimizer", "gather_actions", "greedy_actions", "lambda_returns",
    "masked_mean", "mix_live", "td_targets", "usable_avail",
]


@dataclass
class LearnerConfig:
    gamma: float = 0.99
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | rmsprop
    grad_clip: float = 10.0
    double_q: bool = True
    td_lambda: float = 0.0  # 0 = one-step TD targets
    target_update_interval: int = 200  # updates between hard target copies (ignored if target_tau > 0)
    target_tau: float = 0.0  # > 0: soft (Polyak) target update every step
    agent_id: bool = True
    last_action: bool = True


def make_optimizer(name: str, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-5)
    raise ValueError(f"unknown optimizer {name!r}; valid: adam, rmsprop")


class Learner:
    """Owns the trainable modules; subclasses implement :meth:`loss`."""

    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig) -> None:
        self.agent, self.mixer, self.info, self.cfg = agent, mixer, info, cfg
        self.n_actions = info.n_actions
        self.target_agent = copy.deepcopy(agent).requires_grad_(False)
        self.target_mixer = copy.deepcopy(mixer).requires_grad_(False)
        self.params = list(agent.parameters()) + list(mixer.parameters())
        self.optimizer = make_optimizer(cfg.optimizer, self.params, cfg.lr)
        self.updates = 0

    # ---- helpers shared by the losses --------------------------------------------------------
    def agent_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """(B, T+1, N, in): obs plus id one-hot and the previous action (-1 at t=0)."""
        b, t1, n = batch.obs.shape[:3]
        last = torch.cat([torch.full((b, 1, n), -1, dtype=torch.long), batch.actions], dim=1)[:, :t1]
        return build_inputs(batch.obs, last, self.n_actions, self.cfg.agent_id, self.cfg.last_action)

    @staticmethod
    def unroll(agent: nn.Module, inputs: torch.Tensor, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Run an agent over a padded batch, skipping padding: (B, T+1, N, in) -> (B, T+1, N, A), (…, H).

        An episode of L live steps needs its first L+1 observation slots (the last one is the
        bootstrap state); outputs past those are finite and never used.
        """
        t1 = inputs.shape[1]
        lengths = (batch.mask.sum(1).long() + 1).clamp(max=t1)  # (B,)
        return agent(inputs, lengths=lengths)

    def next_greedy(self, online_q: torch.Tensor, target_q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
        """ū for the bootstrap: (..., A) -> (...). With ``double_q`` the online agents pick it (the
        target nets then value it), which curbs max-operator overestimation; else the target agents."""
        return greedy_actions(online_q.detach() if self.cfg.double_q else target_q, avail)

    def loss(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    # ---- one update ----------------------------------------------------------------------------
    def train(self, batch: EpisodeBatch) -> dict[str, float]:
        loss, logs = self.loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at update {self.updates}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.optimizer.step()
        self.updates += 1
        self.update_targets()
        logs["losses/total"] = float(loss.detach())
        logs["losses/grad_norm"] = float(grad_norm)
        return logs

    @torch.no_grad()
    def update_targets(self) -> None:
        if self.cfg.target_tau > 0:
            tau = self.cfg.target_tau
            for online, target in ((self.agent, self.target_agent), (self.mixer, self.target_mixer)):
                for p, tp in zip(online.parameters(), target.parameters()):
                    tp.lerp_(p, tau)
        elif self.updates % self.cfg.target_update_interval == 0:
            self.target_agent.load_state_dict(self.agent.state_dict())
            self.target_mixer.load_state_dict(self.mixer.state_dict())

    def state_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent.state_dict(), "mixer": self.mixer.state_dict(),
            "target_agent": self.target_agent.state_dict(), "target_mixer": self.target_mixer.state_dict(),
            "optimizer": self.optimizer.state_dict(), "updates": self.updates,
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.agent.load_state_dict(sd["agent"])
        self.mixer.load_state_dict(sd["mixer"])
        self.target_agent.load_state_dict(sd["target_agent"])
        self.target_mixer.load_state_dict(sd["target_mixer"])
        self.optimizer.load_state_dict(sd["optimizer"])
        self.updates = sd["updates"]
