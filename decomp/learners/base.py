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

    policy_kind = "egreedy"  # the behaviour policy it trains (decomp.policy.PolicyKind): ε-greedy on Q-values

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


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over entries where mask is 1 (x and mask broadcast to the same shape)."""
    mask = mask.expand_as(x)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def greedy_actions(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """argmax over available actions: q, avail (..., A) -> (...) long."""
    return q.masked_fill(~avail, float("-inf")).argmax(-1)


def lambda_returns(
    reward: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor, next_q: torch.Tensor,
    gamma: float, lam: float,
) -> torch.Tensor:
    """TD(λ) targets. All (B, T, K); next_q[t] = target value of the state after step t.

    G_t = r_t + γ(1 − term_t)[(1 − λ) Q'_t + λ G_{t+1}], where G_{t+1} is replaced by Q'_t at the
    episode's last step. The recursion is inherently sequential over time; each step is
    vectorised over the batch and the value heads.
    """
    if lam == 0.0:
        return reward + gamma * (1.0 - terminated) * next_q
    t_len = reward.shape[1]
    out = torch.empty_like(next_q)
    g_next = next_q[:, -1]
    for t in range(t_len - 1, -1, -1):
        cont = mask[:, t + 1] if t + 1 < t_len else torch.zeros_like(mask[:, t])
        boot = cont * (lam * g_next + (1 - lam) * next_q[:, t]) + (1 - cont) * next_q[:, t]
        out[:, t] = reward[:, t] + gamma * (1.0 - terminated[:, t]) * boot
        g_next = out[:, t]
    return out
