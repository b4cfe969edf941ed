"""The JAX twin of the ε-greedy :class:`~decomp.rollout.policy.Policy` of an ``RNNAgent``, fused with SMAX.

Why: a host round-trip per vector step (dispatch the env step, fetch ~26 output leaves, run the torch
GRU) costs ~3x the env step itself. Here K vector steps (agent forward + ε-greedy + SMAX step with
auto-reset) run in ONE jitted ``lax.scan`` and the whole K-step trajectory comes back as ONE packed
float32 array. Learning stays in torch: the weights are exported as numpy before each collection
and passed as an argument (never closed over), so new weights never recompile.

The forward pass matches torch exactly: ``fc1 -> ReLU -> GRU cell -> fc2`` with torch's gate order
(r, z, n), ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and ``h' = (1 - z) * n + z * h``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np
from torch import nn

from decomp.envs.smax_fns import SmaxFns

Params = dict[str, Any]  # name -> (numpy or jax) float32 array, torch layout (out, in)

_PARAM_NAMES = {
    "fc1_w": "fc1.weight", "fc1_b": "fc1.bias",
    "w_ih": "rnn.weight_ih_l0", "w_hh": "rnn.weight_hh_l0", "b_ih": "rnn.bias_ih_l0", "b_hh": "rnn.bias_hh_l0",
    "fc2_w": "fc2.weight", "fc2_b": "fc2.bias",
}

_NORM_NAMES = {"ln_w": "norm.weight", "ln_b": "norm.bias"}  # LayerNormRNNAgent only


def export_params(agent: nn.Module) -> dict[str, np.ndarray]:
    """Copy an ``RNNAgent``'s weights to float32 numpy (torch layout), cheap enough per collect."""
    sd = agent.state_dict()
    missing = [t for t in _PARAM_NAMES.values() if t not in sd]
    if missing:
        raise ValueError(f"export_params needs an RNNAgent (fc1 -> GRU -> fc2); missing weights: {missing}")
    names = {**_PARAM_NAMES, **(_NORM_NAMES if "norm.weight" in sd else {})}
    return {k: sd[t].detach().to("cpu").float().numpy().copy() for k, t in names.items()}


# -- pure JAX pieces ------------------------------------------------------------------------------
def build_inputs(obs: Any, last: Any, n_actions: int, agent_id: bool, last_action: bool) -> Any:
    """obs (E, N, O), last (E, N) int (-1 = none) -> (E, N, in), like ``decomp.core.agents.build_inputs``."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    e, n = obs.shape[:2]
    parts = [obs]
    if agent_id:
        parts.append(jnp.broadcast_to(jnp.eye(n, dtype=obs.dtype), (e, n, n)))  # (E, N, N)
    if last_action:
        onehot = jax.nn.one_hot(jnp.maximum(last, 0), n_actions, dtype=obs.dtype)  # (E, N, A)
        parts.append(onehot * (last >= 0)[..., None].astype(obs.dtype))
    return jnp.concatenate(parts, axis=-1)


def agent_step(params: Params, inputs: Any, h: Any) -> tuple[Any, Any]:
    """One RNNAgent step: inputs (..., in), h (..., H) -> q (..., A), h' (..., H)."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    hp = jax.lax.Precision.HIGHEST  # exact f32 matmuls (the test compares to torch at 1e-5)
    x = jnp.matmul(inputs, params["fc1_w"].T, precision=hp) + params["fc1_b"]  # (..., H)
    if "ln_w" in params:  # LayerNormRNNAgent: torch's LayerNorm (biased variance, eps 1e-5)
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        x = (x - mu) / jnp.sqrt(var + 1e-5) * params["ln_w"] + params["ln_b"]
    x = jax.nn.relu(x)
    gi = jnp.matmul(x, params["w_ih"].T, precision=hp) + params["b_ih"]  # (..., 3H): r, z, n
    gh = jnp.matmul(h, params["w_hh"].T, precision=hp) + params["b_hh"]  # (..., 3H)
    i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(i_r + h_r)
    z = jax.nn.sigmoid(i_z + h_z)
    n = jnp.tanh(i_n + r * h_n)
    h_new = (1.0 - z) * n + z * h
    q = jnp.matmul(h_new, params["fc2_w"].T, precision=hp) + params["fc2_b"]  # (..., A)
    return q, h_new


