#!/usr/bin/env python3
"""Bootstrap and run decomp with nothing but Python ≥ 3.11 and pip.

    python quickstart.py train [key=value ...]   # the main job (default: env=smac, SMAX without SC2)
    python quickstart.py test [--slow] [pytest args ...]

The first call creates ``.venv`` and installs the pinned versions from ``constraints.txt``
(torch is the 2.13.0 CPU build, so no multi-GB CUDA download); later calls reuse it and reinstall
only when pyproject.toml or constraints.txt change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".decomp-install-stamp"
DEFAULT_TRAIN = ["env=smac"]


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def bootstrap() -> None:
    """Create .venv and install decomp with its pinned dependencies if needed."""
    if sys.version_info < (3, 11):
        sys.exit(f"decomp needs Python >= 3.11 (jaxmarl does); this is {sys.version.split()[0]}")
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    if not PY.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _run(pip + ["torch==2.13.0"])  # the CPU wheel; an unpinned torch would pull a CUDA build
    _run(pip + ["-c", "constraints.txt", "-e", ".[test,wandb]"])  # wandb: the optional logger=wandb, tested here
    STAMP.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("train", "test"):
        print(__doc__)
        return 2
    bootstrap()
    cmd, rest = argv[0], argv[1:]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if cmd == "train":
        args = [str(PY), "-m", "decomp.train", *(rest or DEFAULT_TRAIN)]
    else:
        marker = []
        if "--slow" in rest:
            rest = [a for a in rest if a != "--slow"]
            marker = ["-m", "slow"]
        args = [str(PY), "-m", "pytest", *marker, *rest]
    print("+", " ".join(args[1:]), flush=True)
    return subprocess.call(args, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
