"""Real SMAC (oxwhirl's ``smac``, StarCraft II) as a :class:`~decomp.envs.base.BatchedEnv`.

Each env is one ``smac.env.StarCraft2Env`` (one SC2 process). With ``n_envs > 1`` every env lives in
its own worker process driven over a ``multiprocessing`` Pipe (as pymarl's parallel runner does), so
the SC2 games advance concurrently; with ``n_envs == 1`` it runs in-process. Only SMAC's documented
API is used: the constructor, ``get_env_info()``, ``reset()``, ``get_obs()``, ``get_state()``,
``get_avail_actions()``, ``step(actions) -> (reward, terminated, info)``, ``close()``.

Per-agent Qatten features are the ally block of SMAC's state. ``StarCraft2Env.get_state`` is
``[ally_0 .. ally_{n-1} | enemy_0 .. | (last actions)]`` where every ally row has
``unit_dim = 4 + shield_bits_ally + unit_type_bits`` features: health, weapon cooldown (medivac:
energy), x and y relative to the map centre, [shield if Protoss], [unit-type one-hot]. We read
``shield_bits_ally`` and ``unit_type_bits`` from the env object, so
``feats = state[:, : n_agents * unit_dim].reshape(n_envs, n_agents, unit_dim)``. With
``obs_instead_of_state=True`` SMAC's state is the concatenation of agent observations, so the
per-agent rows are the observations themselves (``feat_dim = obs_dim``).

Time limit: SMAC reports a time-out as ``terminated=True``; it adds ``info["episode_limit"]`` only
with ``continuing_episode=True``. SMAC checks the limit only when the battle has not ended, so a
time-out is ``terminated and not won and steps >= episode_limit and some ally alive`` (a dead
agent's only available action is no-op). Such steps come back as ``done=True, terminated=False``
so the learner bootstraps.

SC2 crashes: when the game connection breaks, oxwhirl's ``step`` restarts StarCraft II and returns
``(0, True, {})`` mid-episode (no ``battle_won`` key, which every real step has). That step is
reported as ``aborted``: the runner drops the episode instead of storing a false terminal.

Resume: a running StarCraft II game cannot be snapshotted, so this env is not a
:class:`~decomp.envs.base.ResumableEnv`; a run resumed from a checkpoint starts new episodes (the
episodes in progress at the checkpoint are lost, everything else resumes as on SMAX).
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from decomp.envs.base import EnvInfo, Observation, StepResult, check_actions
from decomp.envs.smac_rewards import SMAX_MAX_RETURN


@dataclass(frozen=True)
class _Layout:
    """What the host needs to turn one SMAC env's lists into batched arrays."""

    n_agents: int
    n_actions: int
    obs_dim: int
    state_dim: int
    episode_limit: int
    unit_dim: int  # per-ally features at the front of the state (see module docstring)
    n_enemies: int = 0
    enemy_dim: int = 0  # per-enemy features after the ally block (health first); 0 = no enemy block


def _make_smac(map_name: str, seed: int, smac_kwargs: dict[str, Any]) -> Any:
    from smac.env import StarCraft2Env  # noqa: PLC0415  (optional dependency)

    return StarCraft2Env(map_name=map_name, seed=seed, **smac_kwargs)


def _layout(env: Any) -> _Layout:
    info = env.get_env_info()
    n_agents, obs_dim = int(info["n_agents"]), int(info["obs_shape"])
    if getattr(env, "obs_instead_of_state", False):
        unit_dim, enemy_dim = obs_dim, 0
    else:
        unit_dim = 4 + int(env.shield_bits_ally) + int(env.unit_type_bits)
        enemy_dim = 3 + int(env.shield_bits_enemy) + int(env.unit_type_bits)
    return _Layout(
        n_agents=n_agents,
        n_actions=int(info["n_actions"]),
        obs_dim=obs_dim,
        state_dim=int(info["state_shape"]),
        episode_limit=int(info["episode_limit"]),
        unit_dim=unit_dim,
        n_enemies=int(env.n_enemies),
        enemy_dim=enemy_dim,
    )


