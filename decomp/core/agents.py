"""Per-agent utility networks Q^i(τ^i, ·) with parameter sharing across agents.

Agents are folded into the batch dimension, so one network serves all of them; an optional
agent-id one-hot lets shared parameters still specialise. The GRU agent acts one step at a time
through ``nn.GRU`` and learns over whole packed episode batches (:class:`PackedGRU`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence


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
        actions = torch.arange(n_actions, device=obs.device)
        parts.append((last_actions.unsqueeze(-1) == actions).to(obs.dtype))  # (*B, N, A), all zero for -1
    return torch.cat(parts, dim=-1)


def live_rows(lengths: torch.Tensor, t: int, n: int) -> tuple[torch.Tensor, list[int]]:
    """Where the live slots of a padded (B, T, N, ·) batch are, in the packed order the GRU needs.

    lengths (B,) live steps per episode (any order) -> flat (P,) indices into the batch's B*T*N rows,
    step-major with the longest episodes first at each step (so the sequences live at step s are a
    prefix of that step's rows), and rows[s] = P_s, the number of live (episode, agent) rows at step s.
    """
    sorted_len, order = torch.sort(lengths.clamp(1, t), descending=True, stable=True)  # (B,)
    valid = torch.arange(t, device=lengths.device)[:, None] < sorted_len[None]  # (T, B) step-major
    step, rank = valid.nonzero().unbind(1)  # (P/N,) each: live (step, rank) pairs, step-major
    episode_step = order[rank] * t + step  # (P/N,) row of (episode, step) in (B, T)
    flat = (episode_step[:, None] * n + torch.arange(n, device=lengths.device)).reshape(-1)  # (P,)
    rows = [r * n for r in valid.sum(1).tolist() if r > 0]  # (S,) live rows per step, non-increasing
    return flat, rows


class PackedGRU(torch.autograd.Function):
    """A one-layer GRU over packed sequences, with a hand-written backward through time.

    Why: autograd through ``nn.GRU`` records about ten ops per time step, each on a few thousand
    numbers at SMAX 3m's size (≤ 21 steps of 192 sequences), and replays them one by one. Here a
    step's backward is eight elementwise ops and one matmul into preallocated buffers, the weight
    gradients are one matmul over all steps, and no row is ever padding (measured in
    docs/benchmarks.md, "Small batches"). The forward does ``nn.GRU``'s CPU ops in its order (gates
    r, z, n; n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); h' = (h − n) ⊙ z + n), so its outputs
    equal ``nn.GRU``'s; gradients agree to float rounding (tests/test_padding_skip.py).

    gi (P, 3H) are the input pre-activations x W_ihᵀ + b_ih of the live rows, step-major; rows[s]
    is how many sequences are live at step s (non-increasing: the live ones are a prefix). Returns
    every live row's hidden state (P, H); the initial state is zero.
    """

    @staticmethod
    def forward(ctx: Any, gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, rows: list[int]) -> torch.Tensor:
        p, hd = gi.shape[0], w_hh.shape[1]
        out = gi.new_empty(p, hd)  # (P, H) h_t
        gates = gi.new_empty(p, 3 * hd)  # (P, 3H) r, z, n
        gh = gi.new_empty(p, 3 * hd)  # (P, 3H) h_{t-1} W_hhᵀ + b_hh
        diff = gi.new_empty(p, hd)  # (P, H) h_{t-1} − n
        w_t = w_hh.t()
        h = gi.new_zeros(rows[0], hd)  # (R_0, H)
        for gi_s, out_s, gates_s, gh_s, diff_s in zip(*(x.split(rows) for x in (gi, out, gates, gh, diff))):
            h_prev = h[: gi_s.shape[0]]  # (R, H): the live sequences are a prefix
            g_h = torch.addmm(b_hh, h_prev, w_t, out=gh_s)  # (R, 3H)
            rz = torch.add(g_h[:, : 2 * hd], gi_s[:, : 2 * hd], out=gates_s[:, : 2 * hd]).sigmoid_()  # (R, 2H)
            n = torch.add(gi_s[:, 2 * hd :], g_h[:, 2 * hd :] * rz[:, :hd], out=gates_s[:, 2 * hd :]).tanh_()
            h = torch.mul(torch.sub(h_prev, n, out=diff_s), rz[:, hd:], out=out_s).add_(n)  # (R, H)
        ctx.save_for_backward(w_hh, out, gates, gh, diff)
        ctx.rows = rows
        return out

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        w_hh, out, gates, gh, diff = ctx.saved_tensors
        rows: list[int] = ctx.rows
        p, hd = out.shape
        # One buffer holds both pre-activation gradients: columns [n_h, r, z, n] so that the hidden
        # side's (n_h, r, z) and the input side's (r, z, n) are each a column range (no copies);
        # the hidden weights are reordered to (n, r, z) to match.
        buf = out.new_empty(p, 4 * hd)  # (P, 4H)
        w_nrz = torch.cat([w_hh[2 * hd :], w_hh[: 2 * hd]])  # (3H, H)
        gates_s, gh_s, diff_s, buf_s, dout_s = (x.split(rows) for x in (gates, gh, diff, buf, dout))
        grad = dout.new_empty(rows[0], hd)  # (R_0, H) dL/dh of the live rows at the current step
        grad[: rows[-1]] = dout_s[-1]
        sig_bw, tanh_bw = torch.ops.aten.sigmoid_backward.grad_input, torch.ops.aten.tanh_backward.grad_input
        for s in range(len(rows) - 1, -1, -1):
            r = rows[s]
            g = grad[:r]
            rg, zg, ng = gates_s[s].split(hd, 1)  # (R, H) each
            d_nh, d_r, d_z, d_n = buf_s[s].split(hd, 1)  # (R, H) each
            dn = tanh_bw(torch.addcmul(g, g, zg, value=-1.0), ng, grad_input=d_n)
            sig_bw(g * diff_s[s], zg, grad_input=d_z)
            sig_bw(dn * gh_s[s][:, 2 * hd :], rg, grad_input=d_r)
            torch.mul(dn, rg, out=d_nh)
            if s > 0:
                before = dout_s[s - 1]  # (R', H), R' >= R
                direct = torch.addcmul(before[:r], g, zg)  # (R, H): dL/dh_{t-1} outside the matmul
                if before.shape[0] > r:
                    grad[r : before.shape[0]] = before[r:]  # sequences whose last step is s − 1
                torch.addmm(direct, buf_s[s][:, : 3 * hd], w_nrz, out=grad[:r])
        out_s = out.split(rows)
        h_prev = torch.cat([out.new_zeros(rows[0], hd)] + [out_s[s - 1][: rows[s]] for s in range(1, len(rows))])
        d_gh = buf[:, : 3 * hd]  # (P, 3H) in (n, r, z) order
        dw, db = d_gh.t().mm(h_prev), d_gh.sum(0)  # (3H, H), (3H,)
        return buf[:, hd:], torch.cat([dw[hd:], dw[:hd]]), torch.cat([db[hd:], db[:hd]]), None


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

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """The GRU's input: (..., in) -> (..., H)."""
        return F.relu(self.fc1(inputs))

    def forward(
        self, inputs: torch.Tensor, h0: torch.Tensor | None = None, lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, T, N, in) -> q (B, T, N, A), hidden states (B, T, N, H).

        ``lengths`` (B,) optionally says how many leading steps of each sequence matter; outputs past
        them are zeros (never used). Episodes of different lengths are padded to the longest; with
        ``lengths`` no layer runs on padding (:meth:`forward_live`).
        """
        if lengths is not None and h0 is None:
            return self.forward_live(inputs, lengths)
        b, t, n, _ = inputs.shape
        x = self.embed(inputs)  # (B, T, N, H)
        x = x.permute(0, 2, 1, 3).reshape(b * n, t, self.hidden_dim)  # (B*N, T, H)
        h = None if h0 is None else h0.reshape(1, b * n, self.hidden_dim)
        out, _ = self.rnn(x, h)  # (B*N, T, H)
        hs = out.reshape(b, n, t, self.hidden_dim).permute(0, 2, 1, 3)  # (B, T, N, H)
        return self.fc2(hs), hs

    def forward_live(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The learner's unroll from a zero state: every layer sees only the live rows (packed by
        :func:`live_rows`); padding comes back as zeros.

        Without autograd (the target network) the GRU is ``nn.GRU`` on a ``PackedSequence``: its
        C++ loop is the fastest forward. With autograd it is :class:`PackedGRU`, whose backward
        replaces the ~10 ops per time step autograd would record through ``nn.GRU``.
        """
        b, t, n, _ = inputs.shape
        flat, rows = live_rows(lengths, t, n)  # (P,), (S,)
        x = self.embed(inputs.reshape(b * t * n, -1).index_select(0, flat))  # (P, H)
        rnn = self.rnn
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in rnn.parameters())):
            gi = F.linear(x, rnn.weight_ih_l0, rnn.bias_ih_l0)  # (P, 3H)
            out = PackedGRU.apply(gi, rnn.weight_hh_l0, rnn.bias_hh_l0, rows)  # (P, H)
        else:
            out = rnn(PackedSequence(x, torch.tensor(rows)))[0].data  # (P, H)
        unpack = lambda v: v.new_zeros(b * t * n, v.shape[-1]).index_copy_(0, flat, v).view(b, t, n, -1)  # noqa: E731
        return unpack(self.fc2(out)), unpack(out)  # (B, T, N, A), (B, T, N, H)

    def step(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One acting step: inputs (E, N, in), h (E, N, H) -> q (E, N, A), h' (E, N, H)."""
        q, hs = self.forward(inputs.unsqueeze(1), h)
        return q[:, 0], hs[:, 0]


class LayerNormRNNAgent(RNNAgent):
    """fc -> LayerNorm -> ReLU -> GRU -> fc: PQN's normalised Q-network (Gallici et al. 2024), which
    keeps TD learning stable without replay; the on-policy regime's agent."""

    def __init__(self, input_dim: int, n_actions: int, hidden_dim: int = 64) -> None:
        super().__init__(input_dim, n_actions, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim)

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.fc1(inputs)))


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


AGENTS = {"rnn": RNNAgent, "rnn_ln": LayerNormRNNAgent, "mlp": MLPAgent}


def make_agent(kind: str, input_dim: int, n_actions: int, hidden_dim: int) -> nn.Module:
    if kind not in AGENTS:
        raise ValueError(f"unknown agent {kind!r}; valid agents: {', '.join(sorted(AGENTS))}")
    return AGENTS[kind](input_dim, n_actions, hidden_dim)
