"""Typed configuration: the schema and defaults of every run (the single source of truth).

Hydra composes ``decomp/conf/config.yaml`` (env, map, regime and method presets) on top of these dataclasses,
so a typo in a key or a wrong type is refused before any work starts;
:func:`decomp.config.validation.validate` then checks ranges and names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class EnvConfig:
    name: str = "matrix"
    """which env: matrix | smac"""
    game: str = "qtran"
    """matrix: preset game (qtran, qmix_easy, climbing, penalty, qplex3, two_step)"""
    penalty_k: float = -100.0
    """matrix: mis-coordination penalty of the penalty game"""
    map_name: str = "3m"
    """smac: map name (SMAC names; SMAX provides the same ones), set by the map preset (``map=2s3z``)"""
    backend: str = "auto"
    """smac: auto | sc2 | smax"""
    n_envs: int = 32
    """parallel envs stepped together"""
    eval_envs: int = 32
    """greedy evaluation episodes (one per env)"""
    reward_scale: float = 1.0
    """multiplies the env reward (SMAX rewards are ≤ ~2 per episode)"""
    reward: str = "native"
    """smac: native (the backend's own reward) | smac (SMAC's shaping: health removed + 10 per kill +
    200 per win; on SMAX computed from the units and rescaled to SMAX's maximum of 2 per episode)"""


@dataclass
class MethodConfig:
    """The method (``method=qatten``): its name and options, from ``decomp/conf/method/<name>.yaml``."""

    name: str = "qmix"
    """the method: a name registered in decomp.core.methods.METHODS (``python -m decomp.core.methods`` lists them)"""
    options: dict[str, Any] = field(default_factory=dict)
    """options of the method's mixer, typed and defaulted by its constructor, e.g. {n_heads: 4} for qatten"""
    learner: dict[str, Any] = field(default_factory=dict)
    """options of the method's learner, e.g. {opt_weight: 1.0, nopt_weight: 1.0} for qtran"""
    init_scale: float = 0.0
    """0 = PyTorch's default init; > 0 = every Linear layer of the mixer orthogonal with this gain and
    zero bias, so Q_tot starts near 0 (the SMAC preset uses 1e-3: see docs/benchmarks.md, "What made
    SMAX learn")"""


@dataclass
class LearnerConfig:
    """The learning rule every method shares (a method's own options live in ``method.learner``)."""

    gamma: float = 0.99
    lr: float = 1e-3
    lr_schedule: str = "constant"
    """constant | linear (from ``lr`` at env step 0 to ``lr_finish`` at ``t_max``, so the final policy stops
    drifting between evaluations; see docs/benchmarks.md, "The learning study")"""
    lr_finish: float = 0.0
    """linear: the learning rate reached at ``t_max``"""
    optimizer: str = "adam"
    """adam | rmsprop"""
    grad_clip: float = 10.0
    double_q: bool = True
    """the online agents pick the next greedy action, the target nets value it"""
    td_lambda: float = 0.0
    """0 = one-step targets; pymarl2 uses 0.6 on SMAC"""
    target_update_interval: int = 200
    """updates between hard target copies (ignored when target_tau > 0; 0 = only when the trainer syncs them,
    as regime=onpolicy does at the start of each round; unused by onpolicy and onpolicy_replay)"""
    target_tau: float = 0.0
    """> 0: soft (Polyak) target updates after every update instead"""


@dataclass
class HandoverConfig:
    """regime=onpolicy_replay: where on-policy rounds hand over to replay updates, and the replay's settings.

    On-policy rounds learn the most per CPU-second early on; a replay of many past episodes is what lifts the
    final policy (docs/benchmarks.md, "On-policy, then replay")."""

    at: int = 400_000
    """env step from which every update samples the replay (before it: on-policy rounds)"""
    batch_size: int = 64
    """episodes per replay update"""
    episodes_per_update: int = 2
    """collected episodes between two replay updates"""
    target_update_interval: int = 200
    """updates between hard target copies during the replay phase"""
    lr: float = 0.0
    """> 0: the replay phase's learning rate, constant (0: learner.lr's schedule goes on)"""
    td_lambda: Optional[float] = None
    """the replay phase's TD(λ) (None: learner.td_lambda throughout)"""
    epsilon: Optional[float] = None
    """the replay phase's exploration ε, constant (None: the ε schedule goes on)"""


@dataclass
class WandbConfig:
    """Where ``logger=wandb`` sends a run; W&B's own variables still apply (``WANDB_MODE=offline``, ...)."""

    project: str = "decomp"
    """the W&B project"""
    entity: str = ""
    """the W&B team or user ('' = your default entity)"""
    group: str = ""
    """'' = the folder that holds the run when it is a sweep's (-m) or a seed group's, so their runs are grouped;
    none for a lone run"""


# Keys that sat at the top level before the ``learner:`` node existed; saved configs of older runs
# are read with these moved into it (config_from_dict).
LEARNER_KEYS = ("gamma", "lr", "optimizer", "grad_clip", "double_q", "td_lambda", "target_update_interval",
                "target_tau")
# Method names of older runs (``mixer: {name: none}`` before the node became ``method:``) -> today's.
OLD_METHOD_NAMES = {"none": "iql"}


@dataclass
class Config:
    env: EnvConfig = field(default_factory=EnvConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    """where logger=wandb sends the run (decomp/training/wandb_sink.py)"""
    handover: HandoverConfig = field(default_factory=HandoverConfig)
    """regime=onpolicy_replay only: when and how the on-policy rounds give way to replay updates"""
    seed: int = 0
    """seeds torch, numpy and the envs"""
    seeds: list[int] = field(default_factory=list)
    """several seeds in one process, e.g. [0,1,2]: one run folder per seed under one group folder, each seed
    trained exactly as alone, SMAX envs of all seeds stepped together (empty = one run with ``seed``)"""
    t_max: int = 20_000
    """training budget in env steps (summed over parallel envs)"""
    agent: str = "rnn"
    """rnn (GRU over the episode) | rnn_ln (the same with LayerNorm before the GRU: PQN) | mlp"""
    hidden_dim: int = 64
    agent_id: bool = True
    """append the agent's id one-hot to its input"""
    last_action: bool = True
    """append the agent's previous action one-hot to its input"""
    data: str = "egreedy"
    """egreedy (annealed ε) | uniform (ε = 1 throughout: uniform exploration)"""
    regime: str = "replay"
    """replay (each update samples batch_size episodes from a replay of buffer_size) | onpolicy (PQN-style,
    no replay; each round trains on the episodes collected since the last one, at least episodes_per_update,
    for ``epochs`` passes in minibatches of about batch_size, with lambda-return targets from the weights the
    round started with; learner.target_update_interval and target_tau are unused) | onpolicy_replay (onpolicy
    until env step handover.at, then replay with the handover.* settings)"""
    epochs: int = 1
    """onpolicy: passes over each round's fresh episodes"""
    epsilon_start: float = 1.0
    epsilon_finish: float = 0.05
    epsilon_anneal_steps: int = 50_000
    """env steps over which ε falls linearly from start to finish"""
    buffer_size: int = 5000
    """replay capacity in episodes"""
    batch_size: int = 32
    """episodes per update"""
    episodes_per_update: int = 8
    """collected episodes between two updates"""
    updates_per_round: int = 1
    steps_per_collect: int = 1
    """vector steps per collection call (updates run between calls)"""
    eval_interval: int = 10_000
    """env steps between greedy evaluations (0 = only at the end)"""
    final_eval_rounds: int = 4
    """the last evaluation runs this many rounds of eval_envs episodes (less noise in the final number)"""
    ema_decay: float = 0.0
    """> 0: also evaluate an exponential moving average of the agent and mixer weights (decay per update) at
    every evaluation, on its own eval env (eval/ema_*; training is unchanged); 0 = off"""
    log_interval: int = 2_000
    logger: str = "tensorboard"
    """where the metrics go besides metrics.csv (always written): csv (nothing else) | tensorboard (tb/) | wandb
    (tb/ and a Weights & Biases run, an optional extra)"""
    save_interval: int = 50_000
    """env steps between checkpoints (also saved at the end)"""
    run_dir: str = "runs"
    """parent folder of run folders"""
    run_name: str = ""
    """empty: <env>-<game|map>__<method>__<seed>__<time>"""
    resume: str = ""
    """run folder or checkpoint file to continue"""
    progress: bool = True
    """show a progress bar"""
    threads: int = 0
    """torch threads (0 = leave torch's default)"""
    device: str = "auto"
    """torch device of the learner (auto = cuda if torch sees a GPU, else cpu; cuda:N also allowed; acting, replay and
    SMAX, which runs in JAX, stay where they are): auto | cpu | cuda"""


# The allowed values of the enumerated settings: validate() checks them and a test checks that each
# field's docstring lists exactly these (so the schema's documentation cannot drift).
CHOICES: dict[str, tuple[str, ...]] = {
    "env.name": ("matrix", "smac"),
    "env.backend": ("auto", "sc2", "smax"),
    "agent": ("rnn", "rnn_ln", "mlp"),
    "data": ("egreedy", "uniform"),
    "regime": ("replay", "onpolicy", "onpolicy_replay"),
    "learner.optimizer": ("adam", "rmsprop"),
    "learner.lr_schedule": ("constant", "linear"),
    "device": ("auto", "cpu", "cuda"),
    "logger": ("csv", "tensorboard", "wandb"),
}


class ConfigError(ValueError):
    """A configuration value is out of range or unknown; the message says what is allowed."""


def in_replay_phase(cfg: Config, env_steps: int) -> bool:
    """regime=onpolicy_replay from env step ``handover.at`` on: the handover.* settings apply."""
    return cfg.regime == "onpolicy_replay" and env_steps >= cfg.handover.at


def epsilon_at(cfg: Config, env_steps: int) -> float:
    """Linear ε schedule; ``data=uniform`` explores uniformly (ε = 1) throughout."""
    if cfg.data == "uniform":
        return 1.0
    if cfg.handover.epsilon is not None and in_replay_phase(cfg, env_steps):
        return cfg.handover.epsilon
    frac = min(1.0, env_steps / cfg.epsilon_anneal_steps)
    return cfg.epsilon_start + frac * (cfg.epsilon_finish - cfg.epsilon_start)


def lr_scale_at(cfg: Config, env_steps: int) -> float:
    """The next update's learning rate as a fraction of ``learner.lr``: 1 throughout, or linear to
    ``lr_finish / lr`` at ``t_max``. A function of the env step alone, so a resumed run continues the same
    schedule; a fraction, so a method with its own lr (QPLEX's option) follows the same shape.
    regime=onpolicy_replay with ``handover.lr`` > 0: that rate, constant, from ``handover.at`` on."""
    if cfg.handover.lr > 0 and in_replay_phase(cfg, env_steps):
        return cfg.handover.lr / cfg.learner.lr
    if cfg.learner.lr_schedule == "constant":
        return 1.0
    frac = min(1.0, env_steps / cfg.t_max)
    return 1.0 + frac * (cfg.learner.lr_finish / cfg.learner.lr - 1.0)


def td_lambda_at(cfg: Config, env_steps: int) -> float:
    """λ of the next update's TD(λ) targets: ``learner.td_lambda``, or ``handover.td_lambda`` in
    regime=onpolicy_replay's replay phase (a function of the env step, so a resumed run gets it back)."""
    if cfg.handover.td_lambda is not None and in_replay_phase(cfg, env_steps):
        return cfg.handover.td_lambda
    return cfg.learner.td_lambda


def get_key(cfg: Any, dotted: str) -> Any:
    """``get_key(cfg, "learner.lr")`` -> cfg.learner.lr; dict nodes too (``method.learner.nopt_weight``)."""
    for part in dotted.split("."):
        cfg = cfg[part] if isinstance(cfg, dict) else getattr(cfg, part)
    return cfg


def set_key(cfg: Any, dotted: str, value: Any) -> None:
    """``set_key(cfg, "learner.lr", 0.01)``; an unknown key raises ConfigError naming it."""
    *path, last = dotted.split(".")
    node = cfg
    for part in path:
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
    if isinstance(node, dict) and last in node:
        node[last] = value
        return
    if node is None or isinstance(node, dict) or not hasattr(node, last):
        raise ConfigError(f"unknown config key {dotted!r}")
    setattr(node, last, value)


def migrate_saved(data: dict[str, Any]) -> dict[str, Any]:
    """A saved config (config.yaml, a checkpoint's or group.json's copy) in today's keys, so older runs still
    resume and load: the learning-rule keys once sat at the top level (LEARNER_KEYS), and the method was the
    ``mixer:`` node with IQL named ``none`` (OLD_METHOD_NAMES)."""
    data = dict(data)
    legacy = {k: data.pop(k) for k in LEARNER_KEYS if k in data}
    if legacy:
        data["learner"] = {**legacy, **dict(data.get("learner") or {})}
    if "mixer" in data and "method" not in data:
        data["method"] = dict(data.pop("mixer") or {})
    method = data.get("method")
    if isinstance(method, dict) and method.get("name") in OLD_METHOD_NAMES:
        data["method"] = {**method, "name": OLD_METHOD_NAMES[method["name"]]}
    return data


def config_from_dict(data: dict[str, Any]) -> Config:
    """A typed Config from a plain dict (a saved config.yaml or a checkpoint's copy, older ones migrated), validated
    by type."""
    from omegaconf import OmegaConf

    merged = OmegaConf.merge(OmegaConf.structured(Config), migrate_saved(data))
    return OmegaConf.to_object(merged)  # type: ignore[return-value]
