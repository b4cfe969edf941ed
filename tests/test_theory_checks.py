"""The theory checks must FAIL on a wrong c / λ and PASS on the right ones (issue 12, "checks that can fail").

Each check of :mod:`theory.checks` that consumes c or λ gets the computed value (must pass) and every
mutation of :data:`theory.mutations.THEORY_MUTATIONS` that applies to it (must fail). The decay
classifier gets sequences of known class, with and without noise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch

from decomp.core.methods import make_mixer
from theory.checks import (
    check_attention, check_lambda_exact, check_mixer_lambda, check_mixer_remainder, check_ray_exact,
    check_remainder_exact, check_series_sum, lambda_fd,
)
from theory.decay import MIN_ORDERS, classify_decay
from theory.examples import suite
from theory.mutations import THEORY_MUTATIONS, survivors
from theory.numeric import MixerFunction, analyse_mixer
from theory.problem import make_problem
from theory.suite import run_example, run_numeric
from theory.symbolic import remainder_order, theorem1, theorem2
from theory.taylor import orders_chebyshev

torch.set_num_threads(1)
LAMBDA_MUTATIONS = ("lambda_x2", "lambda_plus_10pct")
ALL_MUTATIONS = (*LAMBDA_MUTATIONS, "c_plus_10pct")


def test_mutation_registry_contract() -> None:
    """Names the mutation command relies on; pure functions returning perturbed copies."""
    assert set(ALL_MUTATIONS) <= set(THEORY_MUTATIONS)
    lam = np.array([0.5, 1.0, 2.0])
    c2, lam2 = THEORY_MUTATIONS["lambda_x2"](1.5, lam)
    assert c2 == 1.5 and np.allclose(lam2, 2 * lam) and np.allclose(lam, [0.5, 1.0, 2.0])
    q0 = np.array([1.0, -1.0, 0.5])
    c5, lam5 = THEORY_MUTATIONS["lambda_x2"](1.5, lam, q0)
    assert c5 + lam5 @ q0 == pytest.approx(1.5 + lam @ q0), "c re-derived: the value at a_o is unchanged"
    c3, lam3 = THEORY_MUTATIONS["lambda_plus_10pct"](1.5, tuple(sp.sympify(x) for x in lam))
    assert [float(x) for x in lam3] == pytest.approx([0.55, 1.1, 2.2])
    c4, lam4 = THEORY_MUTATIONS["c_plus_10pct"](sp.Rational(-3), lam)
    assert float(c4) == pytest.approx(-2.7) and lam4 is lam


# ---- symbolic checks ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exact() -> dict[str, tuple]:  # type: ignore[type-arg]
    """(problem, Theorem1, predicted Remainder, λ_{i,h} as (H, n)) for a nonlinear, an affine and a bilinear F."""
    out = {}
    for ex in suite():
        if ex.name in ("logsumexp", "vdn", "bilinear"):
            p = make_problem(**ex.kwargs())
            t1 = theorem1(p)
            out[ex.name] = (p, t1, remainder_order(p), np.array(theorem2(p, t1, max_order=20).lam_h).T)
    return out


TARGETS = ("logsumexp", "vdn", "bilinear")
RAY = (1 / 3, -2 / 3, 1.0)


@pytest.mark.parametrize("target", TARGETS)
def test_exact_checks_pass_on_computed_values(exact: dict, target: str) -> None:  # type: ignore[type-arg]
    p, t1, pred, lam_h = exact[target]
    rem, fit = check_remainder_exact(p, t1.c, t1.lam, target, pred)
    assert rem.ok, rem.detail
    assert fit.order == (math.inf if target == "vdn" else pytest.approx(4.0, abs=0.05))
    assert check_lambda_exact(p, t1.lam, target).ok
    assert check_ray_exact(p, t1.c, t1.lam, RAY, target).ok
    assert check_series_sum(lam_h, t1.lam_float(), target).ok


@pytest.mark.parametrize("rederive_c", [True, False], ids=["c from wrong λ", "c kept"])
@pytest.mark.parametrize("mutation", ALL_MUTATIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_exact_remainder_and_ray_checks_catch_wrong_c_and_lambda(
    exact: dict, target: str, mutation: str, rederive_c: bool  # type: ignore[type-arg]
) -> None:
    p, t1, pred, _ = exact[target]
    c, lam = THEORY_MUTATIONS[mutation](t1.c, t1.lam, p.q0 if rederive_c else None)
    rem, fit = check_remainder_exact(p, c, lam, target, pred)
    assert not rem.ok and not rem.waived, rem.detail
    # the true remainder drops to order 2 (wrong λ, c consistent with it: δλ·ΔQ) or 0 (c off at a_o)
    slope_only = rederive_c and mutation.startswith("lambda")
    assert fit.order == pytest.approx(2.0 if slope_only else 0.0, abs=0.05)
    assert not check_ray_exact(p, c, lam, RAY, target).ok


@pytest.mark.parametrize("mutation", LAMBDA_MUTATIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_exact_lambda_and_series_checks_catch_wrong_lambda(exact: dict, target: str, mutation: str) -> None:  # type: ignore[type-arg]
    p, t1, _, lam_h = exact[target]
    _, lam = THEORY_MUTATIONS[mutation](t1.c, t1.lam)
    assert not check_lambda_exact(p, lam, target).ok
    assert not check_series_sum(lam_h, [float(x) for x in lam], target).ok


# ---- mixer checks -------------------------------------------------------------------------------------
def _mixer_point(name: str, **opts: object) -> tuple[MixerFunction, np.ndarray, float, np.ndarray, torch.nn.Module]:
    """F at a random state, a point Q(a_o), its autograd λ and c = F(Q(a_o)) − λ·Q(a_o)."""
    torch.manual_seed(5)
    net = make_mixer(name, 3, 4, 2, 3, **opts).double().eval()
    gen = torch.Generator().manual_seed(7)
    st = torch.randn(4, generator=gen, dtype=torch.float64)
    ft = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    F = MixerFunction(net, st, ft)
    q0 = torch.tensor([0.4, -0.3, 1.1], dtype=torch.float64)
    with torch.enable_grad():
        q = q0.clone().requires_grad_(True)
        (lam,) = torch.autograd.grad(F(q[None]).sum(), q)  # (N,)
    with torch.no_grad():
        c = float(F(q0[None])[0] - lam @ q0)
    return F, q0.numpy(), c, lam.numpy(), net


MIXERS = {"vdn": ("vdn", {}), "qmix": ("qmix", {}), "qatten": ("qatten", {}), "qatten(nonlinear)": ("qatten", {"nonlinear": True})}


@pytest.mark.parametrize("label", MIXERS)
def test_mixer_checks_pass_on_computed_values(label: str) -> None:
    F, q0, c, lam, _ = _mixer_point(*MIXERS[label][:1], **MIXERS[label][1])
    lam_check, fd = check_mixer_lambda(F, q0, lam, label)
    assert lam_check.ok and np.allclose(fd, lambda_fd(F, q0)), lam_check.detail
    rem, fit = check_mixer_remainder(F, q0, c, lam, label)
    assert rem.ok, rem.detail
    affine = label in ("vdn", "qatten")
    assert all(math.isinf(s) for s in fit.slopes) if affine else fit.order == pytest.approx(4.0, abs=0.1)


@pytest.mark.parametrize("rederive_c", [True, False], ids=["c from wrong λ", "c kept"])
@pytest.mark.parametrize("mutation", ALL_MUTATIONS)
@pytest.mark.parametrize("label", MIXERS)
def test_mixer_remainder_check_catches_wrong_c_and_lambda(label: str, mutation: str, rederive_c: bool) -> None:
    F, q0, c, lam, _ = _mixer_point(*MIXERS[label][:1], **MIXERS[label][1])
    c2, lam2 = THEORY_MUTATIONS[mutation](c, lam, q0 if rederive_c else None)
    rem, fit = check_mixer_remainder(F, q0, c2, lam2, label)
    assert not rem.ok, rem.detail
    slope_only = rederive_c and mutation.startswith("lambda")
    assert fit.order == pytest.approx(2.0 if slope_only else 0.0, abs=0.1)


@pytest.mark.parametrize("mutation", LAMBDA_MUTATIONS)
@pytest.mark.parametrize("label", MIXERS)
def test_mixer_lambda_check_catches_wrong_lambda(label: str, mutation: str) -> None:
    F, q0, c, lam, net = _mixer_point(*MIXERS[label][:1], **MIXERS[label][1])
    _, lam2 = THEORY_MUTATIONS[mutation](c, lam)
    assert not check_mixer_lambda(F, q0, lam2, label)[0].ok
    if label == "qmix":  # autograd against QMIX's closed-form local_weights as well
        closed = net.local_weights(torch.as_tensor(q0)[None], F.state[None])[0].detach().numpy()
        assert check_mixer_lambda(F, q0, lam, label, closed)[0].ok
        assert not check_mixer_lambda(F, q0, lam, label, closed * 1.1)[0].ok


@pytest.mark.parametrize("mutation", LAMBDA_MUTATIONS)
def test_mixer_series_and_attention_checks_catch_wrong_lambda(mutation: str) -> None:
    F, q0, c, lam, _ = _mixer_point("qatten", nonlinear=True)
    lam_h = orders_chebyshev(F, torch.as_tensor(q0), torch.zeros(3, dtype=torch.float64), 16)  # (H, N)
    _, lam2 = THEORY_MUTATIONS[mutation](c, lam)
    assert check_series_sum(lam_h, lam, "qatten(nonlinear)").ok
    assert not check_series_sum(lam_h, lam2, "qatten(nonlinear)").ok
    F, q0, c, lam, net = _mixer_point("qatten")
    with torch.no_grad():
        lam_heads, w = net.attention_weights(torch.as_tensor(q0)[None], F.state[None], F.feats[None])  # (1, H, N), (1, H)
    explicit = (w.unsqueeze(-1) * lam_heads).sum(-2)[0].numpy()  # (N,)
    assert check_attention(explicit, lam, "qatten").ok
    assert not check_attention(explicit, THEORY_MUTATIONS[mutation](c, lam)[1], "qatten").ok


def test_non_analytic_series_gap_is_reported_not_hidden() -> None:
    """QMIX: Σ_h λ_(i,h) ≠ λ_i is XFAIL (premise: F analytic) — but a wrong λ still fails elsewhere."""
    torch.manual_seed(3)
    mixer = make_mixer("qmix", 3, 6)
    tables = [np.array([0.3, -1.0, 2.0]), np.array([1.0, 0.0]), np.array([-0.5, 0.5, 0.2])]
    res = analyse_mixer(mixer, tables, torch.randn(6), None, max_order=4)
    from theory.suite import numeric_checks

    checks = {c.name.split(": ", 1)[1]: c for c in numeric_checks("qmix", res)}
    series = checks["Σ_h λ_(i,h) = λ_i"]
    assert not res.analytic and series.status == "XFAIL" and "not analytic" in series.waived
    wrong = numeric_checks("qmix", res, lam=res.lam * 2)
    assert any(c.counts_as_failure for c in wrong)


# ---- the whole suite against every mutation ---------------------------------------------------------
@pytest.fixture(scope="module")
def suite_results() -> tuple[list, list]:  # type: ignore[type-arg]
    names = {"vdn", "logsumexp", "bilinear", "sin_cos", "softplus_nested"}
    return [run_example(e) for e in suite() if e.name in names], run_numeric()


@pytest.mark.parametrize("mutation", ALL_MUTATIONS)
def test_every_target_catches_every_mutation(suite_results: tuple, mutation: str) -> None:  # type: ignore[type-arg]
    examples, numeric = suite_results
    assert survivors(mutation, examples, numeric) == []


@pytest.mark.parametrize("name", ["sin_cos", "exp_product", "softplus_nested", "exp_sum", "logsumexp"])
def test_theorem2_on_analytic_non_polynomial_examples(name: str) -> None:
    """Entire F → factorial-like decay, F with complex singularities → geometric; Σ_h λ_(i,h) = λ_i."""
    ex = next(e for e in suite() if e.name == name)
    p = make_problem(**ex.kwargs())
    t1 = theorem1(p)
    t2 = theorem2(p, t1, max_order=20)
    assert t2.max_gap < 1e-6
    assert {d.kind for d in t2.decay} == {ex.decay}, [d.label() for d in t2.decay]


# ---- decay classifier -----------------------------------------------------------------------------------
def test_decay_classes_of_known_sequences() -> None:
    h = np.arange(1, 21)
    factorial = np.array([2.0**k / math.factorial(k) for k in h])
    assert classify_decay(factorial).kind == "faster than geometric"
    assert classify_decay(0.3**h).kind == "geometric"
    assert classify_decay(factorial[:8]).kind == "inconclusive"  # too few orders for any verdict
    assert classify_decay(np.r_[1.0, np.zeros(19)]).kind == "finite"
    assert classify_decay(np.r_[1.0, np.zeros(5)]).kind == "inconclusive"  # 6 zeros prove little
    # a slide into the noise floor is not a polynomial
    assert classify_decay(factorial, floor=1e-5).kind == "inconclusive"


def test_decay_noise_misclassification() -> None:
    """Log-normal noise (σ = 1): with 17 orders a wrong verdict is rare, with < MIN_ORDERS there is none."""
    rng = np.random.default_rng(0)
    h = np.arange(1, 18)
    seqs = {"geometric": 0.3**h, "faster than geometric": np.array([2.0**k / math.factorial(k) for k in h])}
    for truth, base in seqs.items():
        kinds = [classify_decay(base * np.exp(rng.normal(0, 1, h.size))).kind for _ in range(200)]
        wrong = sum(k not in (truth, "inconclusive") for k in kinds) / len(kinds)
        assert wrong <= 0.02, (truth, wrong)
        assert kinds.count(truth) > 0.3 * len(kinds)
        short = [classify_decay(base[: MIN_ORDERS - 1] * np.exp(rng.normal(0, 1, MIN_ORDERS - 1))).kind for _ in range(50)]
        assert set(short) == {"inconclusive"}


# ---- verdicts that cannot be vacuous (issue "Checks that can fail, part 2", item 2) ---------------------
def test_a_not_defined_check_is_neither_a_pass_nor_a_failure() -> None:
    """NOT DEFINED is its own status: a mixer without λ_i must not add a PASS to "all checks ok"."""
    from theory.checks import NOT_DEFINED, Check

    line = Check.not_defined("qtran: λ_i = ∂Q_tot/∂Q^i", "QTranJoint is a joint network")
    assert line.status == NOT_DEFINED == "NOT DEFINED"
    assert not line.ok and not line.counts_as_failure and line.detail == "QTranJoint is a joint network"
    with pytest.raises(ValueError, match="cannot pass"):
        Check("qtran: λ_i", True, undefined="no λ_i")
    with pytest.raises(ValueError, match="needs a reason"):
        Check.not_defined("qtran: λ_i", "")


def test_suite_reports_mixers_without_lambda_as_not_defined_per_mixer(suite_results: tuple) -> None:  # type: ignore[type-arg]
    """QTRAN and IQL: exactly one NOT DEFINED line each, carrying the reason; every defined mixer has none."""
    _, numeric = suite_results
    for label, res, checks in numeric:
        statuses = [c.status for c in checks]
        if res.defined:
            assert "NOT DEFINED" not in statuses and len(checks) >= 3, (label, statuses)
        else:
            assert statuses == ["NOT DEFINED"], (label, statuses)
            assert checks[0].name.startswith(f"{label}: ") and checks[0].detail == res.reason
            assert "not defined" in res.reason
    assert sorted(label for label, res, _ in numeric if not res.defined) == ["iql", "qtran"]


def test_summary_counts_only_checks_that_ran_and_held() -> None:
    """P in "P/T checks passed" counts PASS lines only; NOT DEFINED and XFAIL are named, not counted."""
    from theory.check import summarise
    from theory.checks import Check

    checks = [Check("vdn: a", True), Check("qmix: b", False, waived="F not analytic"),
              Check.not_defined("qtran: λ_i = ∂Q_tot/∂Q^i", "joint network")]
    summary, failed = summarise(checks)
    assert summary.startswith("1/3 checks passed") and failed == []
    assert "1 NOT DEFINED, not counted as passed (qtran: λ_i = ∂Q_tot/∂Q^i)" in summary
    assert summarise([Check.not_defined("qtran: λ_i", "joint network")])[0].startswith("0/1 checks passed")
    bad = Check("vdn: Σ_h λ_(i,h) = λ_i", False, "λ_(i,h) could not be computed")
    assert summarise(checks + [bad])[1] == [bad]


def test_a_runtime_error_in_the_higher_orders_fails_the_series_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """λ_(i,h) that could not be computed (an op without higher-order autograd) must FAIL Theorem 2's
    series check, naming the error, instead of dropping the check and leaving the mixer all-PASS."""
    import theory.numeric
    from theory.suite import numeric_checks

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("derivative for aten::fake_op is not implemented")

    monkeypatch.setattr(theory.numeric, "taylor_orders", broken)
    torch.manual_seed(0)
    res = analyse_mixer(make_mixer("vdn", 3, 4), [np.array([0.3, -1.0]), np.array([1.0, 0.0, 2.0]), np.array([0.5])],
                        torch.zeros(4), None, max_order=4)
    assert res.defined and res.lam_h is None
    assert res.orders_error == "RuntimeError: derivative for aten::fake_op is not implemented"
    checks = numeric_checks("vdn", res)
    series = [c for c in checks if c.name == "vdn: Σ_h λ_(i,h) = λ_i"]
    assert len(series) == 1 and series[0].status == "FAIL" and series[0].counts_as_failure
    assert "aten::fake_op is not implemented" in series[0].detail
    assert [c.name for c in checks if c.counts_as_failure] == ["vdn: Σ_h λ_(i,h) = λ_i"], "the rest still holds"