class _Slot:
    """One SMAC env plus its step counter; does the protocol's auto-reset. Runs in a worker."""

    def __init__(self, map_name: str, seed: int, smac_kwargs: dict[str, Any]) -> None:
        self.env = _make_smac(map_name, seed, smac_kwargs)
        self.layout = _layout(self.env)
        self.t = 0

    def observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        obs = np.asarray(self.env.get_obs(), dtype=np.float32)  # (N, obs_dim)
        state = np.asarray(self.env.get_state(), dtype=np.float32)  # (state_dim,)
        avail = np.asarray(self.env.get_avail_actions()) > 0  # (N, A)
        return obs, state, avail

    def reset(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.env.reset()
        self.t = 0
        return self.observe()

    def step(self, actions: np.ndarray) -> dict[str, Any]:
        reward, ended, info = self.env.step([int(a) for a in actions])
        self.t += 1
        if ended and "battle_won" not in info:
            # oxwhirl's env lost SC2 (ProtocolError), ran full_restart() and returned (0, True, {}):
            # the episode was cut short by a crash, not ended by the battle. Neither a terminal nor
            # a bootstrap target is true here, so the episode is reported as aborted and dropped.
            restart = self.reset()
            return {"next": restart, "restart": restart, "reward": 0.0, "terminated": False, "done": True,
                    "won": False, "aborted": True}
        nxt = self.observe()
        won = bool(info.get("battle_won", False))
        some_ally_alive = bool((~nxt[2][:, 0] | nxt[2][:, 1:].any(-1)).any())  # dead => only no-op
        timeout = bool(ended) and (
            bool(info.get("episode_limit", False))
            or (not won and self.t >= self.layout.episode_limit and some_ally_alive)
        )
        restart = self.reset() if ended else nxt
        return {
            "next": nxt,
            "restart": restart,
            "reward": float(reward),
            "terminated": bool(ended) and not timeout,
            "done": bool(ended),
            "won": won,
            "aborted": False,
        }

    def close(self) -> None:
        self.env.close()


def _worker(conn: Connection, map_name: str, seed: int, smac_kwargs: dict[str, Any]) -> None:
    """Serve one _Slot over a Pipe: ("layout"|"reset"|"step"|"close", payload) -> ("ok"|"error", x)."""
    slot = None
    try:
        slot = _Slot(map_name, seed, smac_kwargs)
        while True:
            cmd, payload = conn.recv()
            try:
                if cmd == "layout":
                    conn.send(("ok", slot.layout))
                elif cmd == "reset":
                    conn.send(("ok", slot.reset()))
                elif cmd == "step":
                    conn.send(("ok", slot.step(payload)))
                elif cmd == "close":
                    conn.send(("ok", None))
                    break
                else:
                    conn.send(("error", f"unknown command {cmd!r}"))
            except Exception:  # noqa: BLE001  (shipped to the parent, which raises)
                conn.send(("error", traceback.format_exc()))
    except Exception:  # noqa: BLE001  (construction failed)
        try:
            conn.send(("error", traceback.format_exc()))
        except (BrokenPipeError, OSError):
            pass
    finally:
        if slot is not None:
            slot.close()
        conn.close()


class _Remote:
    """Parent-side handle of a worker process (same methods as _Slot, async-capable)."""

    def __init__(self, ctx: Any, map_name: str, seed: int, smac_kwargs: dict[str, Any]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, map_name, seed, smac_kwargs), daemon=True)
        self.proc.start()
        child.close()

    def send(self, cmd: str, payload: Any = None) -> None:
        self.conn.send((cmd, payload))

    def recv(self) -> Any:
        try:
            status, value = self.conn.recv()
        except EOFError:
            raise RuntimeError(f"SMAC worker process {self.proc.pid} died (exit code {self.proc.exitcode})") from None
        if status != "ok":
            raise RuntimeError(f"SMAC worker process {self.proc.pid} failed:\n{value}")
        return value

    def close(self) -> None:
        if self.proc.is_alive():
            try:
                self.send("close")
                self.conn.recv()
            except (EOFError, BrokenPipeError, OSError):
                pass
            self.proc.join(timeout=10)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(timeout=5)
        self.conn.close()


