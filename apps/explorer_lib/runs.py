"""Read trainer run folders (docs/architecture.md, "Run folder") for the run viewer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from decomp.analysis.battle import Battle, BattleFileError, read_battle
from explorer_lib.validate import InputError

METRIC_COLUMNS = ("step", "wall_time", "key", "value")


def is_run(path: Path) -> bool:
    """A run folder holds the trainer's resolved config or its metrics."""
    return path.is_dir() and ((path / "config.yaml").is_file() or (path / "metrics.csv").is_file())


def _runs_in(folder: Path) -> list[Path]:
    """Run folders directly inside ``folder``, and the per-seed runs of seed groups (``seeds=[...]``) in it."""
    out = []
    for p in folder.iterdir():
        if is_run(p):
            out.append(p)
        elif p.is_dir() and (p / "group.json").is_file():
            out.extend(q for q in p.iterdir() if is_run(q))
    return out


def find_runs(path_text: str) -> list[Path]:
    """The run itself if ``path_text`` is a run folder, else the run folders inside it (seed groups' too)."""
    text = path_text.strip()
    if not text:
        raise InputError("Enter a run folder or a runs directory (e.g. runs/).")
    path = Path(text).expanduser()
    if not path.exists():
        raise InputError(f"'{text}' does not exist.")
    if not path.is_dir():
        raise InputError(f"'{text}' is a file, not a run folder.")
    if is_run(path):
        return [path]
    runs = sorted(_runs_in(path), key=lambda p: p.stat().st_mtime, reverse=True)
    if not runs:
        raise InputError(
            f"'{text}' is not a run folder: it has no config.yaml or metrics.csv, "
            "and none of its sub-folders is a run."
        )
    return runs


def find_runs_or_none(path_text: str) -> list[Path] | None:
    """:func:`find_runs`, or None where it would refuse the path."""
    try:
        return find_runs(path_text)
    except InputError:
        return None


def read_config(run: Path) -> tuple[dict[str, Any] | None, str]:
    """(parsed config or None, raw text); an unreadable YAML still shows as text."""
    f = run / "config.yaml"
    if not f.is_file():
        return None, ""
    text = f.read_text(errors="replace")
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError:
        return None, text
    return (cfg if isinstance(cfg, dict) else None), text


def read_json(run: Path, name: str) -> dict[str, Any] | None:
    """A small JSON side file (env_info.json, summary.json), or None if absent or broken."""
    f = run / name
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def read_metrics(run: Path) -> pd.DataFrame | None:
    """metrics.csv in long format (step, wall_time, key, value); None if the run has none yet."""
    f = run / "metrics.csv"
    if not f.is_file():
        return None
    try:
        df = pd.read_csv(f)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{f} is not a readable metrics file: {err}") from None
    missing = [c for c in METRIC_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{f} lacks column(s) {', '.join(missing)}; expected step,wall_time,key,value.")
    df["step"] = pd.to_numeric(df["step"], errors="coerce")
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    return df.dropna(subset=["step", "value"])


def series(metrics: pd.DataFrame, prefix: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every key starting with ``prefix``, as (steps, values) sorted by step; keys in natural order."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sub = metrics[metrics["key"].astype(str).str.startswith(prefix)]
    for key, g in sub.groupby("key", sort=False):
        g = g.sort_values("step")
        out[str(key)] = (g["step"].to_numpy(), g["value"].to_numpy())
    return dict(sorted(out.items(), key=lambda kv: _natural(kv[0])))


def _natural(key: str) -> tuple[str, int]:
    head, _, tail = key.rpartition("/")
    return (head, int(tail)) if tail.isdigit() else (key, -1)


def env_name(run: Path, cfg: dict[str, Any] | None) -> str:
    """The env the run trained on, from env_info.json, the config, or the folder name."""
    info = read_json(run, "env_info.json") or {}
    if info.get("name"):
        return str(info["name"])
    env = (cfg or {}).get("env")
    if isinstance(env, dict):
        for k in ("name", "backend", "map_name"):
            if env.get(k):
                return f"{env.get('backend', '')} {env[k]}".strip() if k == "map_name" else str(env[k])
    if isinstance(env, str):
        return env
    return run.name.split("__")[0]


def looks_like_smax(run: Path, cfg: dict[str, Any] | None) -> bool:
    """SMAX/SMAC runs can carry a replay; matrix runs cannot."""
    name = env_name(run, cfg).lower()
    return any(t in name for t in ("smax", "smac", "sc2")) or (run / "replay.npz").is_file()


Replay = Battle  # the battle arrays (and the model's view, when recorded) of replay.npz


def read_replay(run: Path) -> Replay | None:
    """replay.npz of the saved greedy policy; None if absent, InputError if malformed (one reader:
    decomp.analysis.battle, shared with ``python -m decomp.battle``)."""
    try:
        return read_battle(run / "replay.npz")
    except BattleFileError as err:
        raise InputError(str(err)) from None
