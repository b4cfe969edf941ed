"""Mutation check: break each method's defining ingredient in a copy of the sources; the tests must fail.

    python -m tests.mutations            # all mutations, table on stdout, exit 1 if any survives
    python -m tests.mutations --list     # names, files and the test files each one runs
    python -m tests.mutations --only cw  # mutations whose name contains "cw"
    python -m tests.mutations --slow     # the slow learning checks' mutations instead (~1 h; each trains)

Why: a test suite that stays green when COMA loses its counterfactual baseline does not guard COMA.
For each :class:`Mutation` the package sources (``decomp/``, ``games/``, ``theory/``, ``tests/``, ``apps/``,
``pyproject.toml``) are copied to a temporary directory, one textual patch is applied there (the
target text must occur exactly once, else the mutation is reported as *stale*, naming the file and
the text), and only the test files that should catch it run in that copy (subprocess, ``PYTHONPATH``
= the copy, ``-p no:cacheprovider``). The unmutated copy runs first and must pass, so a failure
under a mutation means the mutation was seen. The working tree is never touched.

Theory mutations (λ × 2, λ + 10 %, wrong c) come from ``theory.mutations.THEORY_MUTATIONS`` when
that module exists (hook: :func:`theory_mutations`). They are not source patches but wrong (c, λ)
injected into the theory checks, judged by that module's ``survivors()`` (see :func:`run_theory`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED_DIRS = ("decomp", "games", "theory", "tests", "apps")
COPIED_FILES = ("pyproject.toml",)
INGREDIENTS = "tests/test_ingredients.py"
MIXER_TESTS = (INGREDIENTS, "tests/test_mixers.py", "tests/test_properties.py")


@dataclass(frozen=True)
class Patch:
    """Replace ``old`` (must occur exactly once in ``path``) by ``new``."""

    path: str  # relative to the repository root
    old: str
    new: str


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str  # the ingredient it removes or alters, for the table
    patches: tuple[Patch, ...]
    tests: tuple[str, ...] = (INGREDIENTS,)
    slow: bool = False  # caught only by a @pytest.mark.slow learning check: run with --slow


@dataclass
class Outcome:
    mutation: Mutation
    status: str  # caught | SURVIVED | STALE | ERROR
    caught_by: list[str] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0


def _m(name: str, what: str, path: str, old: str, new: str, tests: Sequence[str] = (INGREDIENTS,)) -> Mutation:
    return Mutation(name, what, (Patch(path, old, new),), tuple(tests))


L, M = "decomp/core/learners/", "decomp/core/mixers/"
OPS = "decomp/core/ops.py"
METHOD_MUTATIONS: list[Mutation] = [
    _m("coma-baseline-zero", "COMA: counterfactual baseline replaced by 0 (advantage = Q(s,u))", L + "coma.py",
       "baseline = (pi[:, :-1] * q).sum(-1)", "baseline = torch.zeros_like(q_taken)"),
    _m("coma-baseline-uniform", "COMA: baseline averages Q(s,(u^{-i},a)) uniformly instead of under π^i",
       L + "coma.py", "baseline = (pi[:, :-1] * q).sum(-1)", "baseline = q.mean(-1)"),
    _m("ow-weight-alpha", "OW-QMIX: weight α everywhere", L + "wqmix.py",
       "full = td < 0", "full = torch.zeros_like(td, dtype=torch.bool)"),
    _m("ow-weight-flipped", "OW-QMIX: weight 1 where Q_tot > y (sign flipped)", L + "wqmix.py",
       "full = td < 0", "full = td > 0"),
    _m("cw-weight-alpha", "CW-QMIX: weight α everywhere", L + "wqmix.py",
       "full = is_greedy | (targets > star_greedy)", "full = torch.zeros_like(is_greedy)"),
    _m("cw-no-greedy-term", "CW-QMIX: greedy joint action no longer gets weight 1", L + "wqmix.py",
       "full = is_greedy | (targets > star_greedy)", "full = targets > star_greedy"),
    _m("qtran-opt-weight-0", "QTRAN: L_opt weight 0", L + "qtran.py",
       "loss = l_td + self.opt_weight * l_opt", "loss = l_td + 0.0 * l_opt"),
    _m("qtran-nopt-weight-0", "QTRAN-base: L_nopt weight 0", L + "qtran.py",
       "+ self.nopt_weight * l_nopt", "+ 0.0 * l_nopt"),
    _m("qtran-nopt-unclamped", "QTRAN-base: L_nopt without min(·, 0)", L + "qtran.py",
       "gap.clamp(max=0.0).pow(2)", "gap.pow(2)"),
    _m("qtran-alt-min-to-base-clamp", "QTRAN-alt: counterfactual min replaced by base's clamp at u",
       L + "qtran_alt.py", "per_agent = gap.min(-1).values.pow(2)",
       "per_agent = gap.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1).clamp(max=0.0).pow(2)"),
    _m("qplex-lambda-one", "QPLEX: λ_i(s,u) ≡ 1", M + "qplex.py",
       "lam = self.lambdas(st, onehot)  # (M, N)", "lam = torch.ones_like(qs)  # (M, N)", MIXER_TESTS),
    _m("qatten-wh-one", "Qatten: head weights w_h ≡ 1", M + "qatten.py",
       "w = self.head_w(state).abs() if self.weighted_head else qs.new_ones(m, h)", "w = qs.new_ones(m, h)",
       MIXER_TESTS),
    _m("qatten-wh-no-abs", "Qatten: w_h without abs", M + "qatten.py",
       "w = self.head_w(state).abs() if self.weighted_head", "w = self.head_w(state) if self.weighted_head",
       MIXER_TESTS),
    _m("qatten-reg-coef-ignored", "Qatten: regulariser coefficient ignored", M + "qatten.py",
       '"aux_loss": self.reg_coef * raw.pow(2)', '"aux_loss": raw.pow(2)', MIXER_TESTS),
    _m("qatten-reg-not-in-loss", "Qatten: regulariser not added to the TD loss", L + "td.py",
       "loss = loss + aux", "loss = loss"),
    _m("qmix-no-abs-w1", "QMIX: abs removed from W1 (first-layer hypernet weights)", M + "qmix.py",
       "w1 = self.hyper_w1(state).abs()", "w1 = self.hyper_w1(state)", MIXER_TESTS),
    _m("qmix-no-abs-w2", "QMIX: abs removed from w2 (second-layer hypernet weights)", M + "qmix.py",
       "w2 = self.hyper_w2(state).abs()", "w2 = self.hyper_w2(state)", MIXER_TESTS),
]

# The TD learner's own maths, against the step-by-step reference in tests/test_learner_reference.py.
LEARNER_REFERENCE = ("tests/test_learner_reference.py",)
METHOD_MUTATIONS += [
    _m("learner-double-q-flipped", "TD: double-Q flag inverted (target nets pick ū when double_q)", L + "base.py",
       "online_q.detach() if self.cfg.double_q else target_q", "target_q if self.cfg.double_q else online_q.detach()",
       LEARNER_REFERENCE),
    _m("learner-greedy-ignores-avail", "TD: greedy next action over all actions, available or not", OPS,
       'return q.masked_fill(~avail, float("-inf")).argmax(-1)', "return q.argmax(-1)", LEARNER_REFERENCE),
    _m("learner-td0-ignores-terminal", "TD(0): bootstraps past a terminal step", OPS,
       "return reward + gamma * (1.0 - terminated) * next_q", "return reward + gamma * next_q", LEARNER_REFERENCE),
    _m("learner-lambda-no-last-bootstrap", "TD(λ): no bootstrap at an episode's last step (time limit lost)",
       OPS, "stop = (1 - cont) * next_q", "stop = (1 - cont) * 0.0 * next_q", LEARNER_REFERENCE),
    Mutation("learner-lambda-swapped", "TD(λ): λ and 1 − λ swapped in the recursion",
             (Patch(OPS, "blend = (1 - lam) * next_q", "blend = lam * next_q"),
              Patch(OPS, "boot = cont_t * (lam * g_next + blend_t)", "boot = cont_t * ((1 - lam) * g_next + blend_t)")),
             LEARNER_REFERENCE),
    _m("learner-loss-unmasked", "TD: squared error averaged over padding too", L + "td.py",
       "loss = masked_mean(td.pow(2), mask)", "loss = td.pow(2).mean()", LEARNER_REFERENCE),
    _m("learner-last-action-shifted", "agent inputs: the current action instead of the previous one", L + "base.py",
       "torch.cat([start, batch.actions], dim=1)", "torch.cat([batch.actions, start], dim=1)", LEARNER_REFERENCE),
]

# The on-policy regime (regime=onpolicy): targets from the round-start weights, every fresh episode once per epoch.
ONPOLICY = ("tests/test_onpolicy.py",)
METHOD_MUTATIONS += [
    _m("onpolicy-no-round-sync", "on-policy: targets not synced at a round's start (stale weights)",
       "decomp/training/regimes.py", "min(pending, len(buffer)), cfg.batch_size, cfg.epochs), 0, True)",
       "min(pending, len(buffer)), cfg.batch_size, cfg.epochs), 0, False)", ONPOLICY),
    _m("onpolicy-targets-move", "on-policy: targets re-synced after every update (they move within a round)",
       "decomp/core/build.py", "target_update_interval=0, target_tau=0.0)", "target_update_interval=1, target_tau=0.0)",
       ONPOLICY),
    _m("onpolicy-same-order", "on-policy: minibatches not reshuffled between epochs", "decomp/training/regimes.py",
       "order = torch.from_numpy(buffer.rng.permutation(k))", "order = torch.arange(k)", ONPOLICY),
    _m("handover-no-sync", "on-policy then replay: the replay phase never copies the targets",
       "decomp/training/trainer.py", "if due.sync_every and self.learner.updates % due.sync_every == 0:",
       "if False:", ONPOLICY),
    _m("handover-learner-copies", "on-policy then replay: the learner's own target interval also copies",
       "decomp/core/build.py", 'if cfg.regime != "replay":', 'if cfg.regime == "onpolicy":', ONPOLICY),
    _m("handover-from-start", "on-policy then replay: replay from the first update (handover.at ignored)",
       "decomp/config/schema.py", "env_steps >= cfg.handover.at", "env_steps >= 0", ONPOLICY),
]

# Evaluation diagnostics, against one scripted battle known by hand (tests/test_diagnostics.py).
DIAGNOSTICS = ("tests/test_diagnostics.py",)
METHOD_MUTATIONS += [
    _m("diag-discount-fixed-gamma", "diagnostics: discounted return with γ = 0.99 whatever the run's γ",
       "decomp/rollout/diagnostics.py", "acc = self.rewards[:, t] + self.gamma * acc",
       "acc = self.rewards[:, t] + 0.99 * acc", DIAGNOSTICS),
    _m("diag-frac-every-agent", "diagnostics: action fractions count agents without a choice too",
       "decomp/rollout/diagnostics.py", "chooses = (ob.avail.sum(-1) > 1) & live[:, None]",
       "chooses = np.broadcast_to(live[:, None], ob.avail.shape[:2])", DIAGNOSTICS),
]

# Saved-policy evaluation (decomp.evaluate): the rebuilt policy must be the saved one, final and best.
EVALUATE = ("tests/test_evaluate.py",)
METHOD_MUTATIONS += [
    _m("evaluate-final-not-loaded", "decomp.evaluate: the final weights are never loaded (a fresh model is evaluated)",
       "decomp/training/saved_eval.py", 'trainer.learner.load_state_dict(payload["learner"])', "pass", EVALUATE),
    _m("evaluate-best-not-swapped", "decomp.evaluate: weights=best evaluates the untrained model instead",
       "decomp/training/saved_eval.py", "stack.enter_context(trainer.best.swapped_in(trainer.learner))", "pass",
       EVALUATE),
]

# Resume (a killed run continues bit for bit): the env's key and the episodes in progress must travel in the checkpoint.
RESUME_SMAX = ("tests/test_resume.py::test_a_resumed_smax_run_equals_the_uninterrupted_one_and_compiles_nothing[replay]",)
RESUME_MATRIX = ("tests/test_resume.py::test_a_resumed_matrix_run_equals_the_uninterrupted_one[replay]",)
METHOD_MUTATIONS += [
    _m("resume-env-key-not-saved", "resume: the SMAX env's PRNG key is not restored (it restarts from the seed's)",
       "decomp/envs/smax.py", "self._key, self._state, self._avail = self._jax.device_put(key), states, avail",
       "self._state, self._avail = states, avail", RESUME_SMAX),
    _m("resume-episodes-restart", "resume: the episodes in progress are dropped; new ones start at the resume",
       "decomp/training/resume.py", 'if p.get("runner") is not None:', "if False:", RESUME_MATRIX),
]

# The battle view (issue 32): what a replay stores and the explorer shows must be the saved model's λ_i.
BATTLE_VALUES = ("tests/test_battle.py::test_replay_holds_the_saved_models_q_lambda_and_q_tot",)
BATTLE_PAGE = ("tests/test_battle.py::test_battle_view_shows_the_saved_mixers_lambda_and_plays",)
METHOD_MUTATIONS += [
    _m("battle-lambda-is-q", "replay: the chosen Q^i stored as λ_i", "decomp/rollout/model_view.py",
       "lam = (mixer.local_weights(chosen, state, feats) if mixer.monotone",
       "lam = (chosen if mixer.monotone", BATTLE_VALUES),
    _m("battle-target-mixer", "replay: λ_i and Q_tot from the target mixer instead of the online one",
       "decomp/training/battle_replay.py", "mixer=trainer.learner.mixer,", "mixer=trainer.learner.target_mixer,",
       BATTLE_VALUES),
    _m("battle-table-shows-q", "explorer: the battle view's λ_i column shows Q^i(action)",
       "apps/explorer_lib/battle_view.py", '"λ_i": view.lam[decision],', '"λ_i": chosen,', BATTLE_PAGE),
]

# Checks that can fail, part 2: the matrix env's reward value, the theory verdicts, VDN's closed form, the paper table.
GAMES_TESTS = ("tests/test_games.py",)
THEORY_VERDICTS = ("tests/test_theory_checks.py",)
VDN_PROJECTION = ("tests/test_matrix_games.py::test_vdn_learns_the_additive_projection_under_uniform_data",)
METHOD_MUTATIONS += [
    _m("matrix-reward-transposed", "matrix env: payoff read with the agents' actions reversed (transposed)",
       "decomp/envs/matrix.py", "reward[:] = self.stages[0].values[tuple(actions.T)]",
       "reward[:] = self.stages[0].values[tuple(actions[:, ::-1].T)]", GAMES_TESTS),
    _m("matrix-reward-off-by-one", "matrix env: payoff lookup shifted by one entry (flat index − 1)",
       "decomp/envs/matrix.py", "reward[:] = self.stages[0].values[tuple(actions.T)]",
       "reward[:] = np.roll(self.stages[0].values, 1)[tuple(actions.T)]", GAMES_TESTS),
    _m("theory-series-error-dropped", "theory: a RuntimeError in λ_(i,h) silently drops the Σ_h check (old behaviour)",
       "theory/suite.py", "out.append(series_unavailable_check(label, res))", "pass", THEORY_VERDICTS),
    _m("theory-not-defined-passes", "theory: a mixer without λ_i gets a PASS line (old vacuous verdict)",
       "theory/suite.py",
       'Check.not_defined(f"{label}: λ_i = ∂Q_tot/∂Q^i", reason or "λ_i is not defined (no reason given)")',
       'Check(f"{label}: λ_i = ∂Q_tot/∂Q^i", True, reason)', THEORY_VERDICTS),
    _m("theory-not-defined-counted", "theory CLI: NOT DEFINED lines added to the passed count", "theory/check.py",
       'summary = f"{sum(c.ok for c in checks)}/', 'summary = f"{sum(c.ok or bool(c.undefined) for c in checks)}/',
       THEORY_VERDICTS),
    _m("vdn-mix-mean", "VDN: Q_tot = mean_i Q^i instead of Σ_i Q^i", M + "vdn.py",
       "return qs.sum(dim=-1, keepdim=True)", "return qs.mean(dim=-1, keepdim=True)", VDN_PROJECTION),
    _m("matrix-uniform-data-greedy", "data=uniform anneals ε like egreedy (data no longer uniform)",
       "decomp/config/schema.py", 'if cfg.data == "uniform":\n        return 1.0',
       'if cfg.data == "uniform" and False:\n        return 1.0', VDN_PROJECTION),
    _m("paper-smac-table-typo", "PAPER_SMAC: Qatten on 3s5z 94 → 49 (a map the report test does not use)",
       "decomp/analysis/paper_smac.py", '"3s5z": {"qatten": 94,', '"3s5z": {"qatten": 49,',
       ("tests/test_report_smac.py",)),
]

# The slow learning checks (absolute thresholds from measured distributions): each mutation trains, so they
# run only with --slow. A defect of the kind each threshold exists for: no learning at all, a sign error,
# a learner several times slower.
SLOW_3M = "tests/test_smac_training.py::test_qmix_wins_most_3m_battles_at_300k_steps"
SLOW_2S3Z = "tests/test_smac_training.py::test_qmix_wins_2s3z_where_independent_learners_do_not"
SLOW_COMA = "tests/test_beyond_monotonic.py::test_coma_learns_to_win_2s3z"
METHOD_MUTATIONS += [
    Mutation("learner-grads-zeroed-before-step", "every learner: zero_grad between backward and step (no update)",
             (Patch(L + "base.py", "self.optimizer.zero_grad(set_to_none=True)\n        loss.backward()",
                    "loss.backward()\n        self.optimizer.zero_grad(set_to_none=True)"),), (SLOW_3M,), slow=True),
    Mutation("smac-lr-tenth", "SMAC preset: learning rate 5e-4 → 5e-5 (a learner ~10× slower)",
             (Patch("decomp/conf/env/smac.yaml", "  lr: 0.0005\n", "  lr: 0.00005\n"),  # both phases of the
              Patch("decomp/conf/regime/onpolicy_replay.yaml", "  lr: 0.0005 ", "  lr: 0.00005 ")),  # default regime
             (SLOW_2S3Z,), slow=True),
    Mutation("coma-pg-sign-flipped", "COMA: the actor ascends −A (policy-gradient sign flipped)",
             (Patch(L + "coma.py", "pg_loss = -masked_mean(log_pi_taken * advantage, mask)",
                    "pg_loss = masked_mean(log_pi_taken * advantage, mask)"),), (SLOW_COMA,), slow=True),
]


# ---- theory mutations (registry owned by theory/) ---------------------------------------------------
# theory.mutations.THEORY_MUTATIONS maps a name to mutate(c, lam) -> (c', lam'): a wrong c / λ fed to the
# theory checks (theory.suite.example_checks / numeric_checks), not a source patch. Its contract: the
# mutation is caught when theory.mutations.survivors(name) is empty, i.e. on every target (example or
# mixer) at least one check counts as a failure. They run in one subprocess on a copy of the sources,
# the suite computed once; the failing check names are collected for the table.
THEORY_SCRIPT = r"""
import json, sys
from theory.examples import suite
from theory.mutations import THEORY_MUTATIONS, survivors
from theory.suite import example_checks, numeric_checks, run_example, run_numeric

