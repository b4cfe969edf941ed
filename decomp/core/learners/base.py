"""What every learner shares: agent + mixer, their target copies, optimiser, target updates."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from decomp.config.schema import LearnerConfig
from decomp.core.agents import AgentInputs, build_inputs
from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.ops import greedy_actions

__all__ = ["Learner", "LearnerConfig", "make_optimizer"]


def make_optimizer(name: str, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """``foreach``: one op per step over all parameters instead of one per tensor (on CPU torch
    defaults to the per-tensor loop); the same arithmetic, so the same updates bit for bit."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, foreach=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-5, foreach=True)
    raise ValueError(f"unknown optimizer {name!r}; valid: adam, rmsprop")


class Learner:
    """Owns the trainable modules; subclasses implement :meth:`loss`.

    Every trainable module is registered once as an (online, target) pair under a name; target
    sync, the optimiser, gradient clipping and checkpoints all walk that one registry, so a
    method with extra networks (WQMIX's central agents) only names them in :meth:`extra_modules`.
    Checkpoint keys are the names and ``target_<name>`` ("agent", "mixer", "target_agent", ...).
    """

    policy_kind = "egreedy"  # the behaviour policy it trains (decomp.rollout.policy.PolicyKind): ε-greedy on Q-values

    def __init__(self, agent: nn.Module, mixer: nn.Module, info: EnvInfo, cfg: LearnerConfig, *,
                 inputs: AgentInputs = AgentInputs()) -> None:
        """``inputs``: the agents' inputs besides obs (the run's agent_id, last_action); the registry passes
        them, so a subclass that defines ``__init__`` takes ``inputs`` and hands it on."""
        self.agent, self.mixer, self.info, self.cfg, self.inputs = agent, mixer, info, cfg, inputs
        self.n_actions = info.n_actions
        self.pairs: dict[str, tuple[nn.Module, nn.Module]] = {}  # name -> (online, target), in params order
        self.target_agent = self.register("agent", agent)
        self.target_mixer = self.register("mixer", mixer)
        for name, module in self.extra_modules().items():
            module = module.to(self.device)  # on the agent's device, wherever extra_modules() built it
            setattr(self, name, module)
            setattr(self, f"target_{name}", self.register(name, module))
        self.params = [p for online, _ in self.pairs.values() for p in online.parameters()]
        self.optimizer = make_optimizer(cfg.optimizer, self.params, cfg.lr)
        self.updates = 0

    def register(self, name: str, online: nn.Module) -> nn.Module:
        """Add a trainable module and return its frozen target copy (synced with the others)."""
        if hasattr(self, "optimizer"):
            raise RuntimeError(f"register {name!r} from extra_modules(): the optimiser is already built")
        if name in self.pairs:
            raise ValueError(f"module {name!r} is already registered")
        target = copy.deepcopy(online).requires_grad_(False)
        self.pairs[name] = (online, target)
        return target

    def extra_modules(self) -> dict[str, nn.Module]:
        """Trainable modules beyond agent and mixer, by name (becomes ``self.<name>`` and
        ``self.target_<name>``); called once, before the optimiser is built, so it covers them."""
        return {}

    # ---- helpers shared by the losses --------------------------------------------------------
    def agent_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """(B, T+1, N, in): obs plus id one-hot and the previous action (-1 at t=0)."""
        b, t1, n = batch.obs.shape[:3]
        start = torch.full((b, 1, n), -1, dtype=torch.long, device=batch.actions.device)  # (B, 1, N)
        last = torch.cat([start, batch.actions], dim=1)[:, :t1]
        return build_inputs(batch.obs, last, self.n_actions, self.inputs.agent_id, self.inputs.last_action)

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
    @property
    def device(self) -> torch.device:
        """Where the learner's modules live (``device=`` of the run); batches are moved there."""
        return next(self.agent.parameters()).device

    def scale_lr(self, scale: float) -> None:
        """Set every parameter group's lr to ``scale`` × the lr it was built with (the run's schedule,
        decomp.config.schema.lr_scale_at, calls this before each update)."""
        for group in self.optimizer.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * scale

    def set_td_lambda(self, td_lambda: float) -> None:
        """λ of the TD(λ) targets from the next update on (regime=onpolicy_replay's replay phase)."""
        if td_lambda != self.cfg.td_lambda:
            self.cfg = replace(self.cfg, td_lambda=td_lambda)

    def train(self, batch: EpisodeBatch, behaviour_epsilon: float = 0.0) -> dict[str, float]:
        """One update on ``batch``. ``behaviour_epsilon``: the ε its episodes were collected with; value
        learners are off-policy and do not need it, an actor-critic may (COMA's ``mixed_policy``)."""
        return self.step(*self.loss(batch.to(self.device)))

    def step(self, loss: torch.Tensor, logs: dict[str, float]) -> dict[str, float]:
        """One optimiser step on ``loss`` (clipped), then the target sync; returns ``logs`` completed."""
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at update {self.updates}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip, foreach=True)
        self.optimizer.step()
        self.updates += 1
        self.update_targets()
        logs["losses/total"] = float(loss.detach())
        logs["losses/grad_norm"] = float(grad_norm)
        return logs

    @torch.no_grad()
    def update_targets(self) -> None:
        """Polyak every update when ``target_tau`` > 0, else a hard copy every ``target_update_interval``
        updates (0: never here; the on-policy regime calls :meth:`sync_targets` at each round's start)."""
        if self.cfg.target_tau > 0:
            tau = self.cfg.target_tau
            for online, target in self.pairs.values():
                for p, tp in zip(online.parameters(), target.parameters()):
                    tp.lerp_(p, tau)
        elif self.cfg.target_update_interval > 0 and self.updates % self.cfg.target_update_interval == 0:
            self.sync_targets()

    @torch.no_grad()
    def sync_targets(self) -> None:
        """Every target module := its online module (a hard copy)."""
        for online, target in self.pairs.values():
            target.load_state_dict(online.state_dict())

    def state_dict(self) -> dict[str, Any]:
        sd: dict[str, Any] = {}
        for name, (online, target) in self.pairs.items():
            sd[name], sd[f"target_{name}"] = online.state_dict(), target.state_dict()
        sd["optimizer"], sd["updates"] = self.optimizer.state_dict(), self.updates
        return sd

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        for name, (online, target) in self.pairs.items():
            online.load_state_dict(sd[name])
            target.load_state_dict(sd[f"target_{name}"])
        self.optimizer.load_state_dict(sd["optimizer"])
        self.updates = sd["updates"]
