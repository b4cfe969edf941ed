"""Deliberately wrong c / λ for mutation testing of the theory checks.

Contract of ``THEORY_MUTATIONS`` (name → callable), for ``python -m tests.mutations`` and the tests:

  - each value is ``mutate(c, lam, q0=None) -> (c', lam')``: ``c`` a number (float or sympy
    expression), ``lam`` a sequence of numbers (np.ndarray for mixers, tuple of sympy expressions for
    the symbolic examples) and ``q0`` = Q(a_o), the utilities at the greedy point. It returns new
    values of the same kinds and never changes its arguments in place;
  - λ mutations with ``q0`` re-derive c = F(Q(a_o)) − λ'·Q(a_o) the way the code does
    (c' = c + (λ − λ')·q0), so only the slope is wrong and the true remainder drops to order 2 — the
    harder case; without ``q0`` c is kept and the remainder drops to order 0;
  - feed the result to :func:`theory.suite.example_checks` (``c=``, ``lam=``) or
    :func:`theory.suite.numeric_checks` (``c=``, ``lam=``) or to the plain functions of
    :mod:`theory.checks`; a mutation is *caught* when at least one returned check has
    ``counts_as_failure`` (``ok`` False and not waived by a failed theorem premise);
  - :func:`survivors` runs a mutation over the ``python -m theory.check`` suite and lists the targets
    (example or mixer names) where nothing failed: an empty list means the mutation is killed.

Affine targets with λ = 1 (VDN) are included on purpose: λ × 2 must be caught there too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    from theory.numeric import NumericResult
    from theory.suite import ExampleResult

Mutation = Callable[..., tuple[Any, Any]]  # (c, lam, q0=None) -> (c', lam')


def _scale_lam(factor: float) -> Mutation:
    def mutate(c: Any, lam: Sequence[Any], q0: Sequence[Any] | None = None) -> tuple[Any, Any]:
        new = np.asarray(lam, dtype=np.float64) * factor if isinstance(lam, np.ndarray) else tuple(x * factor for x in lam)
        if q0 is not None:  # keep c + λ·Q(a_o) = F(Q(a_o)): only the slope is wrong
            c = c + sum((a - b) * q for a, b, q in zip(lam, new, q0))
        return c, new

    return mutate


def _shift_c(c: Any, lam: Sequence[Any], q0: Sequence[Any] | None = None) -> tuple[Any, Any]:
    """c + 10 % of max(1, |c|): small enough to look plausible, far beyond any rounding."""
    return c + max(1.0, abs(float(c))) / 10, lam


THEORY_MUTATIONS: dict[str, Mutation] = {
    "lambda_x2": _scale_lam(2.0),
    "lambda_plus_10pct": _scale_lam(1.1),
    "c_plus_10pct": _shift_c,
}


def survivors(
    name: str,
    examples: Sequence["ExampleResult"] | None = None,
    numeric: Sequence[tuple[str, "NumericResult", object]] | None = None,
) -> list[str]:
    """Targets on which mutation ``name`` made no check fail (empty: killed everywhere).

    ``examples`` / ``numeric`` default to the full ``python -m theory.check`` suite (``run_example`` over
    ``theory.examples.suite()`` and ``run_numeric()``, ~15 s); pass precomputed ones to reuse them.
    """
    from theory.examples import suite
    from theory.suite import example_checks, numeric_checks, run_example, run_numeric

    mutate = THEORY_MUTATIONS[name]
    exs = [run_example(ex) for ex in suite()] if examples is None else examples
    nums = run_numeric() if numeric is None else numeric
    alive = []
    for r in exs:
        c, lam = mutate(r.t1.c, r.t1.lam, r.problem.q0)
        if not any(ch.counts_as_failure for ch in example_checks(r, c=c, lam=lam)):
            alive.append(r.example.name)
    for label, res, _ in nums:
        if not res.defined:
            continue  # nothing to mutate: λ is not defined
        c, lam = mutate(res.c, res.lam, res.q_greedy)
        if not any(ch.counts_as_failure for ch in numeric_checks(label, res, c=c, lam=lam)):
            alive.append(label)
    return alive
