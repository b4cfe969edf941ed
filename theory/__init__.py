"""Qatten's Theorems 1 and 2, checked symbolically (sympy) and on trained mixers (torch).

problem   validated input (F, Q^i, a_o, s); malformed input refused here
symbolic  Theorem 1 (c, λ_i, remainder order) and Theorem 2 (λ_{i,h}) for sympy F
examples  the F / utility library and the malformed cases
decay     finite / faster-than-geometric / geometric / inconclusive classification of λ_{i,h}
numeric   the same quantities for a mixer at a fixed state; taylor: its λ_{i,h} estimators
checks    every check as a plain function of (F or problem, c, λ, ...) against an independent reference
mutations wrong c / λ (THEORY_MUTATIONS) that each check must catch
suite, report, plots, check   the ``python -m theory.check`` CLI
"""
