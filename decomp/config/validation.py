"""Range and name checks of a :class:`~decomp.config.schema.Config`, before any work starts.

Apart from the schema because the checks read the method registry (:mod:`decomp.core.methods`), which
itself builds on the schema's learner settings: the schema stays free of the methods, so neither imports
the other in a circle.
"""

from __future__ import annotations

import re

from decomp.config.schema import CHOICES, Config, ConfigError, get_key
from decomp.core.methods import METHODS, BadOptions
from decomp.core.mixers.kinds import Kind


def validate(cfg: Config) -> None:
    """Refuse bad settings before any work starts."""
    from games import GAMES  # noqa: PLC0415  (the matrix games package, outside decomp)

    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(msg)

    need(cfg.env.name in CHOICES["env.name"], f"env={cfg.env.name!r} is unknown; valid envs: {', '.join(CHOICES['env.name'])}")
    need(cfg.method.name in METHODS, f"method={cfg.method.name!r} is unknown; valid methods: {', '.join(sorted(METHODS))}")
    try:
        METHODS[cfg.method.name].mixer_options(cfg.method.options)
        METHODS[cfg.method.name].learner_options(cfg.method.learner)
    except BadOptions as err:
        raise ConfigError(str(err)) from None
    if cfg.env.name == "matrix":
        need(cfg.env.game in GAMES, f"env.game={cfg.env.game!r} is unknown; valid games: {', '.join(sorted(GAMES))}")
    for key, value in (("env.backend", cfg.env.backend), ("data", cfg.data), ("regime", cfg.regime), ("agent", cfg.agent),
                       ("learner.optimizer", cfg.learner.optimizer), ("learner.lr_schedule", cfg.learner.lr_schedule),
                       ("logger", cfg.logger)):
        need(value in CHOICES[key], f"{key}={value!r}; allowed: {', '.join(CHOICES[key])}")
    need(cfg.device in CHOICES["device"] or re.fullmatch(r"cuda:\d+", cfg.device) is not None,
         f"device={cfg.device!r}; allowed: {', '.join(CHOICES['device'])} or cuda:N")
    for name in ("t_max", "batch_size", "buffer_size", "episodes_per_update", "updates_per_round",
                 "hidden_dim", "log_interval", "save_interval", "steps_per_collect", "final_eval_rounds", "epochs"):
        need(getattr(cfg, name) > 0, f"{name} must be a positive integer, got {getattr(cfg, name)}")
    need(cfg.env.n_envs > 0 and cfg.env.eval_envs > 0,
         f"env.n_envs and env.eval_envs must be >= 1, got {cfg.env.n_envs}, {cfg.env.eval_envs}")
    need(cfg.eval_interval >= 0, f"eval_interval must be >= 0, got {cfg.eval_interval}")
    need(0.0 <= cfg.ema_decay < 1.0, f"ema_decay must lie in [0, 1) (0 = off; 0.99-0.999 averages the last "
                                     f"100-1000 updates), got {cfg.ema_decay}")
    need(cfg.epsilon_anneal_steps > 0, f"epsilon_anneal_steps must be > 0, got {cfg.epsilon_anneal_steps}")
    for name in ("epsilon_start", "epsilon_finish", "learner.gamma", "learner.td_lambda", "learner.target_tau"):
        v = get_key(cfg, name)
        need(0.0 <= v <= 1.0, f"{name} must lie in [0, 1], got {v}")
    need(cfg.learner.lr > 0, f"learner.lr must be > 0, got {cfg.learner.lr}")
    need(0.0 <= cfg.learner.lr_finish <= cfg.learner.lr,
         f"learner.lr_finish must lie in [0, learner.lr = {cfg.learner.lr}], got {cfg.learner.lr_finish}")
    need(cfg.learner.target_update_interval > 0 or cfg.learner.target_tau > 0 or cfg.regime != "replay",
         f"learner.target_update_interval must be a positive integer, got {cfg.learner.target_update_interval} "
         "(0 = never on its own, which only regime=onpolicy allows: it syncs the targets each round)")
    need(cfg.learner.target_update_interval >= 0,
         f"learner.target_update_interval must be >= 0, got {cfg.learner.target_update_interval}")
    if cfg.regime != "replay":
        need(METHODS[cfg.method.name].kind is not Kind.POLICY, f"regime={cfg.regime} trains value methods on λ-returns; "
             f"method={cfg.method.name} is an actor-critic with its own on-policy data (use regime=replay)")
        need(cfg.episodes_per_update <= cfg.buffer_size,
             f"regime={cfg.regime} keeps each round's episodes in the buffer: buffer_size ({cfg.buffer_size}) must be >= "
             f"episodes_per_update ({cfg.episodes_per_update})")
    if cfg.regime == "onpolicy_replay":
        validate_handover(cfg)
    need(cfg.method.init_scale >= 0, f"method.init_scale must be >= 0 (0 = default init), got {cfg.method.init_scale}")
    need(cfg.learner.grad_clip > 0, f"learner.grad_clip must be > 0, got {cfg.learner.grad_clip}")
    need(len(set(cfg.seeds)) == len(cfg.seeds), f"seeds must be distinct, got {list(cfg.seeds)}")
    need(cfg.batch_size <= cfg.buffer_size, f"batch_size ({cfg.batch_size}) must be <= buffer_size ({cfg.buffer_size})")


def validate_handover(cfg: Config) -> None:
    """regime=onpolicy_replay: the replay phase's settings."""
    hand = cfg.handover
    if hand.at < 0:
        raise ConfigError(f"handover.at is the env step where replay takes over and must be >= 0, got {hand.at}")
    for key in ("batch_size", "episodes_per_update", "target_update_interval"):
        if getattr(hand, key) <= 0:
            raise ConfigError(f"handover.{key} must be a positive integer, got {getattr(hand, key)}")
    for key in ("td_lambda", "epsilon"):
        if getattr(hand, key) is not None and not 0.0 <= getattr(hand, key) <= 1.0:
            raise ConfigError(f"handover.{key} must lie in [0, 1] (or null: unchanged), got {getattr(hand, key)}")
    if hand.lr < 0:
        raise ConfigError(f"handover.lr must be >= 0 (0 = learner.lr's schedule goes on), got {hand.lr}")
    if hand.batch_size > cfg.buffer_size:
        raise ConfigError(f"handover.batch_size ({hand.batch_size}) must be <= buffer_size ({cfg.buffer_size}): "
                          "the replay phase samples its batches from the buffer")
