"""In-memory matrix-game training: one call trains a mixer on a game and returns its tables.

Used by the tests, the explorer, the theory checks and the matrix report; it goes through the same
runner, replay and learner as every other env (:class:`decomp.training.trainer.Trainer`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from decomp.config.schema import Config, LearnerConfig, config_from_dict, set_key
from decomp.core.agents import AgentInputs
from decomp.envs.matrix import MatrixEnv
from decomp.core.methods import kind_of
from decomp.core.mixers import JointCritic, Kind, describe
from decomp.rollout.policy import Policy
from games import Payoff, TwoStepGame, make_game

DIVERGENCE_FACTOR = 10.0
"""A run has diverged when a learned value (Q_tot, or a Q^i) is non-finite or exceeds this many times the
game's largest |reward|: no return of a matrix game comes near that, so such a table is not a solution even
if its argmax happens to land on the optimum (QPLEX seed 4 on the QTRAN game reached Q_tot(A,A) = 622)."""


def divergence_bound(payoff: np.ndarray, optimum: float) -> float:
    """DIVERGENCE_FACTOR × the largest |reward| (of the table and of the optimal return, for two-step)."""
    return DIVERGENCE_FACTOR * max(float(np.abs(payoff).max()), abs(float(optimum)), 1.0)


def is_diverged(values: list[np.ndarray], bound: float) -> bool:
    """True when any entry of any array is non-finite or has |·| > bound."""
    return any(not np.all(np.isfinite(v)) or bool(np.any(np.abs(v) > bound)) for v in values)


@dataclass
class MatrixRun:
    game: str
    method: str
    seed: int
    data: str  # "uniform" (ε = 1) or "egreedy"
    payoff: np.ndarray  # (k_1, ..., k_n) true team reward (two-step: the 2B stage)
    q_tot: np.ndarray  # (k_1, ..., k_n) learned joint value (Q_jt for qtran, Σ Q^i for iql)
    agent_qs: list[np.ndarray]  # per agent (k_i,)
    greedy: tuple[int, ...]  # the policy's ε = 0 pick: argmax of each agent's Q^i over its available actions
    optimal: bool  # the greedy policy earns the optimal return and the run has not diverged
    losses: np.ndarray  # (n_updates,) total loss per update
    extra_tables: dict[str, np.ndarray] = field(default_factory=dict)
    mixer: nn.Module | None = None
    state: torch.Tensor | None = None  # (state_dim,) the state the tables are taken at
    feats: torch.Tensor | None = None  # (n_agents, feat_dim)
    greedy_return: float = float("nan")
    diverged: bool = False  # a learned value is non-finite or beyond divergence_bound (see is_diverged)

    @property
    def is_function_of_q(self) -> bool:
        return self.mixer is not None and describe(kind_of(self.mixer)).function_of_q

    def mix(self, qs: np.ndarray) -> np.ndarray | None:
        """Q_tot at the tables' state for arbitrary utilities qs (..., n_agents); None when the mixer
        is not a function of the Q^i (qtran's Q_jt, IQL)."""
        if not self.is_function_of_q:
            return None
        assert self.mixer is not None and self.state is not None and self.feats is not None
        q = torch.as_tensor(np.asarray(qs), dtype=torch.float32)
        batch = q.shape[:-1]
        dev = _device_of(self.mixer)
        with torch.no_grad():
            out = self.mixer(q.to(dev), self.state.to(dev).expand(*batch, -1),
                             self.feats.to(dev).expand(*batch, *self.feats.shape))
        return out[..., 0].cpu().numpy()


class StateTables(NamedTuple):
    """The learned tables at one state of a matrix game, and the policy's greedy pick there."""

    q_tot: np.ndarray  # (k_1, ..., k_n) learned joint value
    agent_qs: list[np.ndarray]  # per agent (k_i,)
    extras: dict[str, np.ndarray]
    state: torch.Tensor  # (S,)
    feats: torch.Tensor  # (N, F)
    greedy: tuple[int, ...]  # the policy's ε = 0 action of each agent


@torch.no_grad()
def game_tables(policy: Policy, mixer: nn.Module, env: MatrixEnv, state_index: int = 0) -> StateTables:
    """Learned tables at one state: Q_tot over all joint actions, each agent's Q^i, the greedy pick.

    The agent's outputs and the greedy pick come from the acting ``policy`` (first step of an
    episode, ε = 0), so the tables show what the trained policy does.
    """
    info = env.info
    ob = env.observe(np.array([state_index]))
    acting = policy.initial_state(1, info.n_agents)
    pick, q = policy.act(ob, acting, 0.0, torch.Generator())  # (1, N), (1, N, A)
    q, h = q[0], acting.h[0]  # (N, A), (N, H)
    counts = env.action_counts
    agent_qs = [q[i, :k].numpy().copy() for i, k in enumerate(counts)]
    joint = torch.tensor(list(itertools.product(*[range(k) for k in counts])))  # (K, N)
    dev = policy.device  # the learner's device=: the mixer's inputs go there, results come back
    chosen = q.gather(1, joint.T).T.to(dev)  # (K, N)
    state = torch.from_numpy(ob.state[0]).to(dev)  # (S,)
    feats = torch.from_numpy(ob.feats[0]).to(dev)  # (N, F)
    k = len(joint)
    extras: dict[str, np.ndarray] = {}
    sum_q = chosen.sum(-1).reshape(counts).cpu().numpy()
    kind = kind_of(mixer)
    if isinstance(mixer, JointCritic):  # qtran's Q_jt, COMA's critic
        onehot = torch.nn.functional.one_hot(joint, info.n_actions).float().to(dev)  # (K, N, A)
        hidden = h.expand(k, -1, -1) if mixer.hidden_dim else None
        q_tot = mixer.q_jt(state.expand(k, -1), onehot, hidden)[:, 0].reshape(counts).cpu().numpy()
        extras["sum_qi"] = sum_q
        v = mixer.state_value(state)
        if v is not None:
            extras["v"] = np.array(float(v[0]))
    elif kind is Kind.INDEPENDENT:
        q_tot = sum_q
    elif kind is Kind.ACTION:  # qplex: λ_i(s, u) sees the joint action and max Q^i
        onehot = torch.nn.functional.one_hot(joint, info.n_actions).float().to(dev)  # (K, N, A)
        avail = torch.from_numpy(ob.avail[0])  # (N, A)
        max_q = q.masked_fill(~avail, float("-inf")).max(-1).values.expand(k, -1).to(dev)  # (K, N)
        q_tot = mixer(chosen, state.expand(k, -1), feats.expand(k, -1, -1), onehot, max_q)[:, 0]
        q_tot = q_tot.reshape(counts).cpu().numpy()
    else:
        q_tot = mixer(chosen, state.expand(k, -1), feats.expand(k, -1, -1))[:, 0].reshape(counts).cpu().numpy()
    return StateTables(q_tot, agent_qs, extras, state.cpu(), feats.cpu(), tuple(pick[0].tolist()))


def _device_of(module: nn.Module) -> torch.device:
    """A module's device; the CPU for parameter-free ones (VDN), which run wherever their inputs are."""
    return next(module.parameters(), torch.empty(0)).device


def train_matrix(
    game: str | Payoff,
    method: str,
    seed: int = 0,
    steps: int = 20000,
    data: str = "uniform",
    epsilon: float = 0.2,
    progress: Callable[[float], None] | None = None,
    method_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> MatrixRun:
    """Train ``method`` on a preset ``game`` (or a custom Payoff) and return the learned tables.

    ``data="uniform"`` samples joint actions uniformly (ε = 1); ``"egreedy"`` anneals ε from 1 to
    ``epsilon``. ``overrides`` set any other :class:`~decomp.config.schema.Config` field.
    """
    from decomp.training.trainer import Trainer

    game_obj = make_game(game) if isinstance(game, str) else game
    game_name = game if isinstance(game, str) else game_obj.name
    cfg = matrix_config(game_name if isinstance(game, str) else "qtran", method, seed, steps, data, epsilon,
                        method_options, **overrides)
    factory = None if isinstance(game, str) else (lambda n, _seed: MatrixEnv(game_obj, n_envs=n))
    trainer = Trainer(cfg, run_dir=None, on_progress=progress, env_factory=factory)
    trainer.run()
    return matrix_result(trainer, cfg)


def matrix_config(game: str, method: str, seed: int, steps: int, data: str, epsilon: float,
                  method_options: dict[str, Any] | None = None, **overrides: Any) -> Config:
    """The packaged ``env=matrix`` preset with ``method``'s (the CLI's defaults), these settings on top."""
    from decomp.config.compose import compose_config

    cfg = compose_config(["env=matrix", f"method={method}"])
    cfg.env.game, cfg.seed, cfg.t_max, cfg.data, cfg.epsilon_finish = game, seed, steps, data, epsilon
    cfg.epsilon_anneal_steps = max(1, steps // 2)
    cfg.progress = False
    cfg.method.options.update(method_options or {})
    learner_fields = {f.name for f in fields(LearnerConfig)}
    for key, value in overrides.items():
        # keyword names cannot hold dots: every learning-rule key (lr, td_lambda, lr_schedule, ...) addresses cfg.learner
        set_key(cfg, f"learner.{key}" if key in learner_fields else key, value)
    return cfg


def matrix_result(trainer: Any, cfg: Config) -> MatrixRun:
    """Read the learned tables out of a finished matrix-game trainer."""
    env: MatrixEnv = trainer.env
    policy, mixer = trainer.policy, trainer.learner.mixer
    two_step = isinstance(env.game, TwoStepGame)
    q_tot, agent_qs, extras, state, feats, greedy = game_tables(policy, mixer, env, 2 if two_step else 0)
    payoff = env.stages[-1].values if two_step else env.stages[0].values
    if two_step:
        first = game_tables(policy, mixer, env, 0)
        extras["state1_q_tot"], extras["state1_agent_qs"] = first.q_tot, np.stack(first.agent_qs)
        extras["state2A_q_tot"] = game_tables(policy, mixer, env, 1).q_tot
    ret = trainer.runner.evaluate(MatrixEnv(env.game, n_envs=1)).returns[0]
    # values checked for divergence: every Q_tot table, and the Q^i unless they are policy logits (COMA)
    values = [q_tot] + [v for k, v in extras.items() if k.endswith("q_tot")]
    if describe(kind_of(mixer)).agent_outputs == "q":
        values += list(agent_qs) + ([extras["state1_agent_qs"]] if "state1_agent_qs" in extras else [])
    diverged = is_diverged(values, divergence_bound(np.asarray(payoff), env.game.optimum))
    return MatrixRun(
        game=env.game.name, method=cfg.method.name, seed=cfg.seed, data=cfg.data, payoff=np.asarray(payoff),
        q_tot=q_tot, agent_qs=agent_qs, greedy=greedy,
        optimal=bool(ret >= env.game.optimum - 1e-6) and not diverged,
        losses=np.asarray(trainer.losses), extra_tables=extras, mixer=mixer, state=state, feats=feats,
        greedy_return=float(ret), diverged=diverged,
    )


def tables_from_model(model: Any) -> tuple[list[np.ndarray], torch.Tensor, torch.Tensor]:
    """(agent_qs per agent, state (S,), feats (N, F)) of a trained matrix-game model from a run folder."""
    cfg = config_from_dict(model.cfg)
    if cfg.env.name != "matrix":
        raise ValueError(f"tables_from_model needs a matrix-game run, this run used env={cfg.env.name!r}")
    from decomp.envs import make_env

    env = make_env(cfg.env, 1)
    # any policy kind: the tables take the ε = 0 pick, the masked argmax for both
    tables = game_tables(Policy(model.agent, env.info.n_actions, AgentInputs(cfg.agent_id, cfg.last_action)),
                         model.mixer, env, 0)
    return tables.agent_qs, tables.state, tables.feats
