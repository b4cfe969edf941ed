"""Per-agent utility networks Q^i(τ^i, ·) with parameter sharing across agents.

Agents are folded into the batch dimension, so one network serves all of them; an optional
agent-id one-hot lets shared parameters still specialise. The GRU agent runs a whole episode
batch through ``nn.GRU`` in one call (no Python loop over time).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class AgentInputs:
    """What an agent net sees besides its observation. Acting (the Policy) and learning (the Learner's
    unroll) must build the same inputs, so both read this one object (from ``agent_id`` / ``last_action``)."""

    agent_id: bool = True
    last_action: bool = True


def agent_input_dim(obs_dim: int, n_agents: int, n_actions: int, agent_id: bool, last_action: bool) -> int:
    return obs_dim + (n_agents if agent_id else 0) + (n_actions if last_action else 0)


def build_inputs(
    obs: torch.Tensor,
    last_actions: torch.Tensor | None,
    n_actions: int,
    agent_id: bool,
    last_action: bool,
) -> torch.Tensor:
    """obs (*B, N, obs_dim), last_actions (*B, N) int (-1 = none) -> inputs (*B, N, in_dim)."""
    parts = [obs]
    n_agents = obs.shape[-2]
    if agent_id:
        eye = torch.eye(n_agents, dtype=obs.dtype, device=obs.device)
        parts.append(eye.expand(*obs.shape[:-2], n_agents, n_agents))
    if last_action:
        if last_actions is None:
            raise ValueError("last_action=True needs last_actions (*B, n_agents)")
        onehot = F.one_hot(last_actions.clamp(min=0).long(), n_actions).to(obs.dtype)  # (*B, N, A)
        parts.append(onehot * (last_actions >= 0).unsqueeze(-1).to(obs.dtype))
    return torch.cat(parts, dim=-1)


# Quantiles of the sequence lengths where the GRU is cut into segments (see _run_by_length).
_CUT_QUANTILES = (0.2, 0.4, 0.6, 0.8)


class RNNAgent(nn.Module):
    """fc -> ReLU -> GRU -> fc, as in pymarl's RNNAgent, but over whole sequences at once."""

    recurrent = True

    def __init__(self, input_dim: int, n_actions: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.rnn = nn.GRU(hidden_dim, hidden_dim, batch_first=True)
        self.fc2 = nn.Linear(hidden_dim, n_actions)

    def init_hidden(self, batch: int, n_agents: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(batch, n_agents, self.hidden_dim, device=device)  # (B, N, H)

    def forward(
        self, inputs: torch.Tensor, h0: torch.Tensor | None = None, lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, T, N, in) -> q (B, T, N, A), hidden states (B, T, N, H).

        ``lengths`` (B,) optionally says how many leading steps of each sequence matter; outputs past
        them are finite but meaningless (never used). Episodes of different lengths are padded to the
        longest; on CPU the GRU's cost is its arithmetic, so not running it on padding is a saving.
        """
        b, t, n, _ = inputs.shape
        x = F.relu(self.fc1(inputs))  # (B, T, N, H)
        x = x.permute(0, 2, 1, 3).reshape(b * n, t, self.hidden_dim)  # (B*N, T, H)
        if lengths is not None and h0 is None:
            out = self._run_by_length(x, lengths, n)  # (B*N, T, H)
        else:
            h = None if h0 is None else h0.reshape(1, b * n, self.hidden_dim)
            out, _ = self.rnn(x, h)  # (B*N, T, H)
        hs = out.reshape(b, n, t, self.hidden_dim).permute(0, 2, 1, 3)  # (B, T, N, H)
        return self.fc2(hs), hs

    def _run_by_length(self, x: torch.Tensor, lengths: torch.Tensor, n: int) -> torch.Tensor:
        """GRU over sequences sorted by length, in a few time segments that drop finished ones.

        Each segment is one ``nn.GRU`` call (time stays inside ATen) on the prefix of sequences
        still running at its start, so little work is spent past a sequence's end.
        Batches from the replay come longest-first, which makes the sort a no-op.
        x (B*N, T, H), lengths (B,) -> (B*N, T, H) with zeros past each sequence's segment.
        """
        bn, t, hdim = x.shape
        lengths = lengths.clamp(1, t)
        order = torch.argsort(lengths, descending=True, stable=True)  # (B,)
        presorted = bool((order == torch.arange(len(order))).all())
        rows = (order[:, None] * n + torch.arange(n)).reshape(-1)  # (B*N,) episode-major
        xs = x if presorted else x.index_select(0, rows)  # (B*N, T, H) longest first
        sorted_len = lengths[order].tolist()
        cuts = sorted({0, t, *(sorted_len[int(q * (len(sorted_len) - 1))] for q in _CUT_QUANTILES)})
        h: torch.Tensor | None = None
        pieces = []
        for start, stop in zip(cuts[:-1], cuts[1:]):
            live = sum(1 for length in sorted_len if length > start) * n  # prefix still running
            seg, h = self.rnn(xs[:live, start:stop], None if h is None else h[:, :live])  # (live, len, H)
            pieces.append(F.pad(seg, (0, 0, 0, 0, 0, bn - live)))  # (B*N, len, H); backward is a view
        out = torch.cat(pieces, dim=1)  # (B*N, T, H)
        if presorted:
            return out
        inverse = torch.empty_like(rows)
        inverse[rows] = torch.arange(bn)
        return out.index_select(0, inverse)  # back to the caller's order

    def step(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One acting step: inputs (E, N, in), h (E, N, H) -> q (E, N, A), h' (E, N, H)."""
        q, hs = self.forward(inputs.unsqueeze(1), h)
        return q[:, 0], hs[:, 0]


class MLPAgent(nn.Module):
    """A feed-forward agent for one-step games and fully observed tasks."""

    recurrent = False

    def __init__(self, input_dim: int, n_actions: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU()
        )
        self.head = nn.Linear(hidden_dim, n_actions)

    def init_hidden(self, batch: int, n_agents: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(batch, n_agents, self.hidden_dim, device=device)

    def forward(
        self, inputs: torch.Tensor, h0: torch.Tensor | None = None, lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, T, N, in) -> q (B, T, N, A), features (B, T, N, H); lengths unused (no recurrence)."""
        hs = self.net(inputs)
        return self.head(hs), hs

    def step(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hs = self.net(inputs)
        return self.head(hs), hs


AGENTS = {"rnn": RNNAgent, "mlp": MLPAgent}


def make_agent(kind: str, input_dim: int, n_actions: int, hidden_dim: int) -> nn.Module:
    if kind not in AGENTS:
        raise ValueError(f"unknown agent {kind!r}; valid agents: {', '.join(sorted(AGENTS))}")
    return AGENTS[kind](input_dim, n_actions, hidden_dim)
