"""Compose a typed :class:`Config` from the packaged YAML presets (same path as the CLI)."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from decomp.config import Config

ConfigStore.instance().store(name="base", node=Config)


def to_config(dcfg: DictConfig) -> Config:
    """Hydra's DictConfig -> the typed dataclass (drops the hydra node)."""
    plain = {k: v for k, v in OmegaConf.to_container(dcfg, resolve=True).items() if k != "hydra"}  # type: ignore[union-attr]
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), plain))  # type: ignore[return-value]


def compose_config(overrides: list[str] | None = None) -> Config:
    """E.g. ``compose_config(["env=matrix", "mixer=qtran", "seed=3"])``."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="decomp.conf", version_base=None):
        dcfg = compose(config_name="config", overrides=list(overrides or []))
    return to_config(dcfg)
