"""Compose a typed :class:`Config` from the packaged YAML presets (the CLI's path).

Composition is Hydra's alone (decomp/conf/config.yaml's defaults list): env preset < regime < its map
preset (``map=3s5z``; env=smac's default is 3m) < method (``method=qatten``: decomp/conf/method/) < the
method's settings on that env (decomp/conf/method_env/<method>_<env>.yaml) < the command line. The typed
conversion after it changes nothing, so ``python -m decomp.train … --cfg job --resolve`` prints the
config.yaml the run writes. Two checks follow it: the old ``mixer=`` key and an ``env.map_name=`` that
disagrees with the chosen map preset are refused, each naming what to give instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf, open_dict

from decomp.config.schema import OLD_METHOD_NAMES, Config, ConfigError, config_from_dict
from decomp.core.methods import METHODS

CONF = Path(__file__).resolve().parent.parent / "conf"

# Keys that already name a sweep job's folder (<env>-<game|map>__<method>__<seed>), that a relaunch may
# change without making it another run (decomp.cli.run_folder.RESUME_OVERRIDABLE) or that only say where its
# metrics go (logger, wandb.*); any other key=value a job was given is appended to its folder name, so
# two jobs of one sweep never share a folder.
SWEEP_NAME_EXCLUDES = ("env", "env.name", "env.game", "env.map_name", "map", "method", "method.name", "seed",
                       "run_dir", "run_name", "resume", "t_max", "progress", "save_interval", "eval_interval",
                       "log_interval", "threads", "device", "logger", "wandb.project", "wandb.entity", "wandb.group")

# A method's label in sweep job folders where it differs from its name: sweeps launched before the rename
# (mixer=none) keep finding their IQL jobs (results/smac_table_replay/smac-3m__none__0, ...).
SWEEP_FOLDER_LABEL = {new: old for old, new in OLD_METHOD_NAMES.items()}


def sweep_job_name(env: str, game: str, map_name: str, method: str, seed: int, extra: str = "") -> str:
    """The folder of one sweep job, the same on every relaunch: ``smac-2s3z__qmix__0`` (+ ``__lr=…``).

    Hydra calls it as ``hydra.sweep.subdir`` (decomp/conf/config.yaml) with its ``override_dirname``
    of the job's other overrides as ``extra``.
    """
    where = game if env == "matrix" else map_name
    name = f"{env}-{where}__{SWEEP_FOLDER_LABEL.get(method, method)}__{seed}"
    return f"{name}__{extra}".replace("/", "_") if extra else name


def folder_overrides(folder: Path) -> list[str]:
    """The inverse of :func:`sweep_job_name`'s ``extra``: the overrides a sweep job's folder name holds beyond env,
    map, method and seed (``…__0__regime=onpolicy`` -> ``["regime=onpolicy"]``)."""
    extra = folder.name.split("__", 3)[3:]
    return extra[0].split(",") if extra else []


def share_of(total: int, fraction: float) -> int:
    """``${decomp_share:${t_max},0.5}``: a step count that follows the budget, so a preset can say "half of
    t_max" and ``t_max=`` on the command line moves it too (regime/onpolicy_replay.yaml's handover)."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise ConfigError(f"decomp_share takes a fraction in [0, 1] of {total}, got {fraction}")
    return int(round(int(total) * float(fraction)))


def register_configs() -> None:
    """The schema, and a ``method`` node for each registered method without a YAML preset: one defined outside
    decomp (DECOMP_METHODS, docs/extending.md) gets its name and the registry's option defaults."""
    if not OmegaConf.has_resolver("decomp_sweep_job"):
        OmegaConf.register_new_resolver("decomp_sweep_job", sweep_job_name)
    if not OmegaConf.has_resolver("decomp_share"):
        OmegaConf.register_new_resolver("decomp_share", share_of)
    store = ConfigStore.instance()
    store.store(name="base", node=Config)
    for method in METHODS.values():
        if not (CONF / "method" / f"{method.name}.yaml").is_file():
            store.store(group="method", name=method.name, package="_global_",
                        node={"method": {"name": method.name, **method.defaults()}})


register_configs()


def map_presets() -> list[str]:
    """The SMAC maps with a preset (decomp/conf/map/<name>.yaml), sorted."""
    return sorted(p.stem for p in (CONF / "map").glob("*.yaml"))


