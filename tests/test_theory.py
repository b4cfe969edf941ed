"""Tests of the theory module: Theorems 1-2 symbolically, refusals of malformed input, numeric side, CLI."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from decomp.core.methods import make_mixer
from decomp.core.mixers import Mixer
from theory.check import RunFolderError, check_run, main
from theory.examples import FAMILIES, bilinear, log_sum_exp, malformed, random_monotone, suite
from theory.numeric import analyse_mixer
from theory.problem import action_symbols, make_problem, q_symbols
from theory.suite import run_example, run_malformed, run_numeric
from theory.symbolic import remainder_along, remainder_order, theorem1, theorem2
from theory.taylor import orders_autograd, orders_chebyshev

SETTINGS = settings(derandomize=True, deadline=None, max_examples=8, database=None)


# ---- Theorem 1 on random monotone F ------------------------------------------------------------------
@SETTINGS
@given(family=st.sampled_from(sorted(FAMILIES)), n=st.integers(2, 3), seed=st.integers(0, 10**6))
def test_random_monotone_F_has_nonnegative_lambda_and_small_remainder(family: str, n: int, seed: int) -> None:
    ex = random_monotone(family, n, seed)
    p = make_problem(**ex.kwargs())
    t1 = theorem1(p)
    assert t1.monotone_ok, f"{ex.name}: λ = {t1.lam_float()}"
    ts = [10.0**-k for k in range(1, 5)]
    ratios = [r / t**2 for r, t in zip(remainder_along(p, t1, [1] * n, ts), ts)]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(ratios, ratios[1:])) and ratios[-1] < 1e-5, ratios
    rem = remainder_order(p)
    assert rem.is_little_o_of_square
    assert rem.label() == ("exact (R ≡ 0)" if ex.order is None else str(ex.order))


def test_theorem1_values_for_log_sum_exp() -> None:
    """λ_i = softmax weights and c + Σ λ_i Q^i(a_o) = F(Q(a_o))."""
    a1, a2 = action_symbols(2)
    p = make_problem(log_sum_exp([1, 1]), (1 - a1**2, 2 - a2**2), (0, 0))
    t1 = theorem1(p)
    e1, e2 = math.exp(1), math.exp(2)
    assert t1.lam_float() == pytest.approx([e1 / (e1 + e2), e2 / (e1 + e2)])
    assert float(t1.c + t1.lam[0] * 1 + t1.lam[1] * 2) == pytest.approx(math.log(e1 + e2))


def test_degenerate_peak_gives_higher_remainder_order() -> None:
    """Q^i = 1 − a⁴ has ΔQ = O(t⁴), so the remainder of a nonlinear F is O(t⁸)."""
    a1, a2 = action_symbols(2)
    p = make_problem(log_sum_exp([1, 1]), (1 - a1**4, 2 - a2**4), (0, 0))
    assert p.peak_orders == (4, 4)
    assert remainder_order(p, horizon=8).order == 8


def test_state_dependent_F() -> None:
    ex = next(e for e in suite() if e.state is not None)
    lam0 = theorem1(make_problem(**ex.kwargs())).lam_float()
    lam1 = theorem1(make_problem(**{**ex.kwargs(), "state": 2})).lam_float()
    assert lam0 != pytest.approx(lam1), "λ_i(s) should change with the state"


def test_non_monotone_example_is_caught() -> None:
    ex = next(e for e in suite() if not e.monotone)
    t1 = theorem1(make_problem(**ex.kwargs()))
    assert not t1.monotone_ok and t1.negative == (0,)
    q1, q2, q3 = q_symbols(3)
    assert ex.F == bilinear() == q1 * q2 + q3


# ---- malformed input -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", malformed(), ids=lambda c: c.name)
def test_malformed_input_refused(case) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=case.match):
        make_problem(**case.kwargs)


def test_more_refusals() -> None:
    q1, q2 = q_symbols(2)
    a1, a2 = action_symbols(2)
    with pytest.raises(ValueError, match=r"∂F/∂q1 = zoo"):  # log at 0: derivative is not finite
        make_problem(sp.log(q1) + q2, (-a1**2, -a2**2), (0, 0))
    with pytest.raises(ValueError, match="inflection"):
        make_problem(q1 + q2, (-a1**3, -a2**2), (0, 0))
    with pytest.raises(ValueError, match="several symbols"):
        make_problem(q1 + q2, (-a1**2 - a2**2, -a2**2), (0, 0))
    with pytest.raises(ValueError, match="Max"):
        make_problem(sp.Max(q1, q2), (1 - a1**2, 1 - a2**2), (0, 0))
    assert all(c.ok for c in run_malformed())


# ---- Theorem 2 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["exp_sum", "logsumexp", "vdn", "bilinear"])
def test_theorem2_partial_sums_converge(name: str) -> None:
    res = run_example(next(e for e in suite() if e.name == name))
    assert res.t2.max_gap < 1e-6
    assert all(c.ok for c in res.checks), [c for c in res.checks if not c.ok]


def test_theorem2_decay_classes() -> None:
    """Entire F: factorial decay. log-sum-exp is analytic but not entire: only geometric decay,
    so Theorem 2's "super-exponential" claim needs more than smoothness (reported, not hidden)."""
    by_name = {e.name: e for e in suite()}
    for name, fast in [("exp_sum", True), ("vdn", True), ("logsumexp", False)]:
        p = make_problem(**by_name[name].kwargs())
        t2 = theorem2(p, theorem1(p))
        assert all(d.conclusive and d.faster_than_geometric == fast for d in t2.decay), [d.label() for d in t2.decay]
    p = make_problem(**by_name["exp_sum"].kwargs())
    assert {d.kind for d in theorem2(p, theorem1(p), max_order=8).decay} == {"inconclusive"}, "8 orders are too few"


