"""Build agent, mixer and learner from a config and an env's facts (one place for all callers)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from decomp.core.agents import AgentInputs, agent_input_dim, make_agent
from decomp.config.schema import Config
from decomp.envs.base import EnvInfo
from decomp.core.learners import Learner
from decomp.core.methods import get_method
from decomp.core.mixers import Dims


def build_modules(cfg: Config, info: EnvInfo) -> tuple[nn.Module, nn.Module]:
    in_dim = agent_input_dim(info.obs_dim, info.n_agents, info.n_actions, cfg.agent_id, cfg.last_action)
    agent = make_agent(cfg.agent, in_dim, info.n_actions, cfg.hidden_dim)
    dims = Dims(info.n_agents, info.state_dim, info.feat_dim, info.n_actions, info.obs_dim)
    mixer = get_method(cfg.method.name).build_mixer(dims, cfg.method.options)
    if cfg.method.init_scale > 0:
        scale_init(mixer, cfg.method.init_scale)
    return agent, mixer


def scale_init(module: nn.Module, gain: float) -> None:
    """Orthogonal init with ``gain`` and zero bias for every Linear layer of ``module``.

    Why: with PyTorch's default init QMIX's hypernetworks start with |W| ~ 1 and Q_tot of a few
    units; on SMAX 2s3z that start never recovers (late-episode Q_tot inflates to 20-60 while
    the return is ~0.1, attack looks worse than fleeing). Starting the mixer near 0, as JaxMARL's
    SMAX baselines do (MIXER_INIT_SCALE 0.001), keeps Q_tot grounded (docs/benchmarks.md). Adam's
    steps do not shrink with the gradients, so the small layers still learn at the usual pace.
    """
    layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
    for layer in layers:
        nn.init.orthogonal_(layer.weight, gain=gain)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def build_learner(cfg: Config, info: EnvInfo, device: torch.device | None = None) -> Learner:
    """The run's learner, its modules on ``device`` (default: the CPU)."""
    agent, mixer = build_modules(cfg, info)
    if device is not None:
        agent, mixer = agent.to(device), mixer.to(device)
    rule = cfg.learner
    if cfg.regime != "replay":  # the trainer syncs the targets (each on-policy round's start; handover.*), never the learner
        rule = replace(rule, target_update_interval=0, target_tau=0.0)
    return get_method(cfg.method.name).build_learner(agent, mixer, info, rule, cfg.method.learner,
                                                    AgentInputs(cfg.agent_id, cfg.last_action))