def egreedy_draws(key: Any, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """The uniforms ε-greedy draws for avail of ``shape`` (E, N, A): noise (E, N, A), coins (E, N).

    The same two draws, in the same order, as ``decomp.rollout.policy.select_actions`` makes from torch.
    """
    import jax  # noqa: PLC0415

    k_noise, k_explore = jax.random.split(key)
    return jax.random.uniform(k_noise, shape), jax.random.uniform(k_explore, shape[:-1])


def egreedy(key: Any, q: Any, avail: Any, epsilon: Any) -> Any:
    """ε-greedy over available actions: q, avail (E, N, A) -> actions (E, N) int32.

    Random = uniform over available actions; greedy = masked argmax (first max, like torch).
    """
    import jax.numpy as jnp  # noqa: PLC0415

    greedy = jnp.argmax(jnp.where(avail, q, -jnp.inf), axis=-1)  # (E, N)
    noise, coins = egreedy_draws(key, avail.shape)  # (E, N, A), (E, N)
    random = jnp.argmax(jnp.where(avail, noise, -1.0), axis=-1)  # (E, N) uniform over available
    explore = coins < epsilon  # (E, N)
    return jnp.where(explore, random, greedy).astype(jnp.int32)


def policy_step(params: Params, key: Any, obs: Any, avail: Any, h: Any, last: Any, epsilon: Any, n_actions: int,
                agent_id: bool, last_action: bool) -> tuple[Any, Any]:
    """The JAX twin of ``decomp.rollout.policy.Policy.act`` (ε-greedy RNNAgent): one step for all envs.

    obs (E, N, O), avail (E, N, A), h (E, N, H), last (E, N) (-1 = none) -> actions (E, N) int32, h'.
    """
    inputs = build_inputs(obs, last, n_actions, agent_id, last_action)  # (E, N, in)
    q, h = agent_step(params, inputs, h)  # (E, N, A), (E, N, H)
    return egreedy(key, q, avail, epsilon), h


# -- packed trajectory layout ---------------------------------------------------------------------
_FLAGS = ("reward", "terminated", "done", "won", "finished")  # one column each, after the actions


@dataclass(frozen=True)
class PackedLayout:
    """Column layout of one packed row per env and step: ``[restart obs | scalars | next obs]``.

    ``restart`` (the observation the policy sees at the *next* step) is stored instead of the
    current one: step 0's current observation is the previous chunk's last restart, so nothing is
    stored twice. Observation blocks are ``obs (N*O) | state (S) | avail (N*A) | feats (N*F)``.
    """

    n_agents: int
    n_actions: int
    obs_dim: int
    state_dim: int
    feat_dim: int

    @property
    def obs_width(self) -> int:
        n = self.n_agents
        return n * self.obs_dim + self.state_dim + n * self.n_actions + n * self.feat_dim

    @property
    def scalars(self) -> dict[str, slice]:
        """actions (N), reward, terminated, done, won, finished — right after the restart block."""
        o, n = self.obs_width, self.n_agents
        out = {"actions": slice(o, o + n)}
        for i, name in enumerate(_FLAGS):
            out[name] = slice(o + n + i, o + n + i + 1)
        return out

    @property
    def next_offset(self) -> int:
        return self.obs_width + self.n_agents + len(_FLAGS)

    @property
    def width(self) -> int:
        return self.next_offset + self.obs_width

    def obs_slices(self, offset: int) -> dict[str, slice]:
        n, out, c = self.n_agents, {}, offset
        for name, size in (("obs", n * self.obs_dim), ("state", self.state_dim),
                           ("avail", n * self.n_actions), ("feats", n * self.feat_dim)):
            out[name] = slice(c, c + size)
            c += size
        return out


def _pack_obs(ob: dict[str, Any]) -> list[Any]:
    e = ob["obs"].shape[0]
    return [ob["obs"].reshape(e, -1), ob["state"], ob["avail"].reshape(e, -1).astype(ob["obs"].dtype),
            ob["feats"].reshape(e, -1)]


class Carry(NamedTuple):
    """Everything the policy+env loop threads from one step (and one chunk) to the next."""

    env_key: Any  # SMAX step key
    policy_key: Any  # ε-greedy key
    states: Any  # batched SMAX env states
    current: dict[str, Any]  # obs (E,N,O), state (E,S), avail (E,N,A) bool, feats (E,N,F)
    h: Any  # (E, N, H) GRU hidden
    last: Any  # (E, N) int32, -1 = no previous action
    t: Any  # (E,) int32 steps into the current episode: the runner's clock (see make_rollout)


def make_rollout(fns: SmaxFns, n_actions: int, episode_limit: int, chunk: int, agent_id: bool,
                 last_action: bool, jit: bool = True) -> Callable[..., Any]:
    """Jitted (``jit=False``: plain) ``rollout(params, carry, epsilon f32[], n_active i32[]) -> (carry, packed (K, E, W))``.

    Runs ``chunk`` = K scan steps; steps ``k >= n_active`` leave the carry untouched and emit zero
    rows, so any number of steps <= K shares ONE compiled function. Envs whose episode ended for the
    runner (``done`` or ``t >= episode_limit``, the rule of ``Runner.record``) get a zero hidden state
    and no last action, exactly like ``Runner.collect``; the ``finished`` column says which.
    """
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    if chunk < 1:
        raise ValueError(f"chunk (vector steps per dispatch) must be >= 1, got {chunk}")

    def one_step(params: Params, carry: Carry, epsilon: Any) -> tuple[Carry, Any]:
        ob = carry.current
        policy_key, k_act = jax.random.split(carry.policy_key)
        actions, h = policy_step(params, k_act, ob["obs"], ob["avail"], carry.h, carry.last, epsilon, n_actions,
                                 agent_id, last_action)  # (E, N), (E, N, H)
        no_reset = jnp.zeros(actions.shape[:1], dtype=jnp.bool_)
        env_key, states, out = fns.jitted_step(carry.env_key, carry.states, actions, no_reset)
        done = out["done"]  # (E,)
        t = carry.t + 1
        finished = done | (t >= episode_limit)  # (E,) the runner's episode end
        h = jnp.where(finished[:, None, None], 0.0, h)
        last = jnp.where(finished[:, None], -1, actions)
        t = jnp.where(finished, 0, t)
        f32 = jnp.float32
        row = jnp.concatenate(
            _pack_obs(out["restart"])
            + [actions.astype(f32), out["reward"][:, None].astype(f32), out["terminated"][:, None].astype(f32),
               done[:, None].astype(f32), out["won"][:, None].astype(f32), finished[:, None].astype(f32)]
            + _pack_obs(out["next"]),
            axis=-1,
        )  # (E, W)
        return Carry(env_key, policy_key, states, out["restart"], h, last, t), row

    def rollout(params: Params, carry: Carry, epsilon: Any, n_active: Any) -> tuple[Carry, Any]:
        row_shape = jax.eval_shape(lambda c: one_step(params, c, epsilon)[1], carry)

        def body(c: Carry, k: Any) -> tuple[Carry, Any]:
            return jax.lax.cond(
                k < n_active,
                lambda c: one_step(params, c, epsilon),
                lambda c: (c, jnp.zeros(row_shape.shape, row_shape.dtype)),
                c,
            )

        return jax.lax.scan(body, carry, jnp.arange(chunk, dtype=jnp.int32))  # packed (K, E, W)

    return jax.jit(rollout) if jit else rollout


_ROLLOUTS: dict[tuple[Any, ...], Callable[..., Any]] = {}


def get_rollout(fns: SmaxFns, n_actions: int, episode_limit: int, chunk: int, agent_id: bool,
                last_action: bool) -> Callable[..., Any]:
    """Shared compiled rollout per (env step function, K, input options): runners reuse it."""
    key = (fns.jitted_step, n_actions, episode_limit, chunk, agent_id, last_action)
    if key not in _ROLLOUTS:
        _ROLLOUTS[key] = make_rollout(fns, n_actions, episode_limit, chunk, agent_id, last_action)
    return _ROLLOUTS[key]
