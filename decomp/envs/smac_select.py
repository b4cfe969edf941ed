"""Choose the StarCraft backend for ``env=smac``: real SMAC (SC2) when installed, else SMAX.

Why a module of its own: "is StarCraft II usable here?" has several distinct failure modes (no
``smac``; PyPI's unrelated ``smac`` = SMAC3; a broken install; no game binary), and each deserves
its own one-line explanation rather than a traceback from deep inside pysc2.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decomp.envs.base import BatchedEnv
from decomp.envs.smac_rewards import REWARDS
from decomp.envs.smax_plus import PLUS_MAP_NAMES, is_plus_map

BACKENDS = ("auto", "sc2", "smax")

# Where pysc2 (hence SMAC) looks when SC2PATH is unset, per platform.
DEFAULT_SC2_PATHS = {"linux": "~/StarCraftII", "darwin": "/Applications/StarCraft II", "win32": "C:/Program Files (x86)/StarCraft II"}

SMAC_GIT = "pip install git+https://github.com/oxwhirl/smac.git"
SMAC3_MESSAGE = (
    "the installed `smac` package is SMAC3, the hyperparameter optimiser from PyPI, not the StarCraft "
    f"Multi-Agent Challenge; uninstall it (`pip uninstall smac`) and install oxwhirl's: {SMAC_GIT}"
)
INSTALL_HELP = (
    f"To use real StarCraft II: (1) {SMAC_GIT}; (2) download the StarCraft II Linux package from "
    "Blizzard's s2client-proto page (https://github.com/Blizzard/s2client-proto#downloads) and unzip "
    "it, e.g. to ~/StarCraftII; (3) put the SMAC maps (https://github.com/oxwhirl/smac/releases, "
    "SMAC_Maps.zip) into $SC2PATH/Maps/SMAC_Maps; (4) export SC2PATH=/path/to/StarCraftII. "
    "Or use backend=smax (JaxMARL's SMAX re-implementation, no game needed)."
)


class BackendUnavailable(RuntimeError):
    """The requested StarCraft backend cannot run on this machine (message says how to fix it)."""


@dataclass(frozen=True)
class Sc2Status:
    """Whether real SMAC can run, and if not, why (one human-readable clause)."""

    available: bool
    reason: str
    smac3: bool = False  # the PyPI hyperparameter optimiser shadows oxwhirl's package


def _probe_smac() -> tuple[bool, str, bool]:
    """(usable, reason, is_smac3) for ``import smac.env.StarCraft2Env``."""
    try:
        smac = importlib.import_module("smac")
    except ImportError:
        return False, "oxwhirl's smac is not installed", False
    except Exception as e:  # noqa: BLE001  (a broken package should not crash env selection)
        return False, f"`import smac` failed: {type(e).__name__}: {e}", False
    try:
        env_mod = importlib.import_module("smac.env")
    except ImportError as e:
        # 'No module named smac.env' => not oxwhirl's smac; anything else => its deps (pysc2) broke
        if getattr(e, "name", None) in ("smac.env", "smac") or not hasattr(smac, "__path__"):
            if _looks_like_smac3(smac):
                return False, SMAC3_MESSAGE, True
            return False, f"the installed `smac` ({getattr(smac, '__file__', '?')}) has no smac.env", False
        return False, f"`import smac.env` failed: {e}", False
    except Exception as e:  # noqa: BLE001
        return False, f"`import smac.env` failed: {type(e).__name__}: {e}", False
    if not hasattr(env_mod, "StarCraft2Env"):
        if _looks_like_smac3(smac):
            return False, SMAC3_MESSAGE, True
        return False, "smac.env has no StarCraft2Env", False
    return True, "oxwhirl's smac imports", False


def _looks_like_smac3(mod: Any) -> bool:
    """SMAC3 (PyPI ``smac`` 2.x) exposes facades and a 2.x version, and no ``smac.env``."""
    if hasattr(mod, "HyperparameterOptimizationFacade") or hasattr(mod, "facade"):
        return True
    if str(getattr(mod, "__version__", "")).startswith("2."):
        return True
    if hasattr(mod, "__path__"):
        try:
            return importlib.util.find_spec("smac.facade") is not None
        except (ImportError, ValueError):
            return False
    return False


def default_sc2_path() -> str:
    return DEFAULT_SC2_PATHS.get(sys.platform, DEFAULT_SC2_PATHS["linux"])


def find_sc2() -> tuple[Path | None, str]:
    """(install dir or None, reason). An install is a directory with a ``Versions`` subdirectory."""
    env_path = os.environ.get("SC2PATH")
    if env_path:
        p = Path(env_path).expanduser()
        if (p / "Versions").is_dir():
            return p, f"SC2PATH={env_path}"
        return None, f"SC2PATH={env_path} has no Versions/ directory"
    default = default_sc2_path()
    p = Path(default).expanduser()
    if (p / "Versions").is_dir():
        return p, f"SC2PATH unset, found {default}"
    return None, f"SC2PATH unset, {default} missing"


def sc2_status() -> Sc2Status:
    """Check both halves (the smac package, the game) so the message names everything missing."""
    usable, smac_reason, smac3 = _probe_smac()
    path, where = find_sc2()
    problems = [] if usable else [smac_reason]
    if path is None:
        problems.append(f"StarCraft II not found ({where})")
    if problems:
        return Sc2Status(False, "; ".join(problems), smac3)
    return Sc2Status(True, f"StarCraft II at {path} ({where})")


def _notice(msg: str) -> None:
    print(f"[decomp] {msg}", file=sys.stderr, flush=True)


def choose_backend(requested: str, map_name: str | None = None) -> str:
    """Resolve ``auto|sc2|smax`` to ``sc2`` or ``smax``; explain a fallback in one stderr line."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown SMAC backend {requested!r}; expected one of {list(BACKENDS)} (e.g. backend=auto)")
    if requested == "smax":
        return "smax"
    status = sc2_status()
    if status.available:
        return "sc2"
    if requested == "sc2":
        raise BackendUnavailable(f"backend=sc2 requested but {status.reason}. {INSTALL_HELP}")
    what = f" of map {map_name}" if map_name else ""
    sim = SMAX_PLUS_NOTE if map_name and is_plus_map(map_name) else "SMAX (jaxmarl) re-implementation"
    _notice(f"{'warning: ' if status.smac3 else ''}env=smac: {status.reason} -> using {sim}{what}")
    return "smax"


