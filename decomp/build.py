"""Build agent, mixer and learner from a config and an env's facts (one place for all callers)."""

from __future__ import annotations

from torch import nn

from decomp.agents import agent_input_dim, make_agent
from decomp.config import Config
from decomp.envs.base import EnvInfo
from decomp.learners import Learner, LearnerConfig, make_learner
from decomp.mixers import make_mixer


def build_modules(cfg: Config, info: EnvInfo) -> tuple[nn.Module, nn.Module]:
    in_dim = agent_input_dim(info.obs_dim, info.n_agents, info.n_actions, cfg.agent_id, cfg.last_action)
    agent = make_agent(cfg.agent, in_dim, info.n_actions, cfg.hidden_dim)
    options = dict(cfg.mixer.options)
    mixer = make_mixer(cfg.mixer.name, info.n_agents, info.state_dim, info.feat_dim, info.n_actions, **options)
    return agent, mixer


def learner_config(cfg: Config) -> LearnerConfig:
    return LearnerConfig(
        gamma=cfg.gamma, lr=cfg.lr, optimizer=cfg.optimizer, grad_clip=cfg.grad_clip, double_q=cfg.double_q,
        td_lambda=cfg.td_lambda, target_update_interval=cfg.target_update_interval, target_tau=cfg.target_tau,
        agent_id=cfg.agent_id, last_action=cfg.last_action,
    )


def build_learner(cfg: Config, info: EnvInfo) -> Learner:
    agent, mixer = build_modules(cfg, info)
    return make_learner(cfg.mixer.name, agent, mixer, info, learner_config(cfg), **dict(cfg.mixer.learner))