exs = [run_example(ex) for ex in suite()]
nums = run_numeric()
unmutated = [ch for r in exs for ch in example_checks(r)] + [ch for _, _, checks in nums for ch in checks]
broken = [ch.name for ch in unmutated if ch.counts_as_failure]
if broken:
    sys.exit("unmutated theory checks already fail: " + "; ".join(broken[:5]))
out = {}
for name in sys.argv[1:]:
    mutate, failing, targets = THEORY_MUTATIONS[name], {}, 0
    cases = [(r.t1.c, r.t1.lam, lambda c, lam, r=r: example_checks(r, c=c, lam=lam)) for r in exs]
    cases += [(res.c, res.lam, lambda c, lam, label=label, res=res: numeric_checks(label, res, c=c, lam=lam))
              for label, res, _ in nums if res.defined]
    for c0, lam0, checks in cases:
        targets += 1
        for ch in checks(*mutate(c0, lam0)):
            if ch.counts_as_failure:
                kind = ch.name.split(": ", 1)[-1]
                failing[kind] = failing.get(kind, 0) + 1
    out[name] = {"alive": survivors(name, exs, nums), "targets": targets, "failing": failing}
print(json.dumps(out))
"""


def theory_mutations() -> tuple[list[str], str]:
    """THEORY HOOK: the names in ``theory.mutations.THEORY_MUTATIONS`` if that module exists, with a note."""
    try:
        module = importlib.import_module("theory.mutations")
    except ModuleNotFoundError as err:
        if err.name in ("theory.mutations", "theory"):
            return [], "theory.mutations not found: no theory mutations run (hook: tests.mutations.theory_mutations)"
        raise
    entries = getattr(module, "THEORY_MUTATIONS", None)
    if not entries:
        return [], "theory.mutations has no THEORY_MUTATIONS entries: no theory mutations run"
    names = list(entries)
    return names, f"{len(names)} theory mutations from theory.mutations.THEORY_MUTATIONS, judged by its survivors()"


def run_theory(names: Sequence[str], work: Path) -> list[Outcome]:
    """Run every theory mutation against the theory checks in one subprocess on a copy."""
    start = time.perf_counter()
    dest = Path(tempfile.mkdtemp(prefix="theory_", dir=work))
    try:
        copy_sources(dest)
        env = dict(os.environ, PYTHONPATH=str(dest), PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
                   MPLBACKEND="Agg")
        proc = subprocess.run([sys.executable, "-c", THEORY_SCRIPT, *names], cwd=dest, env=env,
                              capture_output=True, text=True, timeout=900)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    elapsed = (time.perf_counter() - start) / max(len(names), 1)  # shared run: its time split evenly
    muts = {n: Mutation(f"theory:{n}", f"theory checks fed THEORY_MUTATIONS[{n!r}](c, λ)", (),
                        ("theory.mutations.survivors",)) for n in names}
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        detail = f"theory subprocess exit {proc.returncode}: {proc.stderr.strip()[-800:]}"
        return [Outcome(muts[n], "ERROR", detail=detail, seconds=elapsed) for n in names]
    outcomes = []
    for n in names:
        r = result[n]
        kinds = sorted(r["failing"].items(), key=lambda kv: -kv[1])
        caught = [f"fails on {r['targets'] - len(r['alive'])}/{r['targets']} targets"]
        caught += [f"{kind} ×{k}" for kind, k in kinds[:4]]
        status = "SURVIVED" if r["alive"] else "caught"
        outcomes.append(Outcome(muts[n], status, caught, f"survives on {', '.join(r['alive'])}" if r["alive"] else "",
                                elapsed))
    return outcomes


# ---- running ------------------------------------------------------------------------------------------
def copy_sources(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    for d in COPIED_DIRS:
        shutil.copytree(ROOT / d, dest / d, ignore=ignore)
    for f in COPIED_FILES:
        shutil.copy2(ROOT / f, dest / f)


def apply_patches(root: Path, patches: Iterable[Patch]) -> str:
    """Apply in place; returns "" or a message naming the file and the target text that was not unique."""
    for p in patches:
        target = root / p.path
        if not target.exists():
            return f"{p.path} does not exist"
        text = target.read_text()
        count = text.count(p.old)
        if count != 1:
            return f"{p.path}: target text {'not found' if count == 0 else f'found {count} times'}: {p.old!r}"
        target.write_text(text.replace(p.old, p.new))
    return ""


# Written into each copy (not into the repository) and loaded with -p: hypothesis skips shrinking, since
# we only need to know *that* a property fails, and shrinking a failing property costs ~1 min a mutation.
NO_SHRINK_PLUGIN = """from hypothesis import Phase, settings