SMAX_PLUS_NOTE = "SMAX+ (decomp's extension of jaxmarl's SMAX: an approximation, not SMAC; docs/smax_plus.md)"


def make_smac_env(
    map_name: str, n_envs: int, seed: int = 0, backend: str = "auto", reward: str = "native", **kw: Any
) -> BatchedEnv:
    """Build the StarCraft env for ``map_name`` on the chosen backend.

    ``reward``: one of :data:`~decomp.envs.smac_rewards.REWARDS`. ``kw`` goes to the backend (``reward_scale``
    works on both; SC2 takes ``smac_kwargs=...``).
    """
    if reward not in REWARDS:
        raise ValueError(f"unknown reward {reward!r}; expected one of {list(REWARDS)} (env.reward=...)")
    chosen = choose_backend(backend, map_name)
    if chosen == "sc2":
        from decomp.envs.sc2 import SC2Env  # noqa: PLC0415

        return SC2Env(map_name, n_envs, seed=seed, **kw)
    from decomp.envs.smax import SmaxEnv, smax_map_names  # noqa: PLC0415

    if map_name not in smax_map_names() and not is_plus_map(map_name):
        note = " (real StarCraft II is not available here, so SMAX was chosen)" if backend == "auto" else ""
        raise ValueError(
            f"unknown SMAX map {map_name!r}{note}; SMAX provides: {', '.join(smax_map_names())}; "
            f"SMAX+ adds: {', '.join(PLUS_MAP_NAMES)}"
        )
    return SmaxEnv(map_name, n_envs, seed=seed, reward=reward, **kw)
