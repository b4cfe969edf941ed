"""`python -m decomp.train … seeds=[0,1,2]` — several seeds in one process, one group folder.

Layout: ``<run_dir>/<env>-<map>__<method>__seeds0-1-2__<time>/`` holds ``group.json`` (the seeds and the
group's config) and one ordinary run folder per seed, ``seed_<s>/`` (config.yaml with ``seed=s``), so
``evaluate``, the explorer and ``resume=`` work on a single seed as on any run. ``resume=<group folder>``
continues every seed: killed ones from their checkpoints, ones killed before their first checkpoint from
scratch; finished ones are reported, not retrained.
"""

from __future__ import annotations

import copy
import json
import shutil
import statistics
import sys
from pathlib import Path

from decomp.cli.run_lock import hold
from decomp.cli.sweep import clear_partial, finished_steps
from decomp.cli.run_folder import apply_overrides, fresh_folder, refuse_changes, resolve_resume, run_name
from decomp.cli.run_report import report_run
from decomp.config.schema import Config, config_from_dict
from decomp.config.validation import validate
from decomp.training.checkpoint import write_json
from decomp.training.group import SeedGroup
from decomp.training.runtime import keep_freed_memory
from decomp.training.run_record import Summary, config_dict, write_config
from decomp.training.trainer import Trainer

GROUP_RECORD = "group.json"


def is_group(path: Path) -> bool:
    return (path / GROUP_RECORD).is_file()


def member_config(cfg: Config, seed: int, group_dir: Path) -> Config:
    """The config of one seed's run: the group's, with ``seed`` set and no ``seeds``."""
    member = copy.deepcopy(cfg)
    member.seed, member.seeds, member.resume = seed, [], ""
    member.run_dir, member.run_name = str(group_dir), f"seed_{seed}"
    return member


def _new_group(cfg: Config) -> tuple[Path, list[tuple[Config, Path, Path | None]]]:
    validate(cfg)
    path = fresh_folder(Path(cfg.run_dir), run_name(cfg, "seeds" + "-".join(str(s) for s in cfg.seeds)))
    write_json(path / GROUP_RECORD, {"seeds": list(cfg.seeds), "config": config_dict(cfg)})
    return path, [(member_config(cfg, s, path), path / f"seed_{s}", None) for s in cfg.seeds]


def _resumed_group(cfg: Config, explicit: dict[str, str]) -> tuple[Path, list[tuple[Config, Path, Path | None]], list[Path]]:
    """-> (group folder, (config, folder, checkpoint or None) per seed to train, folders of finished seeds)."""
    refuse_changes(explicit)
    path = Path(cfg.resume)
    record = json.loads((path / GROUP_RECORD).read_text())
    base = config_from_dict(record["config"])
    apply_overrides(base, cfg, explicit)
    todo, finished = [], []
    for seed in record["seeds"]:
        folder = path / f"seed_{seed}"
        done = finished_steps(folder)
        if done is not None and ("t_max" not in explicit or cfg.t_max <= done):
            finished.append(folder)
        elif (folder / "checkpoints" / "latest.pt").exists():
            asked = copy.deepcopy(cfg)
            asked.resume, asked.seeds = str(folder), []
            todo.append(resolve_resume(asked, explicit))
        else:  # killed before its first checkpoint: nothing to resume, start it again
            if folder.exists():
                clear_partial(folder)
            todo.append((member_config(base, seed, path), folder, None))
    return path, todo, finished


def train_group(cfg: Config, explicit: dict[str, str]) -> int:
    """Train (or resume) a group of seeds; prints each seed's result and the median and range."""
    fresh = not cfg.resume
    if fresh:
        path, todo, finished = *_new_group(cfg), []
        with hold(path):  # nobody else knows the new folder's name yet
            return _train_members(path, todo, finished, fresh)
    with hold(Path(cfg.resume)):  # before _resumed_group, which may clear a member killed before its checkpoint
        path, todo, finished = _resumed_group(cfg, explicit)
        return _train_members(path, todo, finished, fresh)


def _train_members(path: Path, todo: list[tuple[Config, Path, Path | None]], finished: list[Path], fresh: bool) -> int:
    keep_freed_memory()
    trainers: list[Trainer] = []
    try:
        for member, folder, ckpt in todo:
            folder.mkdir(parents=True, exist_ok=True)
            trainers.append(Trainer(member, run_dir=folder, resume_from=ckpt))
    except BaseException:
        if fresh:
            shutil.rmtree(path, ignore_errors=True)  # nothing was trained: leave no empty group behind
        raise
    for t in trainers:
        assert t.run_dir is not None
        write_config(t.run_dir, t.cfg, t.info)
    training = f"seeds {', '.join(str(t.cfg.seed) for t in trainers)} in one process" if trainers else "nothing to train"
    print(f"[decomp] group folder: {path} ({training}"
          + (f"; already finished: {', '.join(f.name for f in finished)}" if finished else "") + ")", file=sys.stderr)
    summaries = SeedGroup(trainers).run() if trainers else []
    for t, summary in zip(trainers, summaries):
        with t.own_rng():
            report_run(t, summary)
    results = {t.cfg.seed: summary for t, summary in zip(trainers, summaries)}
    for folder in finished:
        results[int(folder.name.removeprefix("seed_"))] = Summary(**json.loads((folder / "summary.json").read_text()))
    print_group_result(path, results)
    return 0


def print_group_result(path: Path, results: dict[int, Summary]) -> None:
    """Every seed's final greedy win rate, their median and range; the seeds' curves in one figure."""
    from decomp.analysis.sweep_runs import eval_curve
    from decomp.training.run_plots import seed_curves

    seeds = sorted(results)
    rates = [results[s].eval_win_rate for s in seeds]
    print(f"[decomp] seeds {', '.join(map(str, seeds))}: final greedy win rate "
          f"{' / '.join(f'{r:.3f}' for r in rates)}; median {statistics.median(rates):.3f} "
          f"(range {min(rates):.3f}–{max(rates):.3f})")
    curves = {s: eval_curve(path / f"seed_{s}" / "metrics.csv") for s in seeds}
    seed_curves(path / "learning_curves.png", curves, f"{path.name}: greedy win rate per seed")
    print(f"[decomp] outputs in {path} (one run folder per seed; figure learning_curves.png)")