settings.register_profile("mutations", phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile("mutations")
"""


def run_pytest(root: Path, tests: Sequence[str], slow: bool = False) -> subprocess.CompletedProcess[str]:
    (root / "_mutations_no_shrink.py").write_text(NO_SHRINK_PLUGIN)
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_mutations_no_shrink", "-rfE",
           "--tb=no", "-W", "ignore::UserWarning", *(["-m", "slow"] if slow else []), *tests]
    # a slow learning check trains up to 1M env steps (~30 min on one core)
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=7200 if slow else 900)


SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+)")


def failures(output: str) -> tuple[list[str], list[str]]:
    """(failed test ids, errored ids) from pytest's -rfE short summary."""
    failed, errored = [], []
    for line in output.splitlines():
        m = SUMMARY.match(line)
        if m:
            (failed if m.group(1) == "FAILED" else errored).append(m.group(2))
    return failed, errored


def compact(ids: list[str]) -> list[str]:
    """Group parametrised ids by test function: the id when it is alone, else `func ×k`."""
    groups: dict[str, list[str]] = {}
    for i in ids:
        short = i.removeprefix("tests/")
        groups.setdefault(short.split("[")[0], []).append(short)
    out = []
    for func, members in groups.items():
        out.extend(members if len(members) == 1 else [f"{func} ×{len(members)}"])
    return out


def check_imports_from(root: Path) -> str:
    """The subprocess must import the copy's packages, not the editable install of the working tree."""
    env = dict(os.environ, PYTHONPATH=str(root))
    code = "import decomp, games, theory; print(decomp.__file__); print(theory.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    paths = out.stdout.split()
    if out.returncode != 0 or len(paths) != 2 or not all(Path(p).resolve().is_relative_to(root.resolve())
                                                         for p in paths):
        return f"copy not imported (got {paths or out.stderr.strip()[-300:]})"
    return ""


def run_one(mutation: Mutation | None, tests: Sequence[str], work: Path, slow: bool = False) -> Outcome:
    """Copy, patch (unless ``mutation`` is None: the baseline), run the tests, classify."""
    start = time.perf_counter()
    dest = Path(tempfile.mkdtemp(prefix="mut_", dir=work))
    try:
        copy_sources(dest)
        mut = mutation or Mutation("(baseline: no mutation)", "unmutated copy must pass", (), tuple(tests))
        if mutation is None:
            problem = check_imports_from(dest)
            if problem:
                return Outcome(mut, "ERROR", detail=problem, seconds=time.perf_counter() - start)
        else:
            problem = apply_patches(dest, mutation.patches)
            if problem:
                return Outcome(mut, "STALE", detail=problem, seconds=time.perf_counter() - start)
        proc = run_pytest(dest, tests, slow)
        failed, errored = failures(proc.stdout)
        elapsed = time.perf_counter() - start
        tail = (proc.stdout.strip().splitlines() or [""])[-1]
        if mutation is None:
            ok = proc.returncode == 0
            return Outcome(mut, "passed" if ok else "ERROR", detail="" if ok else proc.stdout[-2000:] + proc.stderr[-2000:],
                           seconds=elapsed)
        if errored or proc.returncode not in (0, 1):
            return Outcome(mut, "ERROR", compact(failed), f"pytest exit {proc.returncode}: {tail}; errors: "
                           f"{compact(errored)}\n{proc.stderr[-1500:]}", elapsed)
        if failed:
            return Outcome(mut, "caught", compact(failed), tail, elapsed)
        return Outcome(mut, "SURVIVED", [], tail, elapsed)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def table(outcomes: list[Outcome]) -> str:
    rows = ["| mutation | what it breaks | patched file | result | caught by |", "|---|---|---|---|---|"]
    for o in outcomes:
        files = ", ".join(f"`{f}`" for f in sorted({p.path for p in o.mutation.patches})) or "— (injected c, λ)"
        caught = "<br>".join(f"`{c}`" for c in o.caught_by) or (o.detail.splitlines()[0] if o.detail else "—")
        caught = caught.replace("|", "\\|")  # a check name such as |R|/|a−a_o|² must not split the cell
        rows.append(f"| `{o.mutation.name}` | {o.mutation.what} | {files} | {o.status} ({o.seconds:.0f} s) | {caught} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutations", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="run mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--slow", action="store_true",
                        help="the slow learning checks' mutations instead of the fast ones (each one trains)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the unmutated run (only with --slow, when `python quickstart.py test --slow` "
                             "has just passed on the same sources)")
    args = parser.parse_args(argv)
    if args.no_baseline and not args.slow:
        parser.error("--no-baseline is only for --slow: the fast baseline costs seconds and guards every verdict")

    sys.path.insert(0, str(ROOT))
    theory_names, note = theory_mutations()
    mutations = [m for m in METHOD_MUTATIONS if m.slow == args.slow]
    if args.slow:
        theory_names, note = [], "(the theory mutations run without --slow)"
    if args.only:
        mutations = [m for m in mutations if any(s in m.name for s in args.only)]
        theory_names = [n for n in theory_names if any(s in f"theory:{n}" for s in args.only)]
    if args.list:
        for m in mutations:
            print(f"{m.name:30s} {', '.join(p.path for p in m.patches):30s} -> {' '.join(m.tests)}")
        for n in theory_names:
            print(f"{'theory:' + n:30s} {'(injected c, λ)':30s} -> theory.mutations.survivors")
        print(note)
        return 0
    if not mutations and not theory_names:
        print("no mutation selected", file=sys.stderr)
        return 2

    start = time.perf_counter()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="decomp_mutations_") as tmp:
        work = Path(tmp)
        if mutations and args.no_baseline:
            print("baseline skipped (--no-baseline): a failure below counts as caught only because the unmutated "
                  "slow suite passed on these sources", flush=True)
        elif mutations:
            all_tests = sorted({t for m in mutations for t in m.tests})
            base = run_one(None, all_tests, work, args.slow)
            print(f"baseline ({' '.join(all_tests)}): {base.status} in {base.seconds:.0f} s", flush=True)
            if base.status != "passed":
                print(base.detail, file=sys.stderr)
                return 1
        for m in mutations:
            o = run_one(m, m.tests, work, args.slow)
            print(f"  {m.name:30s} {o.status:8s} {o.seconds:5.1f} s  {'; '.join(o.caught_by) or o.detail[:300]}",
                  flush=True)
            outcomes.append(o)
        if theory_names:
            for o in run_theory(theory_names, work):
                print(f"  {o.mutation.name:30s} {o.status:8s} {o.seconds:5.1f} s  {'; '.join(o.caught_by) or o.detail[:300]}",
                      flush=True)
                outcomes.append(o)
    print()
    print(table(outcomes))
    print()
    bad = [o for o in outcomes if o.status != "caught"]
    print(note)
    print(f"{len(outcomes) - len(bad)}/{len(outcomes)} mutations caught; total {time.perf_counter() - start:.0f} s")
    for o in bad:
        print(f"NOT CAUGHT: {o.mutation.name}: {o.status}: {o.detail}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
