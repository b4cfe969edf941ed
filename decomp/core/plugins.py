"""Methods defined outside decomp: ``DECOMP_METHODS`` names the modules that register them.

``DECOMP_METHODS=examples.smooth_qmix`` (comma-separated module names, or paths of ``.py`` files) makes
every entry point — ``python -m decomp.train``, a sweep's jobs, ``decomp.evaluate``, the explorer, the
theory checks — import those modules when the registry is first imported; each calls
:func:`decomp.core.methods.register`. Set it for every command that trains or loads such a method's runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

ENV_VAR = "DECOMP_METHODS"


class PluginError(ImportError):
    """A module named in DECOMP_METHODS could not be imported; the message says which and how to name it."""


def _import(entry: str) -> ModuleType:
    """A module by dotted name (``examples.smooth_qmix``) or by file path (``path/to/my_mixer.py``)."""
    if not entry.endswith(".py"):
        return importlib.import_module(entry)
    path = Path(entry).resolve()
    name = f"decomp_plugin_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it, as a normal import does
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_plugins(spec: str | None = None) -> list[ModuleType]:
    """Import every module named in ``spec`` (default: ``$DECOMP_METHODS``); already imported ones are reused."""
    spec = os.environ.get(ENV_VAR, "") if spec is None else spec
    modules = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        try:
            modules.append(_import(entry))
        except (ImportError, OSError) as err:
            raise PluginError(f"{ENV_VAR} names {entry!r}, which could not be imported ({err}); give module names "
                              "importable from the working directory (examples.smooth_qmix) or paths of .py files, "
                              "separated by commas") from err
    return modules
