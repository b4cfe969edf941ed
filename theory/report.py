"""Plain-text tables for ``python -m theory.check`` (no logic: every number comes from theory.suite)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

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
    out += _table(["example", "F", "λ_1 λ_2 λ_3", "c", "all λ_i ≥ 0"], rows)
    out += ["", "== Remainder R(a) = Q_tot − (c + Σ λ_i Q^i): order in |a − a_o| (must exceed 2) =="]
    rows = []
    for r in results:
        ratios = [rv / t**2 for rv, t in zip(r.r_abs, r.ts)]
        slope = "—" if r.slope is None else f"{r.slope:.2f}"
        rows.append([
            r.example.name, r.rem.label(), " ".join("·" if o is None else str(o) for o in r.rem.orders),
            slope, f"{ratios[0]:.1e} → {ratios[-1]:.1e}",
        ])
    out += _table(["example", "order", "per direction", "fitted slope", "|R|/|a−a_o|²"], rows)
    out += [
        "",
        f"== Theorem 2: λ_i = Σ_h λ_(i,h) (Taylor series of F around Q = 0); max_i |λ_(i,h)| for h = 1..{SHOW_ORDERS} ==",
    ]
    rows = []
    for r in results:
        mags = np.abs(np.array(r.t2.lam_h)).max(0)[:SHOW_ORDERS]  # (H,)
        rows.append([r.example.name, " ".join(f"{m:7.1e}" for m in mags), f"{r.t2.max_gap:.0e}", r.t2.decay[0].label()])
    out += _table(["example", "|λ_(i,h)|, h = 1, 2, ...", "Σ gap", "decay (agent 1)"], rows)
    return out


def numeric_tables(items: Sequence[tuple[str, NumericResult, list[Check]]]) -> list[str]:
    out = ["== Numeric side: mixer at a fixed state as F, random utility tables (3 × 4 × 5 joint actions) =="]
    rows = []
    for label, res, _ in items:
        if not res.defined:
            rows.append([label, "not defined", "", "", "", "", "", ""])
            continue
        slope = "—" if res.err_slope is None else f"{res.err_slope:.2f}"
        att = "—" if res.attention_gap is None else f"{res.attention_gap:.1e}"
        decay = res.decay[0].label() if res.decay else "—"
        rows.append([
            label, " ".join(f"{x:.3f}" for x in res.lam), f"{res.max_err:.2e}", f"{res.mean_err:.2e}", slope,
            "yes" if res.igm else "no", att, f"{res.lam_h_gap:.1e} [{res.orders_method}] {decay}",
        ])
    out += _table(
        ["mixer", "λ (autograd)", "max |R|", "mean |R|", "slope vs |ΔQ|", "IGM", "attn gap", "Σ_h λ_(i,h) gap, decay"], rows
    )
    for label, res, _ in items:
        if not res.defined:
            out.append(f"  {label}: {res.reason}")
    return out


def check_lines(checks: Sequence[Check]) -> list[str]:
    return [f"  {'PASS' if c.ok else 'FAIL'}  {c.name}" + (f"  [{c.detail}]" if c.detail else "") for c in checks]
