"""Compose a typed :class:`Config` from the packaged YAML presets (same path as the CLI).

The ``mixer`` group is not YAML: one node per registered method is stored in Hydra's ConfigStore from
:data:`decomp.core.methods.METHODS`, with the option defaults of the method's constructors, so
``mixer=qatten`` and ``mixer.options.n_heads=8`` work as before and nothing repeats a default.
"""

from __future__ import annotations

from typing import Mapping

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from decomp.config.schema import Config, config_from_dict
from decomp.core.methods import METHODS, apply_preferred


def register_configs() -> None:
    store = ConfigStore.instance()
    store.store(name="base", node=Config)
    for method in METHODS.values():
        store.store(group="mixer", name=method.name, node={"name": method.name, **method.defaults()})


register_configs()


def to_config(dcfg: DictConfig, explicit: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """Hydra's DictConfig -> the typed dataclass (drops the hydra node), with the method's preferred run
    settings applied where the user gave none -> (config, one note per applied setting)."""
    plain = {k: v for k, v in OmegaConf.to_container(dcfg, resolve=True).items() if k != "hydra"}  # type: ignore[union-attr]
    cfg = config_from_dict(plain)
    notes = apply_preferred(cfg, explicit or {}) if cfg.mixer.name in METHODS else []
    return cfg, notes


def explicit_keys(overrides: list[str]) -> dict[str, str]:
    """``["a.b=1", "+c=2"]`` -> {"a.b": "1", "c": "2"}: the settings a user typed."""
    return dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)


def compose_config(overrides: list[str] | None = None) -> Config:
    """E.g. ``compose_config(["env=matrix", "mixer=qtran", "seed=3"])``."""
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="decomp.conf", version_base=None):
        dcfg = compose(config_name="config", overrides=list(overrides or []))
    return to_config(dcfg, explicit_keys(list(overrides or [])))[0]
