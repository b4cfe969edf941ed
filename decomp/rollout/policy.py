"""The one acting policy: agent net + input building + action choice, for every path that acts.

Why one object: collection, evaluation, the SMAX replay export and the matrix tables' greedy pick
must all choose actions by the same rule, and the JAX rollout (:mod:`decomp.rollout.jax_policy`)
must mirror exactly that rule. Each path keeps its own :class:`PolicyState` (recurrent memory) and
passes its own ``torch.Generator``, so RNG draws stay where they were.

Kinds (the learner declares which one it trains, ``Learner.policy_kind``):

* ``"egreedy"``: ε-greedy over the available actions on the agent's Q-values;
* ``"sampled"``: the agent's outputs are logits of a softmax policy (COMA); sample from
  (1 − ε) π + ε uniform(available).

At ε = 0 both take the masked argmax (first maximum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from decomp.core.agents import AgentInputs, RNNAgent, build_inputs
from decomp.envs.base import Observation
from decomp.rollout.jax_policy import export_params
from decomp.core.ops import behaviour_policy, greedy_actions

PolicyKind = Literal["egreedy", "sampled"]
# agent outputs (E, N, A), avail (E, N, A) bool, epsilon, generator -> actions (E, N) long
Selector = Callable[[torch.Tensor, torch.Tensor, float, torch.Generator], torch.Tensor]


def as_tensor(a: np.ndarray) -> torch.Tensor:
    """Zero-copy when possible; arrays handed out by JAX are read-only, which torch warns about."""
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def select_actions(q: torch.Tensor, avail: torch.Tensor, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """ε-greedy over available actions. q (E, N, A), avail (E, N, A) bool -> actions (E, N) long.

    Draws (only when ε > 0): uniform noise (E, N, A), then uniform explore coins (E, N); the JAX
    twin (``jax_policy.egreedy``) makes the same two draws and the same decisions.
    """
    greedy = greedy_actions(q, avail)  # (E, N)
    if epsilon <= 0.0:
        return greedy
    noise = torch.rand(avail.shape, generator=generator)  # (E, N, A)
    random = (noise * avail).argmax(-1)  # uniform over available actions
    explore = torch.rand(greedy.shape, generator=generator) < epsilon  # (E, N)
    return torch.where(explore, random, greedy)


def sample_actions(logits: torch.Tensor, avail: torch.Tensor, epsilon: float,
                   generator: torch.Generator) -> torch.Tensor:
    """logits, avail (E, N, A) -> actions (E, N): samples of the ε-mixed softmax policy; argmax at ε = 0."""
    if epsilon <= 0.0:
        return greedy_actions(logits, avail)
    probs = behaviour_policy(logits, avail, epsilon)  # (E, N, A)
    flat = probs.reshape(-1, probs.shape[-1])  # (E*N, A)
    return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])


SELECTORS: dict[str, Selector] = {"egreedy": select_actions, "sampled": sample_actions}


@dataclass
class PolicyState:
    """One acting path's memory over its envs: the recurrent state and the previous actions."""

    h: torch.Tensor  # (E, N, H)
    last: torch.Tensor  # (E, N) long, -1 = no previous action

    def reset(self, rows: torch.Tensor) -> None:
        """Forget the episode of the envs ``rows`` (their episode ended)."""
        self.h[rows] = 0.0
        self.last[rows] = -1


class Decision(NamedTuple):
    actions: torch.Tensor  # (E, N) long
    outputs: torch.Tensor  # (E, N, A) the agent's Q-values (or logits for "sampled")


class JaxTwin(NamedTuple):
    """What the JAX rollout needs to act exactly like the Policy (``rollout/jax_policy.py``)."""

    params: dict[str, np.ndarray]  # RNNAgent weights, float32, torch layout
    hidden_dim: int
    n_actions: int
    agent_id: bool
    last_action: bool


class Policy:
    """Acts for ``n_envs`` envs at once from an :class:`Observation` batch (see module docstring)."""

    def __init__(self, agent: nn.Module, n_actions: int, inputs: AgentInputs = AgentInputs(),
                 kind: PolicyKind = "egreedy") -> None:
        if kind not in SELECTORS:
            raise ValueError(f"unknown policy kind {kind!r}; valid: {', '.join(SELECTORS)}")
        self.agent, self.n_actions, self.inputs, self.kind = agent, n_actions, inputs, kind
        self.selector = SELECTORS[kind]

    @classmethod
    def of(cls, learner: Any) -> "Policy":
        """The behaviour policy of a learner: its online agent, input options and declared kind."""
        return cls(learner.agent, learner.n_actions, learner.inputs, learner.policy_kind)

    @property
    def device(self) -> torch.device:
        """The agent's device (the learner's ``device=``); observations, RNG and actions stay on the CPU."""
        return next(self.agent.parameters()).device

    def initial_state(self, n_envs: int, n_agents: int) -> PolicyState:
        return PolicyState(self.agent.init_hidden(n_envs, n_agents, device=self.device),  # (E, N, H)
                           torch.full((n_envs, n_agents), -1, dtype=torch.long))  # (E, N)

    @torch.no_grad()
    def act(self, ob: Observation, state: PolicyState, epsilon: float, generator: torch.Generator) -> Decision:
        """One step for all envs; advances ``state`` (hidden state, last actions) in place."""
        inputs = build_inputs(as_tensor(ob.obs), state.last, self.n_actions, self.inputs.agent_id,
                              self.inputs.last_action)  # (E, N, in)
        out, state.h = self.agent.step(inputs.to(self.device), state.h)  # (E, N, A), (E, N, H) on the agent's device
        out = out.cpu()  # a no-op on the CPU
        state.last = self.selector(out, as_tensor(ob.avail), epsilon, generator)  # (E, N)
        return Decision(state.last, out)

    @property
    def jax_exportable(self) -> bool:
        """True when ``rollout/jax_policy.py`` computes exactly this policy (ε-greedy GRU agent)."""
        return self.kind == "egreedy" and isinstance(self.agent, RNNAgent)

    def export_jax(self) -> JaxTwin:
        """The current weights and input options for the JAX twin; weights change, so export per use."""
        if not self.jax_exportable:
            raise ValueError(f"the JAX rollout mirrors only the ε-greedy RNNAgent policy, not a {self.kind!r} "
                             f"policy of a {type(self.agent).__name__}")
        return JaxTwin(export_params(self.agent), int(self.agent.hidden_dim), self.n_actions, self.inputs.agent_id,
                       self.inputs.last_action)