class SC2Env:
    """``n_envs`` real SMAC battles (one SC2 process each), numpy in, numpy out.

    ``reward_scale`` (float) multiplies the reward SMAC returns, mirroring :class:`SmaxEnv`. SMAC
    normalises an episode's return to at most ``reward_scale_rate`` (its default 20); decomp asks for
    :data:`~decomp.envs.smac_rewards.SMAX_MAX_RETURN` = 2 instead, SMAX's maximum, so ``reward_scale`` means
    the same on both backends (the smac preset's ×10 gives pymarl's 20 on either, not 200 on SC2). SMAC's own boolean
    ``reward_scale`` and ``reward_scale_rate`` can still be set, like every other ``StarCraft2Env``
    argument, in ``smac_kwargs``.
    """

    def __init__(
        self,
        map_name: str,
        n_envs: int,
        seed: int = 0,
        reward_scale: float = 1.0,
        parallel: bool | None = None,
        start_method: str = "spawn",
        validate_actions: bool = True,
        smac_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.map_name = map_name
        self.reward_scale = float(reward_scale)
        self.validate_actions = validate_actions
        kwargs = {"reward_scale_rate": SMAX_MAX_RETURN, **(smac_kwargs or {})}
        self._parallel = n_envs > 1 if parallel is None else parallel
        self._slots: list[_Slot] = []
        self._remotes: list[_Remote] = []
        if self._parallel:
            # spawn by default: the parent usually holds JAX/torch threads, which fork would copy
            ctx = mp.get_context(start_method)
            self._remotes = [_Remote(ctx, map_name, seed + i, kwargs) for i in range(n_envs)]
            for r in self._remotes:
                r.send("layout")
            layouts = [r.recv() for r in self._remotes]
        else:
            self._slots = [_Slot(map_name, seed + i, kwargs) for i in range(n_envs)]
            layouts = [s.layout for s in self._slots]
        lay = self._layout = layouts[0]
        self.info = EnvInfo(
            n_agents=lay.n_agents,
            n_actions=lay.n_actions,
            obs_dim=lay.obs_dim,
            state_dim=lay.state_dim,
            feat_dim=lay.unit_dim,
            episode_limit=lay.episode_limit,
            n_envs=n_envs,
            name=f"sc2:{map_name}",
            # SMAC: 0 no-op (dead only), 1 stop, 2-5 move, 6+ attack/heal target j
            action_kinds=("noop", "stop") + ("move",) * 4 + ("attack",) * (lay.n_actions - 6),
        )
        self._avail: np.ndarray | None = None  # (n_envs, n_agents, n_actions)

    # -- fan out / gather ---------------------------------------------------------------------
    def _call(self, cmd: str, payloads: list[Any]) -> list[Any]:
        if self._parallel:
            for r, p in zip(self._remotes, payloads):
                r.send(cmd, p)
            return [r.recv() for r in self._remotes]
        return [getattr(s, cmd)(*([] if p is None else [p])) for s, p in zip(self._slots, payloads)]

    def _batch(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Observation:
        obs = np.stack([p[0] for p in parts])  # (E, N, obs_dim)
        state = np.stack([p[1] for p in parts])  # (E, state_dim)
        avail = np.stack([p[2] for p in parts])  # (E, N, A)
        n, f = self._layout.n_agents, self._layout.unit_dim
        feats = state[:, : n * f].reshape(len(parts), n, f)  # (E, N, unit_dim): ally block
        return Observation(obs=obs, state=state, avail=avail, feats=feats)

    # -- protocol -----------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> Observation:
        """Start a new episode in every env. ``seed`` is ignored: SMAC seeds SC2 at construction."""
        out = self._batch(self._call("reset", [None] * self.info.n_envs))
        self._avail = out.avail
        return out

    def step(self, actions: np.ndarray) -> StepResult:
        if self._avail is None:
            raise RuntimeError("SC2Env.step called before reset(); call env.reset() first")
        actions = np.asarray(actions)
        if self.validate_actions:
            check_actions(actions, self._avail)
        res = self._call("step", list(actions.astype(np.int64)))
        restart = self._batch([r["restart"] for r in res])
        self._avail = restart.avail
        return StepResult(
            next=self._batch([r["next"] for r in res]),
            reward=np.array([r["reward"] for r in res], dtype=np.float32) * np.float32(self.reward_scale),
            terminated=np.array([r["terminated"] for r in res], dtype=bool),
            done=np.array([r["done"] for r in res], dtype=bool),
            won=np.array([r["won"] for r in res], dtype=bool),
            restart=restart,
            aborted=np.array([r["aborted"] for r in res], dtype=bool),
        )

    def battle_stats(self, ob: Observation) -> dict[str, np.ndarray]:
        """Allies alive (health > 0 in the ally block) and enemy health lost (enemy block of the state)."""
        lay = self._layout
        alive = (ob.feats[..., 0] > 0).sum(-1).astype(np.float32)  # (E,)
        if lay.enemy_dim == 0:  # obs_instead_of_state: no enemy block to read
            lost = np.full(len(alive), np.nan, np.float32)
        else:
            start = lay.n_agents * lay.unit_dim
            health = ob.state[:, start : start + lay.n_enemies * lay.enemy_dim : lay.enemy_dim]  # (E, n_enemies)
            lost = (1.0 - health.mean(-1)).astype(np.float32)
        return {"allies_alive": alive, "enemy_health_lost": lost}

    def close(self) -> None:
        for r in self._remotes:
            r.close()
        for s in self._slots:
            s.close()
        self._remotes, self._slots = [], []

    def __del__(self) -> None:  # best effort: never leak SC2 processes
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
