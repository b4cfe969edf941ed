"""Plain-text tables for ``python -m theory.check`` (no logic: every number comes from theory.suite)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from theory.checks import SCOPE
from theory.numeric import NumericResult
from theory.suite import Check, ExampleResult

SHOW_ORDERS = 10


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def symbolic_tables(results: Sequence[ExampleResult]) -> list[str]:
    out = ["== Theorem 1: Q_tot ≈ c + Σ_i λ_i Q^i near a_o (λ_i = ∂F/∂Q^i at Q(a_o)) =="]
    rows = []
    for r in results:
        lam = r.t1.lam_float()
        rows.append([
            r.example.name, r.example.description, " ".join(f"{x:+.4f}" for x in lam), f"{float(r.t1.c.evalf()):+.4f}",
            "yes" if r.t1.monotone_ok else f"NO (agent {', '.join(str(i + 1) for i in r.t1.negative)})",
        ])
    out += _table(["example", "F", "λ_i, i = 1..n", "c", "all λ_i ≥ 0"], rows)
    out += ["", "== Remainder R(a) = Q_tot − (c + Σ λ_i Q^i): order in |a − a_o| (must exceed 2) =="]
    out += ["predicted: from F's Taylor series at Q(a_o) alone; measured: the true R for the computed c, λ (60 digits)"]
    rows = []
    for r in results:
        ratios = [rv / t**2 for rv, t in zip(r.r_abs, r.ts)]
        slope = "—" if r.slope is None else f"{r.slope:.2f}"
        rows.append([
            r.example.name, r.rem.label(), " ".join("·" if o is None else str(o) for o in r.rem.orders),
            "—" if r.measured is None else r.measured.label(), slope, f"{ratios[0]:.1e} → {ratios[-1]:.1e}",
        ])
    out += _table(["example", "predicted", "per direction", "measured per direction", "ray slope", "|R|/|a−a_o|²"], rows)
    out += [
        "",
        f"== Theorem 2: λ_i = Σ_h λ_(i,h) (Taylor series of F around Q = 0); max_i |λ_(i,h)| for h = 1..{SHOW_ORDERS} ==",
    ]
    rows = []
    for r in results:
        mags = np.abs(np.array(r.t2.lam_h)).max(0)[:SHOW_ORDERS]  # (H,)
        kinds = sorted({d.kind for d in r.t2.decay})
        rows.append([r.example.name, " ".join(f"{m:7.1e}" for m in mags), f"{r.t2.max_gap:.0e}", r.example.decay,
                     r.t2.decay[0].label() + ("" if len(kinds) == 1 else f" (agents: {', '.join(kinds)})")])
    out += _table(["example", "|λ_(i,h)|, h = 1, 2, ...", "Σ gap", "expected", "decay (agent 1)"], rows)
    return out


def numeric_tables(
    items: Sequence[tuple[str, NumericResult, list[Check]]],
    title: str = "mixer at a fixed state as F, random utility tables (3 × 4 × 5 joint actions)",
) -> list[str]:
    out = [f"== Numeric side: {title} =="]
    out += ["λ by autograd; FD gap = max|λ − central differences|; order = measured order of the true R along ΔQ = −t²d"]
    rows = []
    for label, res, _ in items:
        if not res.defined:
            rows.append([label, "NOT DEFINED", "", "", "", "", "", "", ""])
            continue
        slope = "—" if res.err_slope is None else f"{res.err_slope:.2f}"
        att = "—" if res.attention_gap is None else f"{res.attention_gap:.1e}"
        fd = "—" if res.lam_fd is None else f"{float(np.abs(res.lam_fd - res.lam).max()):.1e}"
        order = "—" if res.remainder_fit is None else res.remainder_fit.label()
        decay = res.decay[0].label() if res.decay else "—"
        series = (f"{res.lam_h_gap:.1e} [{res.orders_method}] {decay}" if res.lam_h is not None
                  else f"FAILED: {res.orders_error or 'no λ_(i,h)'}")
        rows.append([
            label, " ".join(f"{x:.3f}" for x in res.lam), fd, order, f"{res.max_err:.2e}", slope,
            "yes" if res.igm else "no", att, series,
        ])
    out += _table(
        ["mixer", "λ (autograd)", "FD gap", "R order per ray", "max |R| table", "slope vs |ΔQ|", "IGM", "attn gap",
         "Σ_h λ_(i,h) gap [estimator] decay (agent 1)"], rows
    )
    for label, res, _ in items:
        if not res.defined:
            out.append(f"  {label}: NOT DEFINED: {res.reason}")
    return out


def scope_lines() -> list[str]:
    """What each kind of check can and cannot show (from theory.checks.SCOPE)."""
    out = ["== What each check can / cannot show =="]
    for name, can, cannot in SCOPE:
        out += [f"  {name}", f"      can:    {can}", f"      cannot: {cannot}"]
    return out


def check_lines(checks: Sequence[Check]) -> list[str]:
    """PASS / FAIL / XFAIL (failed, but a stated theorem premise does not hold: reported, not counted) /
    NOT DEFINED (the quantity does not exist for this mixer: nothing compared, not counted as passed)."""
    width = max((len(c.status) for c in checks), default=5)
    return [
        f"  {c.status:<{width}}  {c.name}" + (f"  [{c.detail}]" if c.detail else "") + (f"  XFAIL because {c.waived}" if c.status == "XFAIL" else "")
        for c in checks
    ]


def numeric_details(res: NumericResult, tables: Sequence[np.ndarray], show_orders: int = 6) -> list[str]:
    """The per-run view: tables, greedy point, error by number of deviating agents, λ_(i,h) by order."""
    if not res.defined:
        return []
    out = [f"greedy joint action a_o = {res.greedy}, Q(a_o) = {np.round(res.q_greedy, 4).tolist()}, c = {res.c:.4f}"]
    out += [f"  Q^{i + 1} = {np.round(np.asarray(t, dtype=float), 4).tolist()}" for i, t in enumerate(tables)]
    out.append("max |Q_tot − (c + Σ λ_i Q^i)| by number of agents off a_o: " + ", ".join(
        f"{k}: {v:.2e}" for k, v in sorted(res.err_by_deviators.items())
    ))
    if res.lam_fd is not None:
        out.append(f"λ by central finite differences = {np.round(res.lam_fd, 6).tolist()}"
                   + ("" if res.lam_closed is None else f"; closed form = {np.round(res.lam_closed, 6).tolist()}"))
    if res.remainder_fit is not None:
        out.append(f"measured order of the true remainder along ΔQ = −t²d (axes, all, generic): {res.remainder_fit.label()}")
    if res.attention_lam is not None:
        out.append(f"Qatten Σ_heads w_h λ_(i,h) = {np.round(res.attention_lam, 4).tolist()} (autograd λ = {np.round(res.lam, 4).tolist()})")
    if res.lam_h is None:
        out.append(f"λ_(i,h) FAILED: {res.orders_error or 'not computed'} (Theorem 2 unchecked)")
    else:
        rows = [[str(h + 1), *(f"{x:+.3e}" for x in res.lam_h[h])] for h in range(min(show_orders, res.lam_h.shape[0]))]
        out += ["", f"λ_(i,h) by Taylor order h around Q = 0 ({res.orders_method}):"]
        out += _table(["h", *(f"agent {i + 1}" for i in range(res.lam_h.shape[1]))], rows)
        out.append(f"Σ_h λ_(i,h) − λ_i: {np.round(res.lam_h.sum(0) - res.lam, 6).tolist()}")
    return out