def renamed_method_key(override: str) -> str:
    """``mixer=none,qmix`` -> ``method=iql,qmix``, ``+mixer.learner.x=1`` -> ``+method.learner.x=1`` (the key
    before it became ``method``, OLD_METHOD_NAMES); any other override unchanged."""
    key, sep, value = override.partition("=")
    bare = key.lstrip("+~")
    if bare != "mixer" and not bare.startswith("mixer."):
        return override
    if bare == "mixer":
        value = ",".join(OLD_METHOD_NAMES.get(v, v) for v in value.split(","))
    return f"{key[:len(key) - len(bare)]}method{bare[len('mixer'):]}" + (f"={value}" if sep else "")


def refuse_renamed(overrides: Sequence[str]) -> None:
    """``mixer=…`` / ``mixer.*=…`` -> ConfigError with the override to give (:func:`renamed_method_key`)."""
    for override in overrides:
        new = renamed_method_key(override)
        if new != override:
            raise ConfigError(f"{override}: the method is chosen with method= (mixer= was renamed; IQL is method=iql): "
                              f"give {new}. Its options are method.options.*, method.learner.*, method.init_scale")


def in_todays_keys(overrides: Sequence[str]) -> list[str]:
    """A command line of an older decomp as it is given today, finding the same runs and sweep job folders:
    ``mixer=…`` as ``method=…``, and on env=smac ``env.map_name=<m>`` as ``map=<m>`` where every <m> has a preset
    (the map once chosen by map_name alone is chosen by its preset, which sets map_name)."""
    out = [renamed_method_key(o) for o in overrides]
    if explicit_keys(out).get("env") != "smac" or any(o.lstrip("+~").startswith("map=") for o in out):
        return out
    known = set(map_presets())
    for i, override in enumerate(out):
        key, _, value = override.partition("=")
        if key.lstrip("+") == "env.map_name" and set(value.split(",")) <= known:
            out[i] = f"map={value}"
    return out


def check_map(cfg: Config, choices: Mapping[str, Any], explicit: Mapping[str, str]) -> None:
    """Refuse a map preset outside env=smac and an ``env.map_name=`` that disagrees with the chosen preset: the map
    is chosen with ``map=``, which sets env.map_name and the map's settings (what ``--cfg job`` then shows)."""
    chosen = choices.get("map")
    if cfg.env.name != "smac":
        if chosen:
            raise ConfigError(f"map={chosen} is a SMAC map preset; it applies to env=smac, not env={cfg.env.name}")
        return
    given = explicit.get("env.map_name")
    if given is None or given == chosen:
        return
    known = map_presets()
    hint = (f"give map={given} instead" if given in known else
            f"decomp has no preset for {given} (maps: {', '.join(known)}); add decomp/conf/map/{given}.yaml "
            f"(`# @package _global_` and `env: {{map_name: {given}}}`) and give map={given}")
    raise ConfigError(f"env.map_name={given} disagrees with the map preset map={chosen}: the map is chosen with "
                      f"map=<name>, which sets env.map_name and the map's settings (decomp/conf/map/<name>.yaml); {hint}")


def to_config(dcfg: DictConfig) -> Config:
    """Hydra's DictConfig -> the typed dataclass, resolved (the hydra node dropped); nothing else is applied."""
    plain = dcfg.copy()
    with open_dict(plain):
        plain.pop("hydra", None)
    return config_from_dict(OmegaConf.to_container(plain, resolve=True))  # type: ignore[arg-type]


def explicit_keys(overrides: list[str]) -> dict[str, str]:
    """``["a.b=1", "+c=2"]`` -> {"a.b": "1", "c": "2"}: the settings a user typed."""
    return dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)


def compose_config(overrides: list[str] | None = None) -> Config:
    """E.g. ``compose_config(["env=smac", "map=2s3z", "method=qtran", "seed=3"])``: the CLI's composition and checks."""
    overrides = list(overrides or [])
    refuse_renamed(overrides)
    GlobalHydra.instance().clear()
    register_configs()  # again: a method registered since this module was imported gets its node
    with initialize_config_module(config_module="decomp.conf", version_base=None):
        dcfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    cfg = to_config(dcfg)
    check_map(cfg, dcfg.hydra.runtime.choices, explicit_keys(overrides))
    return cfg
