"""Compose a typed :class:`Config` from the packaged YAML presets (same path as the CLI).

The ``mixer`` group is not YAML: one node per registered method is stored in Hydra's ConfigStore from
:data:`decomp.core.methods.METHODS`, with the option defaults of the method's constructors, so
``mixer=qatten`` and ``mixer.options.n_heads=8`` work as before and nothing repeats a default.

Map presets (``decomp/conf/map/<map>.yaml``: per-map budget and the like, each citing its source) are
applied after composition whenever ``env=smac``, keyed by ``env.map_name``, so ``env.map_name=2s3z,3s5z``
in a sweep gives every map its own settings. Order: env preset < map preset < the method's preferred
settings < the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from decomp.config.schema import Config, ConfigError, config_from_dict, get_key, set_key
from decomp.core.methods import METHODS, apply_preferred


# Keys that already name a sweep job's folder (<env>-<game|map>__<mixer>__<seed>), that a relaunch may
# change without making it another run (decomp.cli.run_folder.RESUME_OVERRIDABLE) or that only say where its
# metrics go (logger, wandb.*); any other key=value a job was given is appended to its folder name, so
# two jobs of one sweep never share a folder.
SWEEP_NAME_EXCLUDES = ("env", "env.name", "env.game", "env.map_name", "mixer", "mixer.name", "seed", "run_dir",
                       "run_name", "resume", "t_max", "progress", "save_interval", "eval_interval", "log_interval",
                       "threads", "device", "logger", "wandb.project", "wandb.entity", "wandb.group")


def sweep_job_name(env: str, game: str, map_name: str, mixer: str, seed: int, extra: str = "") -> str:
    """The folder of one sweep job, the same on every relaunch: ``smac-2s3z__qmix__0`` (+ ``__lr=…``).

    Hydra calls it as ``hydra.sweep.subdir`` (decomp/conf/config.yaml) with its ``override_dirname``
    of the job's other overrides as ``extra``.
    """
    where = game if env == "matrix" else map_name
    name = f"{env}-{where}__{mixer}__{seed}"
    return f"{name}__{extra}".replace("/", "_") if extra else name


def register_configs() -> None:
    if not OmegaConf.has_resolver("decomp_sweep_job"):
        OmegaConf.register_new_resolver("decomp_sweep_job", sweep_job_name)
    store = ConfigStore.instance()
    store.store(name="base", node=Config)
    for method in METHODS.values():
        store.store(group="mixer", name=method.name, node={"name": method.name, **method.defaults()})


register_configs()


MAP_PRESETS = Path(__file__).resolve().parent.parent / "conf" / "map"


def _dotted(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in node.items():
        out.update(_dotted(v, f"{prefix}{k}.") if isinstance(v, Mapping) else {f"{prefix}{k}": v})
    return out


def map_preset(map_name: str) -> dict[str, Any]:
    """``decomp/conf/map/<map_name>.yaml`` as dotted keys, e.g. {"t_max": 1000000}; {} for maps without one."""
    path = MAP_PRESETS / f"{map_name}.yaml"
    if not path.is_file():
        return {}
    node = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    return _dotted(node) if isinstance(node, dict) else {}


def apply_map_preset(cfg: Config, explicit: Mapping[str, str]) -> list[str]:
    """Set the map preset's keys that the user did not give; one ``key=value (was …)`` note per change."""
    notes = []
    for key, value in map_preset(cfg.env.map_name).items():
        if key == "env.map_name":
            raise ConfigError(f"{MAP_PRESETS / cfg.env.map_name}.yaml must not set env.map_name (the file name does)")
        if key in explicit or get_key(cfg, key) == value:
            continue
        notes.append(f"{key}={value} (was {get_key(cfg, key)})")
        set_key(cfg, key, value)
    return notes


def to_config(dcfg: DictConfig, explicit: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """Hydra's DictConfig -> the typed dataclass (drops the hydra node), with the map preset (env=smac) and
    the method's preferred run settings applied where the user gave none -> (config, one note per source)."""
    plain = {k: v for k, v in OmegaConf.to_container(dcfg, resolve=True).items() if k != "hydra"}  # type: ignore[union-attr]
    cfg = config_from_dict(plain)
    explicit = explicit or {}
    notes = []
    if cfg.env.name == "smac":
        changed = apply_map_preset(cfg, explicit)
        if changed:
            notes.append(f"env.map_name={cfg.env.map_name} sets its preset {', '.join(changed)} "
                         f"(decomp/conf/map/{cfg.env.map_name}.yaml)")
    if cfg.mixer.name in METHODS:
        changed = apply_preferred(cfg, explicit)
        if changed:
            notes.append(f"mixer={cfg.mixer.name} sets its preferred {', '.join(changed)}")
    return cfg, notes


def explicit_keys(overrides: list[str]) -> dict[str, str]:
    """``["a.b=1", "+c=2"]`` -> {"a.b": "1", "c": "2"}: the settings a user typed."""
    return dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)


def compose_config(overrides: list[str] | None = None) -> Config:
    """E.g. ``compose_config(["env=matrix", "mixer=qtran", "seed=3"])``."""
    GlobalHydra.instance().clear()
    register_configs()  # again: a method registered since this module was imported gets its node
    with initialize_config_module(config_module="decomp.conf", version_base=None):
        dcfg = compose(config_name="config", overrides=list(overrides or []))
    return to_config(dcfg, explicit_keys(list(overrides or [])))[0]
