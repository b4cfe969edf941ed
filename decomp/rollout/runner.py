"""Vectorised episode collection over a BatchedEnv: a :class:`~decomp.rollout.policy.Policy` acts, auto-reset.

All ``n_envs`` envs keep stepping; each writes into its own staging row, and a finished episode is
copied to the replay at once (vectorised over the envs that finished), so no env waits for the
slowest one and no step of a finished episode is stored as live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from decomp.core.buffer import ReplayBuffer
from decomp.envs.base import BatchedEnv, Observation, ResumableEnv, StepResult
from decomp.rollout.inflight import observation_dict, observation_of, pack_staging, unpack_staging
from decomp.rollout.diagnostics import EpisodeDiagnostics, ValueFn
from decomp.rollout.policy import Policy, PolicyState


@dataclass
class EpisodeStats:
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    wins: list[bool] = field(default_factory=list)
    extras: dict[str, list[float]] = field(default_factory=dict)  # per-episode diagnostics (evaluate)

    def extend(self, returns: np.ndarray, lengths: np.ndarray, wins: np.ndarray) -> None:
        self.returns += returns.tolist()
        self.lengths += lengths.tolist()
        self.wins += wins.tolist()

    def merge(self, other: "EpisodeStats") -> None:
        """Append another batch of episodes (diagnostics included)."""
        self.extend(np.array(other.returns), np.array(other.lengths), np.array(other.wins))
        for key, values in other.extras.items():
            self.extras.setdefault(key, []).extend(values)

    def __len__(self) -> int:
        return len(self.returns)


class Runner:
    """Drives ``policy`` in ``env``; ``collect`` stores finished episodes in ``buffer``.

    Collection and evaluation draw from the same generator ``gen`` (seeded by ``seed``).
    """

    def __init__(self, env: BatchedEnv, policy: Policy, seed: int = 0) -> None:
        self.env, self.policy = env, policy
        self.info = info = env.info
        self.gen = torch.Generator().manual_seed(seed)
        e, t, n = info.n_envs, info.episode_limit, info.n_agents
        self.rows = np.arange(e)
        self.staging = {
            "obs": np.zeros((e, t + 1, n, info.obs_dim), np.float32),
            "state": np.zeros((e, t + 1, info.state_dim), np.float32),
            "avail": np.zeros((e, t + 1, n, info.n_actions), bool),
            "feats": np.zeros((e, t + 1, n, info.feat_dim), np.float32),
            "actions": np.zeros((e, t, n), np.int64),
            "reward": np.zeros((e, t), np.float32),
            "terminated": np.zeros((e, t), np.float32),
            "mask": np.zeros((e, t), np.float32),
        }
        self.current: Observation | None = None
        self.env_steps = 0
        self.episodes = 0
        self.episode_seed: int | None = None  # reseed the env with this at the next start (None: its own key)

    def restart_episodes(self, seed: int) -> None:
        """Start the next episodes afresh from ``seed``: a resume whose episodes in progress were not saved."""
        self.episode_seed = seed

    def restore_progress(self, env_steps: int, episodes: int, gen_state: torch.Tensor) -> None:
        """Continue a checkpointed run: its env step and episode counts and ``gen``'s state (``gen.get_state()``)."""
        self.env_steps, self.episodes = env_steps, episodes
        self.gen.set_state(gen_state)

    def _start(self) -> None:
        info = self.info
        self.current = self.env.reset(seed=self.episode_seed)
        self.t = np.zeros(info.n_envs, np.int64)
        self.ret = np.zeros(info.n_envs, np.float64)
        self.acting: PolicyState = self.policy.initial_state(info.n_envs, info.n_agents)
        for v in self.staging.values():
            v[...] = 0

    # ---- checkpoints: the episodes in progress (decomp.rollout.inflight) ---------------------------------
    def state_dict(self) -> dict[str, Any] | None:
        """The episodes in progress with the env's own state (key, battles), or None where they cannot be
        resumed: none started yet, or an env that cannot be snapshotted (SC2), whose episodes then restart."""
        if self.current is None or not isinstance(self.env, ResumableEnv):
            return None
        return {"env": self.env.state_dict(), "current": observation_dict(self.current), "t": self.t.copy(),
                "ret": self.ret.copy(), "staging": pack_staging(self.staging, self.t), "policy": self._policy_memory()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Continue the episodes :meth:`state_dict` saved, from the very step they were at."""
        if not isinstance(self.env, ResumableEnv):
            raise ValueError(f"{type(self.env).__name__} cannot restore saved episodes (not a ResumableEnv)")
        e = self.info.n_envs
        t, ret = np.asarray(saved["t"], np.int64), np.asarray(saved["ret"], np.float64)
        if t.shape != (e,) or ret.shape != (e,) or (t < 0).any() or (t >= self.info.episode_limit).any():
            raise ValueError(f"saved episode clocks {t.tolist()} do not fit {e} envs of episode_limit "
                             f"{self.info.episode_limit}")
        self.env.load_state_dict(saved["env"])
        self.current = observation_of(saved["current"], e)
        self.t, self.ret = t.copy(), ret.copy()
        unpack_staging(self.staging, self.t, saved["staging"])
        self._restore_policy_memory(saved["policy"])

    def _policy_memory(self) -> dict[str, np.ndarray]:
        """The acting policy's memory over the envs (recurrent state, previous actions) as host arrays."""
        return {"h": self.acting.h.cpu().numpy().copy(), "last": self.acting.last.numpy().copy()}

    def _restore_policy_memory(self, memory: dict[str, np.ndarray]) -> None:
        h = torch.from_numpy(np.asarray(memory["h"], np.float32).copy())
        last = torch.from_numpy(np.asarray(memory["last"], np.int64).copy())
        blank = self.policy.initial_state(self.info.n_envs, self.info.n_agents)
        if h.shape != blank.h.shape or last.shape != blank.last.shape:
            raise ValueError(f"saved policy memory h {tuple(h.shape)}, last {tuple(last.shape)} does not fit "
                             f"this policy's {tuple(blank.h.shape)}, {tuple(blank.last.shape)}")
        self.acting = PolicyState(h.to(blank.h.device), last)

    def _write_obs(self, rows: np.ndarray, t: np.ndarray, ob: Observation, sel: np.ndarray | None = None) -> None:
        src = (lambda a: a) if sel is None else (lambda a: a[sel])
        self.staging["obs"][rows, t] = src(ob.obs)
        self.staging["state"][rows, t] = src(ob.state)
        self.staging["avail"][rows, t] = src(ob.avail)
        self.staging["feats"][rows, t] = src(ob.feats)

    def act(self, ob: Observation, epsilon: float) -> np.ndarray:
        """One acting step for all envs; updates the recurrent state. -> actions (E, N)."""
        return self.policy.act(ob, self.acting, epsilon, self.gen).actions.numpy()

    def collect(self, n_steps: int, epsilon: float, buffer: ReplayBuffer | None) -> EpisodeStats:
        """Step every env ``n_steps`` times; finished episodes go to ``buffer`` (if given)."""
        if self.current is None:
            self._start()
        stats = EpisodeStats()
        for _ in range(n_steps):
            ob = self.current
            assert ob is not None
            actions = self.act(ob, epsilon)
            res = self.env.step(actions)
            finished = self.record(ob, actions, res, buffer, stats)
            if len(finished):
                self.acting.reset(torch.from_numpy(finished))
            self.current = res.restart
        return stats

    def record(self, ob: Observation, actions: np.ndarray, res: StepResult, buffer: ReplayBuffer | None,
               stats: EpisodeStats) -> np.ndarray:
        """Write one vector step into the staging rows; move finished episodes to ``buffer``.

        Returns the indices of the envs whose episode ended (their policy state must be reset).
        Separate from acting so that other acting paths (e.g. a policy run inside JAX) reuse it.
        """
        s, rows, t = self.staging, self.rows, self.t
        self._write_obs(rows, t, ob)
        s["actions"][rows, t] = actions
        s["reward"][rows, t] = res.reward
        s["terminated"][rows, t] = res.terminated
        s["mask"][rows, t] = 1.0
        self.ret += res.reward
        self.t += 1
        self.env_steps += self.info.n_envs
        done = res.done | (self.t >= self.info.episode_limit)
        if not done.any():
            return np.empty(0, np.int64)
        d = np.flatnonzero(done)
        self._write_obs(d, self.t[d], res.next, d)
        # an aborted episode (the backend crashed mid-battle) is neither stored nor counted
        keep = d if res.aborted is None else d[~res.aborted[d]]
        if buffer is not None:
            buffer.add({k: v[keep] for k, v in s.items()}, self.t[keep].copy())
        stats.extend(self.ret[keep], self.t[keep], res.won[keep])
        self.episodes += len(keep)
        for v in s.values():
            v[d] = 0
        self.t[d] = 0
        self.ret[d] = 0.0
        return d

    @torch.no_grad()
    def evaluate(self, env: BatchedEnv, epsilon: float = 0.0, value_fn: ValueFn | None = None,
                 gamma: float = 0.99) -> EpisodeStats:
        """One episode in each of ``env``'s envs (a separate env, so training rows keep going).

        Greedy by default (``epsilon=0``); ``epsilon=1`` measures the random policy. Besides return,
        length and win, ``stats.extras`` holds per-episode diagnostics that show *how* a policy
        fails (:mod:`decomp.rollout.diagnostics`): the fractions of move / stop / attack choices,
        allies alive and enemy health lost at the end (battle envs), and, with ``value_fn``
        (chosen Q^i (E,N), state (E,S), feats (E,N,F) -> Q_tot (E,)), the mean Q_tot over the
        episode's steps next to the mean discounted return-to-go from those steps.
        """
        info = env.info
        e = info.n_envs
        ob = env.reset()
        acting = self.policy.initial_state(e, info.n_agents)
        live = np.ones(e, bool)
        valid = np.ones(e, bool)  # episodes that ended for a real reason
        ret = np.zeros(e)
        length = np.zeros(e, np.int64)
        won = np.zeros(e, bool)
        diagnostics = EpisodeDiagnostics(env, value_fn, gamma)
        for t in range(info.episode_limit):
            last, q = self.policy.act(ob, acting, epsilon, self.gen)  # (E, N), (E, N, A)
            diagnostics.choice(t, ob, last, q, live)
            res = env.step(last.numpy())
            ret += res.reward * live
            length += live
            finished = live & res.done
            if res.aborted is not None:
                valid &= ~(finished & res.aborted)  # crashed mid-battle: not an outcome
            won |= finished & res.won
            diagnostics.outcome(t, res, live, finished)
            live &= ~res.done
            ob = res.restart
            if not live.any():
                break
        stats = EpisodeStats()
        stats.extend(ret[valid], length[valid], won[valid])
        stats.extras.update(diagnostics.extras(length, valid))
        return stats