def test_theorem2_refuses_singular_center() -> None:
    q1, q2 = q_symbols(2)
    a1, a2 = action_symbols(2)
    p = make_problem(sp.log(q1) + q2, (1 - a1**2, -a2**2), (0, 0))
    with pytest.raises(ValueError, match="center"):
        theorem2(p, theorem1(p))
    # ∂F/∂q1 = 1/q1 expanded at z1 converges at Q^1(a_o) = 1 only if |1 − z1| < z1
    assert theorem2(p, theorem1(p), center=[sp.Rational(3, 4), 0]).max_gap < 1e-6
    assert theorem2(p, theorem1(p), center=[sp.Rational(1, 2), 0]).max_gap > 0.5  # on the radius: no convergence


# ---- numeric side --------------------------------------------------------------------------------
class LSEMixer(Mixer):
    """log Σ_i w_i exp(Q^i) as a torch mixer: a smooth F whose λ_{i,h} sympy also knows."""

    monotone = True

    def __init__(self, weights: list[float]) -> None:
        super().__init__(len(weights), 1)
        self.register_buffer("logw", torch.tensor(weights, dtype=torch.float64).log())

    def mix(self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        return torch.logsumexp(qs + self.logw, dim=-1, keepdim=True)  # (M, 1)


def test_numeric_orders_match_symbolic() -> None:
    weights = [1.0, 2.0, 0.5]
    ex = next(e for e in suite() if e.name == "logsumexp")
    p = make_problem(**ex.kwargs())
    sym = theorem2(p, theorem1(p), max_order=8)
    tables = [float(q0) - np.array([0.0, 0.02, 0.1, 0.5]) for q0 in p.q0]  # greedy entry = Q(a_o)
    res = analyse_mixer(LSEMixer(weights), tables, torch.zeros(1), None, max_order=8)
    np.testing.assert_allclose(res.lam, theorem1(p).lam_float(), rtol=1e-10)
    np.testing.assert_allclose(res.lam_h, np.array(sym.lam_h).T, atol=1e-8)
    assert res.orders_method == "chebyshev (checked)" and res.err_slope == pytest.approx(2.0, abs=0.3)


def test_taylor_estimators_agree_on_smooth_mixer() -> None:
    torch.manual_seed(0)
    mixer = make_mixer("qatten", 3, 4, 2, nonlinear=True).double()
    st_, ft = torch.randn(1, 4, dtype=torch.float64), torch.randn(1, 3, 2, dtype=torch.float64)

    def F(q: torch.Tensor) -> torch.Tensor:
        return mixer(q, st_.expand(q.shape[0], 4), ft.expand(q.shape[0], 3, 2)).squeeze(-1)

    q0, z = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    np.testing.assert_allclose(orders_chebyshev(F, q0, z, 3), orders_autograd(F, q0, z, 3), atol=1e-9)


def test_numeric_suite_checks_hold() -> None:
    items = {label: (res, checks) for label, res, checks in run_numeric()}
    assert not any(c.counts_as_failure for _, checks in items.values() for c in checks)
    # QMIX's ELU is not analytic: Σ_h λ_(i,h) misses λ, reported as an expected failure (not hidden)
    qmix, qmix_checks = items["qmix"]
    xfail = [c for c in qmix_checks if c.status == "XFAIL"]
    assert [c.name for c in xfail] == ["qmix: Σ_h λ_(i,h) = λ_i"] and qmix.lam_h_gap > 1e-2 and not qmix.analytic
    assert qmix.decay[0].kind == "inconclusive", "6 autograd orders cannot tell geometric from factorial"
    defined = {label for label, (res, _) in items.items() if res.defined}
    assert all(c.ok for label in defined - {"qmix"} for c in items[label][1])
    vdn, _ = items["vdn"]
    assert np.all(vdn.lam == 1) and vdn.max_err == 0
    qatten, _ = items["qatten"]
    assert qatten.max_err < 1e-10 and qatten.attention_gap < 1e-10
    assert np.abs(qatten.lam_h[1:]).max() < 1e-8, "affine in Q: no order ≥ 2 terms"
    nonlin, _ = items["qatten(nonlinear)"]
    assert nonlin.defined and nonlin.attention_gap is not None and math.isfinite(nonlin.attention_gap)
    for label in ("qtran", "iql"):  # reported per mixer as NOT DEFINED: no PASS, no failure
        assert not items[label][0].defined and "not defined" in items[label][0].reason
        assert [(c.status, c.ok) for c in items[label][1]] == [("NOT DEFINED", False)]


def test_qmix_numeric_matches_closed_form() -> None:
    torch.manual_seed(1)
    mixer = make_mixer("qmix", 3, 4)
    tables = [np.array([0.3, -1.0, 2.0]), np.array([1.0, 0.0]), np.array([-0.5, 0.5, 0.2, 0.1])]
    state = torch.randn(4)
    res = analyse_mixer(mixer, tables, state, None, max_order=4)
    q0 = torch.tensor([[2.0, 1.0, 0.5]], dtype=torch.float64)
    closed = mixer.double().local_weights(q0, state.double()[None])[0].detach().numpy()
    np.testing.assert_allclose(res.lam, closed, rtol=1e-10)
    assert res.greedy == (2, 0, 1) and res.igm and res.err_by_deviators[0] < 1e-12


def test_analyse_mixer_refuses_wrong_tables() -> None:
    with pytest.raises(ValueError, match="one utility table per agent"):
        analyse_mixer(make_mixer("vdn", 3, 2), [np.zeros(2)] * 2, torch.zeros(2))


# ---- run folders and CLI -------------------------------------------------------------------------
def test_check_run_refuses_non_run_folders(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="does not exist"):
        check_run(tmp_path / "missing")
    with pytest.raises(ValueError, match="not a run folder: missing config.yaml and checkpoints"):
        check_run(tmp_path)
    assert main([f"run={tmp_path}"]) == 2


def test_cli_runs_the_suite_and_writes_plots(tmp_path: Path) -> None:
    """The documented command, end to end: exit 0, every check PASS, both PNGs written."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "theory.check", f"plot={tmp_path}"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert not re.search(r"^\s+FAIL\s", out.stdout, re.M) and "checks passed" in out.stdout
    assert re.search(r"^\s+XFAIL\s+qmix: Σ_h λ_\(i,h\) = λ_i", out.stdout, re.M), "the QMIX Σ_h gap must be reported"
    assert "measured remainder order" in out.stdout and "What each check can / cannot show" in out.stdout
    # mixers without λ_i: one NOT DEFINED line each, named in the summary and not among the passes
    for label in ("qtran", "iql"):
        assert re.search(rf"^\s+NOT DEFINED\s+{re.escape(label)}: λ_i = ∂Q_tot/∂Q\^i\s+\[.*not defined", out.stdout, re.M)
    statuses = re.findall(r"^  (PASS|FAIL|XFAIL|NOT DEFINED) ", out.stdout, re.M)
    m = re.search(r"^(\d+)/(\d+) checks passed.*, 2 NOT DEFINED, not counted as passed \(qtran: .*; iql: ",
                  out.stdout, re.M)
    assert m, out.stdout[-1500:]
    assert int(m.group(1)) == statuses.count("PASS") and int(m.group(2)) == len(statuses)
    assert statuses.count("NOT DEFINED") == 2 and "FAIL" not in statuses
    assert (tmp_path / "theory_lambda_decay.png").stat().st_size > 10_000
    assert (tmp_path / "theory_remainder.png").stat().st_size > 10_000


def _fake_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mixer_name: str) -> Path:
    """A run folder plus stand-ins for decomp.training.checkpoint.load_model / decomp.training.matrix_lab.tables_from_model."""
    import sys
    import types

    import decomp.training.matrix_lab

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.yaml").write_text("env: matrix\n")
    torch.manual_seed(0)
    mixer = make_mixer(mixer_name, 2, 3, 2, 3)
    model = types.SimpleNamespace(cfg={}, env_info=None, agent=None, mixer=mixer, method=mixer_name)
    checkpoint = types.ModuleType("decomp.training.checkpoint")
    checkpoint.load_model = lambda run_dir: model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "decomp.training.checkpoint", checkpoint)
    tables = [np.array([1.0, 0.5, -0.2]), np.array([0.0, 0.7, 0.3])]
    monkeypatch.setattr(
        decomp.training.matrix_lab, "tables_from_model", lambda m: (tables, torch.zeros(3), torch.ones(2, 2)), raising=False
    )
    return tmp_path


def test_check_run_on_a_trained_model_interface(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _fake_run(tmp_path, monkeypatch, "qatten")
    lines, checks = check_run(run)
    assert checks and all(c.ok for c in checks)
    assert any("attn gap" in line for line in lines)
    assert main([f"run={run}"]) == 0


def test_check_run_reports_qtran_as_not_defined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trained QTRAN has no λ_i: one NOT DEFINED line, nothing counted as passed, nothing failed."""
    run = _fake_run(tmp_path, monkeypatch, "qtran")
    lines, checks = check_run(run)
    assert "not defined" in lines[1]
    assert [(c.status, c.ok, c.counts_as_failure) for c in checks] == [("NOT DEFINED", False, False)]
    assert main([f"run={run}"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  NOT DEFINED  qtran: λ_i = ∂Q_tot/∂Q\^i  \[QTranJoint", out, re.M)
    assert re.search(r"^0/1 checks passed, 1 NOT DEFINED, not counted as passed \(qtran: ", out, re.M)


def test_check_run_fails_loudly_when_the_higher_orders_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A RuntimeError in the λ_(i,h) computation makes the run exit 1 with a FAILED series check naming it."""
    import theory.numeric

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("jvp for aten::fake_op is not implemented")

    monkeypatch.setattr(theory.numeric, "taylor_orders", broken)
    run = _fake_run(tmp_path, monkeypatch, "qatten")
    assert main([f"run={run}"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^  FAIL\s+qatten: Σ_h λ_\(i,h\) = λ_i  \[λ_\(i,h\) could not be computed \(RuntimeError: jvp "
                     r"for aten::fake_op is not implemented\)", out, re.M), out[-1500:]
    assert "FAILED: qatten: Σ_h λ_(i,h) = λ_i" in out.splitlines()[-1]
    assert "λ_(i,h) FAILED: RuntimeError: jvp for aten::fake_op" in out
