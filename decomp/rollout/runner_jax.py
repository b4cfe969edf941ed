"""SMAX collection with the acting policy inside JAX: K vector steps per dispatch, one transfer.

Why: per-step host round-trips (dispatch + fetching ~26 leaves + a torch GRU step) cap collection
at ~1/4 of the raw env speed. :class:`JaxPolicyRunner` runs the GRU agent, ε-greedy and the SMAX
step in one jitted scan (:mod:`decomp.rollout.jax_policy`) and then replays each step of the chunk
through the inherited :meth:`Runner.record`, so staging, the replay, ``env_steps``, ``episodes``
and the episode statistics follow exactly the same protocol as :meth:`Runner.collect`.

Learning stays in torch: the :class:`~decomp.rollout.policy.Policy` exports its JAX twin (weights and input
options) once per ``collect`` call. The recurrent state,
last actions, env states and RNG keys live on the device between calls (the runner's carry).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from decomp.core.buffer import ReplayBuffer
from decomp.envs.base import BatchedEnv, Observation, StepResult
from decomp.envs.smax import SmaxEnv, SmaxSnapshot
from decomp.rollout.inflight import FIELDS
from decomp.rollout.jax_policy import Carry, PackedLayout, get_rollout
from decomp.rollout.policy import Policy
from decomp.rollout.runner import EpisodeStats, Runner

# Vector steps per dispatch. With collect(n_steps >= 2K) the host bookkeeping of one chunk overlaps
# the computation of the next, so the trainer's steps_per_collect should be a multiple >= 2 of K
# (benchmarks/rollout.py measures the trade-off).
DEFAULT_CHUNK = 25
_POLICY_STREAM = 0x5EED  # folded into the runner seed so policy and env keys differ


class JaxPolicyRunner(Runner):
    """A :class:`Runner` for ``SmaxEnv`` + a ``jax_exportable`` Policy whose acting runs inside JAX.

    The policy state lives in the device carry (:meth:`device_carry`); the torch ``self.acting`` of the
    base class is only set by ``_start`` and not used. ``evaluate`` keeps the torch path (the same Policy).
    """

    def __init__(self, env: SmaxEnv, policy: Policy, seed: int = 0, chunk: int = DEFAULT_CHUNK) -> None:
        if not isinstance(env, SmaxEnv):
            raise TypeError(f"JaxPolicyRunner needs a SmaxEnv, got {type(env).__name__}; use Runner instead")
        if not policy.jax_exportable:
            raise TypeError(f"JaxPolicyRunner needs an ε-greedy RNNAgent policy, got a {policy.kind!r} policy of a "
                            f"{type(policy.agent).__name__}; use Runner instead")
        super().__init__(env, policy, seed=seed)
        import jax  # noqa: PLC0415

        self._jax = jax
        self.env: SmaxEnv = env
        self.chunk = int(chunk)
        info = env.info
        self.layout = PackedLayout(info.n_agents, info.n_actions, info.obs_dim, info.state_dim, info.feat_dim)
        twin = policy.export_jax()  # its input options and sizes are fixed; weights are exported per collect
        # what the compiled rollout depends on: runners with equal args can be collected as a group
        self.rollout_args = (env.fns, twin.n_actions, info.episode_limit, self.chunk, twin.agent_id, twin.last_action)
        self.rollout = get_rollout(*self.rollout_args)
        self.hidden_dim = twin.hidden_dim
        self.seed = seed
        self._carry: Carry | None = None

    def _start(self) -> None:
        """Reset through the env (so it stays usable on its own) and move the policy state on device."""
        super()._start()
        jax, info, cur = self._jax, self.info, self.current
        assert cur is not None
        e, n = info.n_envs, info.n_agents
        seed = self.seed if self.episode_seed is None else self.episode_seed
        self._carry = self._carry_from_host({
            "key": np.asarray(jax.random.fold_in(jax.random.PRNGKey(seed), _POLICY_STREAM)),
            "h": np.zeros((e, n, self.hidden_dim), np.float32), "last": np.full((e, n), -1, np.int32),
            "current": {f: getattr(cur, f) for f in FIELDS}})

    def _carry_from_host(self, memory: dict[str, Any]) -> Carry:
        """The device carry of the env's snapshot and ``self.t`` plus the acting memory (:meth:`_policy_memory`),
        every leaf with the dtype the compiled rollout was built for (a restored carry must not recompile)."""
        jax = self._jax
        snap = self.env.snapshot()
        dtypes = {"obs": np.float32, "state": np.float32, "avail": bool, "feats": np.float32}
        return Carry(
            env_key=snap.key,
            policy_key=jax.device_put(np.asarray(memory["key"], np.uint32)),
            states=snap.states,
            current=jax.device_put({f: np.asarray(memory["current"][f], dtypes[f]) for f in FIELDS}),
            h=jax.device_put(np.asarray(memory["h"], np.float32)),  # (E, N, H)
            last=jax.device_put(np.asarray(memory["last"], np.int32)),  # (E, N)
            t=jax.device_put(self.t.astype(np.int32)),  # (E,) == self.t
        )

    def _policy_memory(self) -> dict[str, Any]:
        """The device carry's acting memory: GRU state, previous actions, ε-greedy key and the observation it acts
        on next (the carry's own copy: the values the rollout continues from, whatever the host recorded)."""
        c = self.device_carry()
        return {"h": np.array(c.h), "last": np.array(c.last), "key": np.array(c.policy_key),
                "current": {f: np.array(c.current[f]) for f in FIELDS}}

    def _restore_policy_memory(self, memory: dict[str, Any]) -> None:
        if "key" not in memory or "current" not in memory:
            raise ValueError("saved policy memory has no ε-greedy key: it was saved by the torch Runner, not by a "
                             "JaxPolicyRunner")
        e, n = self.info.n_envs, self.info.n_agents
        h, last = np.asarray(memory["h"]), np.asarray(memory["last"])
        if h.shape != (e, n, self.hidden_dim) or last.shape != (e, n):
            raise ValueError(f"saved policy memory h {h.shape}, last {last.shape} does not fit "
                             f"{(e, n, self.hidden_dim)}, {(e, n)}")
        self.acting = self.policy.initial_state(e, n)  # unused by this runner (the carry acts), kept consistent
        self._carry = self._carry_from_host(memory)

    def collect(self, n_steps: int, epsilon: float, buffer: ReplayBuffer | None) -> EpisodeStats:
        """Step every env ``n_steps`` times in chunks of ≤ K; finished episodes go to ``buffer``.

        The next chunk is dispatched before the current one is recorded, so the host bookkeeping
        overlaps with JAX computing the following chunk.
        """
        sizes = chunk_sizes(n_steps, self.chunk)
        carry = self.device_carry()
        stats = EpisodeStats()
        params = self._jax.device_put(self.policy.export_jax().params)  # weights change between calls
        eps = np.asarray(epsilon, np.float32)  # an f32 array: a new ε never recompiles

        def dispatch(k: int) -> Any:
            nonlocal carry
            carry, packed = self.rollout(params, carry, eps, np.asarray(k, np.int32))
            return packed

        pipelined(sizes, dispatch, lambda packed, k: self.record_chunk(np.asarray(packed)[:k], buffer, stats))
        self.adopt_carry(carry)
        return stats

    # ---- the interface of a collection stepped outside (decomp.rollout.group): carry in, chunks, carry out ----
    def device_carry(self) -> Carry:
        """The device state a rollout continues from (starting the runner's episodes if not yet started)."""
        if self.current is None:
            self._start()
        assert self._carry is not None
        return self._carry

    def adopt_carry(self, carry: Carry) -> None:
        """Continue from ``carry``, the state a rollout advanced after its chunks were recorded, and hand the
        env states and key back to the SmaxEnv so it stays consistent on its own."""
        self._carry = carry
        assert self.current is not None
        self.env.restore(SmaxSnapshot(carry.env_key, carry.states, self.current.avail))

    def record_chunk(self, packed: np.ndarray, buffer: ReplayBuffer | None, stats: EpisodeStats) -> None:
        """Feed the steps of one packed chunk (k, E, W) to ``Runner.record`` through views."""
        L, info = self.layout, self.info
        k = packed.shape[0]
        restart = self._observations(packed, 0)  # per step: the obs after auto-reset (next step's input)
        nxt = self._observations(packed, L.next_offset)
        sc = L.scalars
        actions = packed[:, :, sc["actions"]].astype(np.int64)  # (k, E, N)
        reward = packed[:, :, sc["reward"]][..., 0]  # (k, E) view
        terminated, done, won, ended = (packed[:, :, sc[f]][..., 0] > 0.5
                                        for f in ("terminated", "done", "won", "finished"))  # (k, E)
        for i in range(k):
            ob = self.current
            assert ob is not None
            res = StepResult(next=nxt[i], reward=reward[i], terminated=terminated[i], done=done[i], won=won[i],
                             restart=restart[i])
            finished = self.record(ob, actions[i], res, buffer, stats)
            if not np.array_equal(finished, np.flatnonzero(ended[i])):  # JAX reset the policy state of `ended`
                raise RuntimeError(
                    f"Runner.record and the JAX rollout disagree on which envs finished: record "
                    f"{finished.tolist()}, rollout {np.flatnonzero(ended[i]).tolist()} "
                    f"(episode_limit {info.episode_limit}); was self.t changed outside collect?"
                )
            self.current = restart[i]

    def _observations(self, packed: np.ndarray, offset: int) -> list[Observation]:
        """Per-step Observation views of one packed obs block (avail is the only copy: -> bool)."""
        info, sl = self.info, self.layout.obs_slices(offset)
        k, e = packed.shape[:2]
        n = info.n_agents
        obs = packed[:, :, sl["obs"]].reshape(k, e, n, info.obs_dim)  # (k, E, N, O) view
        state = packed[:, :, sl["state"]]  # (k, E, S) view
        avail = packed[:, :, sl["avail"]].reshape(k, e, n, info.n_actions) > 0.5  # (k, E, N, A) bool
        feats = packed[:, :, sl["feats"]].reshape(k, e, n, info.feat_dim)  # (k, E, N, F) view
        return [Observation(obs=obs[i], state=state[i], avail=avail[i], feats=feats[i]) for i in range(k)]

    def compile_count(self) -> int:
        """Compiled variants of the fused rollout (1 = never recompiled)."""
        return int(self.rollout._cache_size())


def chunk_sizes(n_steps: int, chunk: int) -> list[int]:
    """``n_steps`` vector steps as dispatches of ≤ ``chunk`` steps: ``[K, K, …, rest]``."""
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps}")
    return [chunk] * (n_steps // chunk) + ([n_steps % chunk] if n_steps % chunk else [])


def pipelined(sizes: list[int], dispatch: Callable[[int], Any], record: Callable[[Any, int], None]) -> None:
    """Dispatch each chunk before recording the previous one, so host bookkeeping overlaps JAX's work.

    ``dispatch(k)`` starts a chunk of ``k`` steps and returns its (asynchronous) packed output;
    ``record(packed, k)`` reads it back.
    """
    pending: tuple[Any, int] | None = None
    for k in sizes + [0]:
        nxt = (dispatch(k), k) if k else None
        if pending is not None:
            record(*pending)
        pending = nxt


def make_runner(env: BatchedEnv, policy: Policy, seed: int = 0, chunk: int = DEFAULT_CHUNK) -> Runner:
    """The fast JAX-side runner when it computes exactly what ``Runner`` would, else ``Runner``."""
    if isinstance(env, SmaxEnv) and policy.jax_exportable:
        return JaxPolicyRunner(env, policy, seed=seed, chunk=chunk)
    return Runner(env, policy, seed=seed)
