"""``python -m decomp.evaluate``: the trainer's own evaluation of saved weights, eval.json, clear refusals.

Matrix-game runs keep this fast; the SMAX path is exercised on a sweep run in tests/test_smac_pipeline.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from decomp.cli.evaluate import main, parse
from decomp.config.compose import compose_config
from decomp.training.checkpoint import CheckpointError
from decomp.training.saved_eval import evaluate_saved, locate, split_episodes


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """One finished matrix run (QTRAN game, VDN; 1,920 env steps) with latest.pt and best.pt."""
    from decomp.cli.train import train

    root = tmp_path_factory.mktemp("runs")
    cfg = compose_config(["env=matrix", "method=vdn", "t_max=1920", "eval_interval=640", "progress=false",
                          f"run_dir={root}", "run_name=vdn"])
    assert train(cfg) == 0
    return root / "vdn"


def test_final_weights_reproduce_the_trainers_own_final_evaluation(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text())
    result = evaluate_saved(*locate(run, None, None))
    assert result.weights == "final" and result.policy_step == 1920 and result.episodes == 4  # 4 rounds × 1 env
    assert result.mean_return == pytest.approx(summary["eval_return"])  # the greedy matrix policy is deterministic
    best = evaluate_saved(*locate(run, None, "best"))
    assert best.policy_step == summary["best_policy_step"] or summary["best_policy_step"] == -1


def test_cli_writes_final_and_best_side_by_side(run: Path, capsys) -> None:
    main([f"run={run}", "episodes=3"])
    main([f"checkpoint={run / 'checkpoints' / 'best.pt'}"])
    out = capsys.readouterr().out
    assert "matrix:qtran · vdn · final weights (trained to env step 1,920): win rate 0.000 (95 % Wilson interval " in out
    assert "0/3 episodes, seed 0" in out and "best weights" in out and f"wrote {run / 'eval.json'}" in out
    saved = json.loads((run / "eval.json").read_text())
    assert set(saved) == {"final", "best"} and saved["final"]["episodes"] == 3 and saved["final"]["method"] == "vdn"
    assert saved["final"]["win_rate_ci95"][0] == 0.0 and 0 < saved["final"]["win_rate_ci95"][1] < 1


def test_episodes_fill_the_parallel_envs() -> None:
    assert split_episodes(128, 32) == (32, 4)
    assert split_episodes(10, 4) == (4, 3)  # 12 episodes: rounded up to whole rounds
    assert split_episodes(97, 32) == (25, 4)
    assert split_episodes(3, 32) == (3, 1)


@pytest.mark.parametrize("argv, message", [
    (["run=/nonexistent/run"], "is not a folder"),
    (["episodes=0", "run=x"], "episodes= must be >= 1"),
    (["episodes=many"], "episodes= needs an integer"),
    (["wieghts=best"], "cannot read 'wieghts=best'; allowed: run=… checkpoint=… episodes=… weights=…"),
    (["checkpoint=model.onnx"], "is not a .pt file"),
    ([], "give exactly one of run=<run folder> or checkpoint=<file.pt>"),
])
def test_bad_arguments_say_what_is_allowed(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_wrong_or_broken_checkpoints_are_refused_with_the_reason(run: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="holds only the best evaluation's weights; weights=final needs"):
        evaluate_saved(run / "checkpoints" / "best.pt", "final")
    with pytest.raises(CheckpointError, match="weights='last'; allowed: final, best"):
        locate(run, None, "last")  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="is not a run folder: it has no config.yaml"):
        locate(tmp_path, None, None)
    broken = tmp_path / "latest.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a decomp checkpoint"):
        evaluate_saved(broken, "final")
    payload = torch.load(run / "checkpoints" / "latest.pt", weights_only=False)
    payload["env_info"]["n_actions"] = 5
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="does not fit this env .* n_actions: checkpoint 5 vs env 3"):
        evaluate_saved(tmp_path / "other.pt", "final")
    payload = torch.load(run / "checkpoints" / "latest.pt", weights_only=False)
    payload["config"]["method"]["name"] = "qmix"  # VDN's weights into a QMIX model
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not fit the model its config builds"):
        evaluate_saved(tmp_path / "mismatch.pt", "final")


def test_parse_reads_every_key() -> None:
    a = parse(["run=r", "episodes=64", "weights=best", "seed=3", "threads=1", "replay=true"])
    assert (str(a.run), a.episodes, a.weights, a.seed, a.threads, a.replay) == ("r", 64, "best", 3, 1, True)
    assert not parse(["run=r"]).replay and not parse(["replay=False"]).replay


def test_replay_true_on_a_matrix_run_says_replays_are_smax_only(run: Path, capsys) -> None:
    """(The SMAX path, which records the same episode again, is tested in tests/test_battle.py.)"""
    with pytest.raises(SystemExit) as stop:
        main([f"run={run}", "replay=true"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "was trained on matrix:qtran; replays (replay=true) are recorded on SMAX maps" in err
    assert not (run / "replay.npz").exists()


def test_an_on_policy_run_evaluates(tmp_path: Path) -> None:
    """regime=onpolicy needs buffer_size >= episodes_per_update: the rebuilt, replay-less trainer keeps that."""
    from decomp.cli.train import train

    cfg = compose_config(["env=matrix", "method=vdn", "regime=onpolicy", "episodes_per_update=16", "batch_size=8",
                          "t_max=320", "eval_interval=160", "progress=false", f"run_dir={tmp_path}", "run_name=op"])
    assert train(cfg) == 0
    assert evaluate_saved(*locate(tmp_path / "op", None, None)).policy_step == 320


def test_saved_weights_act_exactly_like_the_trainer_that_saved_them(tmp_path: Path) -> None:
    """Loading is checked on what a policy *is*: the rebuilt trainer's Q^i and Q_tot tables equal the
    saving trainer's, for the final and the best weights, on a game where weights change the return.

    (The return alone cannot tell weights apart on the QTRAN game with VDN: final, best and random
    weights all return 0 there.) Untrained weights give other tables and another return here, so the
    equalities below are not true by construction.
    """
    from decomp.training.matrix_lab import game_tables
    from decomp.training.saved_eval import saved_policy
    from decomp.training.trainer import Trainer

    cfg = compose_config(["env=matrix", "env.game=two_step", "method=qmix", "data=egreedy", "t_max=3200",
                          "eval_interval=320", "progress=false"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trainer = Trainer(cfg, run_dir=run_dir)
    trainer.run()
    assert trainer.best.weights is not None and trainer.best.step < trainer.runner.env_steps  # best ≠ final here

    def tables(t: Trainer) -> list:
        got = game_tables(t.policy, t.learner.mixer, t.env, 0)
        return [got.q_tot, *got.agent_qs]

    def same(a: list, b: list) -> bool:
        return all(x.shape == y.shape and bool((x == y).all()) for x, y in zip(a, b))

    final_tables = tables(trainer)
    with trainer.best.swapped_in(trainer.learner):
        best_tables = tables(trainer)
    fresh = Trainer(cfg)  # untrained weights of the same config
    assert not same(tables(fresh), final_tables) and not same(best_tables, final_tables)
    untrained_return = fresh.evaluate()["eval/return"]

    for weights, want in (("final", final_tables), ("best", best_tables)):
        path = run_dir / "checkpoints" / ("latest.pt" if weights == "final" else "best.pt")
        with saved_policy(path, weights, n_envs=1, env_seed=0) as (loaded, step):
            assert same(tables(loaded), want), weights
            assert step == (trainer.runner.env_steps if weights == "final" else trainer.best.step)
    result = evaluate_saved(run_dir / "checkpoints" / "latest.pt", "final", episodes=4)
    assert result.mean_return == pytest.approx(trainer.evaluate()["eval/return"])
    assert result.mean_return != pytest.approx(untrained_return)
