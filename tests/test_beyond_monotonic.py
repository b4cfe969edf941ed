"""Beyond monotonic mixing (issue 6): QTRAN-alt, QPLEX, OW/CW-QMIX and COMA.

Training checks use the real pipeline (``decomp.training.matrix_lab.train_matrix``) on the QTRAN game with
uniform data, where additive/monotone methods provably settle on a sub-optimal joint action.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from decomp.core.learners.qtran_alt import counterfactual_joint
from decomp.training.matrix_lab import train_matrix
from decomp.core.methods import METHODS, make_mixer
from decomp.core.mixers import autograd_local_weights

SEEDS = range(5)
TRAIN_STEPS = 12_000  # preset lr 0.005; measured: qtran 5/5, qtran_alt 5/5, qplex 5/5, ow_qmix 5/5


def optimal_seeds(method: str, game: str = "qtran", data: str = "uniform", steps: int = TRAIN_STEPS,
                  **overrides: object) -> list[bool]:
    return [train_matrix(game, method, seed=s, steps=steps, data=data, **overrides).optimal for s in SEEDS]


# ---- training on the QTRAN game --------------------------------------------------------------------
@pytest.mark.parametrize("method", ["qtran_alt", "qplex", "ow_qmix"])
def test_non_monotone_methods_find_the_qtran_optimum(method: str) -> None:
    found = optimal_seeds(method)
    assert sum(found) >= 4, f"{method} found (A,A) in {sum(found)}/5 seeds: {found}"


def test_vdn_never_finds_the_qtran_optimum_at_the_same_budget() -> None:
    found = optimal_seeds("vdn")
    assert not any(found), f"vdn found (A,A) in seeds {[s for s, f in zip(SEEDS, found) if f]}"


def test_qplex_tables_are_produced_and_igm_consistent() -> None:
    run = train_matrix("qtran", "qplex", seed=0, steps=2000)
    assert run.q_tot.shape == (3, 3) and np.isfinite(run.q_tot).all()
    # IGM: the argmax of the Q_tot table is the per-agent greedy joint action
    assert np.unravel_index(run.q_tot.argmax(), run.q_tot.shape) == run.greedy
    assert run.mix(np.zeros(2)) is None  # Q_tot is not a function of the Q^i alone


# ---- QPLEX: IGM by construction --------------------------------------------------------------------
@st.composite
def qplex_case(draw: st.DrawFn) -> tuple[int, int, list[list[float]], list[float], int]:
    n = draw(st.integers(2, 5))
    a = draw(st.integers(2, 6))
    # distinct values per agent (gap ≥ 0.1) so each agent's argmax is unique
    tables = [[v / 10 for v in draw(st.lists(st.integers(-200, 200), min_size=a, max_size=a, unique=True))]
              for _ in range(n)]
    state = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=4, max_size=4))
    return n, a, tables, state, draw(st.integers(0, 10_000))


@settings(derandomize=True, deadline=None, max_examples=60)
@given(qplex_case())
def test_qplex_igm_brute_force(case: tuple[int, int, list[list[float]], list[float], int]) -> None:
    n, a, tables, state, seed = case
    torch.manual_seed(seed)
    mixer = make_mixer("qplex", n, 4, 0, a).double()
    q = torch.tensor(tables, dtype=torch.float64)  # (N, A)
    joint = torch.tensor(list(itertools.product(range(a), repeat=n)))  # (K, N)
    k = joint.shape[0]
    chosen = q.gather(1, joint.T).T  # (K, N)
    onehot = torch.nn.functional.one_hot(joint, a).double()  # (K, N, A)
    s = torch.tensor(state, dtype=torch.float64).expand(k, -1)
    with torch.no_grad():
        q_tot = mixer(chosen, s, None, onehot, q.max(-1).values.expand(k, -1))[:, 0]  # (K,)
    best = tuple(joint[q_tot.argmax()].tolist())
    assert best == tuple(q.argmax(-1).tolist())
    assert float(q_tot.max()) > float(q_tot.topk(2).values[1])  # strictly: IGM is not a tie


def test_qplex_rejects_missing_or_misshaped_inputs() -> None:
    mixer = make_mixer("qplex", 3, 4, 0, 5)
    qs, s = torch.randn(7, 3), torch.randn(7, 4)
    onehot = torch.nn.functional.one_hot(torch.randint(0, 5, (7, 3)), 5).float()
    with pytest.raises(ValueError, match="actions_onehot must have shape"):
        mixer(qs, s, None, onehot[:, :2], qs)
    with pytest.raises(ValueError, match="max_qs"):
        mixer(qs, s, None, onehot, None)


def test_qplex_is_stable_on_the_matrix_reports_settings() -> None:
    """Issue 12: at the report's lr 0.01 / 9000 steps the former QPLEX (w ≥ 1, w detached in the advantage)
    found 3/5 and diverged in seed 4 (Q_tot(A,A) = 622). Now: ≥ 4/5 optimal, no seed diverged, tables fit."""
    from decomp.cli.report import REPORT_LR, REPORT_STEPS

    runs = [train_matrix("qtran", "qplex", seed=s, steps=REPORT_STEPS, data="uniform", lr=REPORT_LR) for s in SEEDS]
    summary = [(r.optimal, r.diverged, round(float(np.abs(r.q_tot - r.payoff).mean()), 2)) for r in runs]
    assert sum(r.optimal for r in runs) >= 4, summary
    assert not any(r.diverged for r in runs), summary
    assert np.mean([np.abs(r.q_tot - r.payoff).mean() for r in runs]) < 2.0, summary


def test_qplex_learner_lr_and_grad_clip_options_override_the_run_for_qplex_only() -> None:
    from decomp.envs.base import EnvInfo
    from decomp.core.methods import make_learner
    from decomp.core.learners import LearnerConfig

    info = EnvInfo(n_agents=2, n_actions=3, obs_dim=1, state_dim=1, feat_dim=1, episode_limit=1, n_envs=1)
    agent, cfg = torch.nn.Linear(1, 3), LearnerConfig(lr=0.01, grad_clip=10.0)
    plain = make_learner("qplex", agent, make_mixer("qplex", 2, 1, 1, 3), info, cfg)
    tuned = make_learner("qplex", agent, make_mixer("qplex", 2, 1, 1, 3), info, cfg, lr=0.002, grad_clip=1.0)
    assert plain.optimizer.param_groups[0]["lr"] == 0.01 and plain.cfg.grad_clip == 10.0
    assert tuned.optimizer.param_groups[0]["lr"] == 0.002 and tuned.cfg.grad_clip == 1.0
    assert cfg.lr == 0.01 and cfg.grad_clip == 10.0  # the shared config is not modified
    with pytest.raises(ValueError, match="lr and grad_clip must be > 0"):
        make_learner("qplex", agent, make_mixer("qplex", 2, 1, 1, 3), info, cfg, lr=0.0)


# ---- QTRAN-alt ---------------------------------------------------------------------------------------
def test_counterfactual_joint_replaces_exactly_one_agents_action() -> None:
    n, a = 3, 4
    taken = torch.tensor([[2, 0, 3], [1, 1, 1]])  # (B, N)
    onehot = torch.nn.functional.one_hot(taken, a).float()  # (B, N, A)
    cf = counterfactual_joint(onehot)  # (B, N, A, N, A)
    assert cf.shape == (2, n, a, n, a)
    for b, i, c in itertools.product(range(2), range(n), range(a)):
        expect = taken[b].clone()
        expect[i] = c
        assert torch.equal(cf[b, i, c].argmax(-1), expect) and torch.equal(cf[b, i, c].sum(-1), torch.ones(n))


# ---- theory-layer contract: local weights only where defined -------------------------------------------
def test_local_weights_defined_only_for_monotone_new_mixers() -> None:
    qs, s = torch.randn(5, 3), torch.randn(5, 4)
    for name in ("qplex", "coma", "qtran_alt"):
        mixer = make_mixer(name, 3, 4, 3, 5)
        assert not getattr(mixer, "monotone", False)
    with pytest.raises(NotImplementedError, match="not defined"):
        make_mixer("qplex", 3, 4, 3, 5).local_weights(qs, s)
    with pytest.raises(NotImplementedError, match="not defined"):
        make_mixer("coma", 3, 4, 3, 5).local_weights(qs, s)
    for name in ("ow_qmix", "cw_qmix"):  # Q_tot is QMIX's monotone mixer
        mixer = make_mixer(name, 3, 4, 3, 5)
        assert mixer.monotone
        lam = mixer.local_weights(qs, s)
        torch.testing.assert_close(lam, autograd_local_weights(mixer, qs, s))
        assert (lam >= 0).all()
    assert {"qtran_alt", "qplex", "ow_qmix", "cw_qmix", "coma"} <= set(METHODS)


# ---- COMA ---------------------------------------------------------------------------------------------
def test_coma_sampling_respects_availability_and_is_greedy_at_eps_zero() -> None:
    from decomp.config.compose import compose_config
    from decomp.core.build import build_learner
    from decomp.envs.base import EnvInfo

    cfg = compose_config(["env=matrix", "method=coma"])
    info = EnvInfo(n_agents=2, n_actions=4, obs_dim=1, state_dim=1, feat_dim=2, episode_limit=1, n_envs=4)
    from decomp.rollout.policy import Policy

    policy = Policy.of(build_learner(cfg, info))
    assert policy.kind == "sampled" and not policy.jax_exportable
    logits = torch.tensor([[5.0, 0.0, 9.0, 1.0], [0.0, 3.0, 0.0, 2.0]]).expand(1000, 2, 4)
    avail = torch.tensor([[True, True, False, True], [True, True, True, True]]).expand(1000, 2, 4)
    gen = torch.Generator().manual_seed(0)
    greedy = policy.selector(logits, avail, 0.0, gen)
    assert (greedy == torch.tensor([0, 1])).all()  # action 2 of agent 0 is unavailable
    sampled = policy.selector(logits, avail, 0.5, gen)
    assert not (sampled[:, 0] == 2).any()
    assert len(set(sampled[:, 1].tolist())) == 4  # ε-uniform reaches every available action


def test_coma_learns_qmix_easy_optimum_with_egreedy_data() -> None:
    # Random joint play finds (A,A) with probability 1/9; COMA's greedy policy must do it in most seeds.
    found = optimal_seeds("coma", game="qmix_easy", data="egreedy", steps=6000, lr=0.01)
    assert sum(found) >= 4, f"coma found the qmix_easy optimum in {sum(found)}/5 seeds: {found}"


# ---- the report ---------------------------------------------------------------------------------------
def test_matrix_report_smoke(tmp_path) -> None:
    from decomp.cli.report import main

    (tmp_path / "matrix_games.md").write_text("# old report\n\n## Mutation check: kept\n\n| table |\n")
    main(["matrix", "--seeds", "1", "--steps", "640", "--workers", "1", "--games", "qtran",
          "--methods", "vdn", "qplex", "--out", str(tmp_path)])
    text = (tmp_path / "matrix_games.md").read_text()
    assert "python -m decomp.report matrix --seeds 1" in text and "`qplex`" in text
    assert "# old report" not in text and text.endswith("## Mutation check: kept\n\n| table |\n")  # regenerated, section kept
    assert (tmp_path / "img" / "matrix_qtran.png").stat().st_size > 0


# ---- SMAX (slow) ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_coma_learns_to_win_2s3z(tmp_path) -> None:
    """COMA's final greedy policy after 200k env steps of SMAX 2s3z, over 128 fresh battles.

    Measured with this exact command (threads=1, 128 battles): seeds 0-2 win 0.305 / 0.484 / 0.586 with
    returns 11.9 / 14.1 / 15.3; the untrained greedy actor (t_max=3200) wins 0 of 128 with returns 1.5 / 4.1 /
    0.0, uniformly random actions return 1.9-2.3. Not 3m: there COMA ends at 0.41-0.48 (committed sweep, 300k),
    no better than an untrained greedy QMIX policy (≈ 0.44), so a win rate there cannot show learning.
    0.15 is 3.8 standard errors (0.041) below the weakest seed; a return of 8 is twice the best untrained one.
    """
    pytest.importorskip("jaxmarl")
    from decomp.config.compose import compose_config
    from decomp.training.trainer import Trainer

    cfg = compose_config(["env=smac", "env.backend=smax", "map=2s3z", "method=coma", "seed=0",
                          "t_max=200000", "eval_interval=0", "threads=1", "progress=false"])
    summary = Trainer(cfg, run_dir=None).run()
    assert summary.eval_win_rate >= 0.15 and summary.eval_return >= 8.0, summary
