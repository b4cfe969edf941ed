"""Env construction from config: matrix games, or StarCraft (real SC2 or SMAX)."""

from __future__ import annotations

from decomp.config.schema import EnvConfig
from decomp.envs.base import BatchedEnv, EnvInfo, Observation, StepResult
from decomp.envs.matrix import MatrixEnv


def make_env(cfg: EnvConfig, n_envs: int, seed: int = 0) -> BatchedEnv:
    """Build ``n_envs`` parallel copies of the configured env."""
    if cfg.name == "matrix":
        from games import make_game

        params = {"k": cfg.penalty_k} if cfg.game == "penalty" else {}
        return MatrixEnv(make_game(cfg.game, **params), n_envs=n_envs)
    if cfg.name == "smac":
        from decomp.envs.smac_select import make_smac_env

        return make_smac_env(cfg.map_name, n_envs=n_envs, seed=seed, backend=cfg.backend,
                             reward_scale=cfg.reward_scale, reward=cfg.reward)
    raise ValueError(f"unknown env {cfg.name!r}; valid envs: matrix, smac")


__all__ = ["BatchedEnv", "EnvInfo", "Observation", "StepResult", "MatrixEnv", "make_env"]
