"""Turn user input into checked values, with messages a user can act on (never a traceback)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from games import Payoff


class InputError(ValueError):
    """Bad user input; the page shows ``str(err)`` in an ``st.error``."""


def parse_cell(value: object, row: int, col: int) -> float:
    """One payoff entry as a finite float; the message names the cell as the user sees it."""
    where = f"row {row + 1}, column {col + 1}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise InputError(f"Payoff cell {where} is empty: every cell needs a number.")
    text = str(value).strip().replace("\u2212", "-")  # accept the typographic minus sign
    if not text:
        raise InputError(f"Payoff cell {where} is empty: every cell needs a number.")
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"Payoff cell {where} is not a number: {str(value)!r}.") from None
    if not math.isfinite(number):
        raise InputError(f"Payoff cell {where} must be a finite number, got {str(value)!r}.")
    return number


def parse_payoff_grid(grid: pd.DataFrame | Sequence[Sequence[object]], name: str = "custom") -> Payoff:
    """A 2-agent payoff from an edited grid of strings (rows: agent 1's actions, columns: agent 2's)."""
    rows = grid.values.tolist() if isinstance(grid, pd.DataFrame) else [list(r) for r in grid]
    if not rows or not rows[0]:
        raise InputError("The payoff grid is empty: give each agent at least one action.")
    width = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != width:
            raise InputError(f"Payoff row {r + 1} has {len(row)} entries, expected {width}.")
    values = np.array([[parse_cell(v, r, c) for c, v in enumerate(row)] for r, row in enumerate(rows)])
    try:
        return Payoff(values, name)
    except ValueError as err:  # Payoff's own checks (shape, finiteness)
        raise InputError(str(err)) from err


def payoff_to_grid(values: np.ndarray, rows: int, cols: int) -> pd.DataFrame:
    """A string grid for the editor, cropped or zero-padded to ``rows`` x ``cols``."""
    out = np.zeros((rows, cols))
    r, c = min(rows, values.shape[0]), min(cols, values.shape[1])
    out[:r, :c] = values[:r, :c]
    labels = action_labels(cols)
    return pd.DataFrame(
        [[f"{v:g}" for v in row] for row in out],
        columns=[f"agent 2: {a}" for a in labels],
        index=[f"agent 1: {a}" for a in action_labels(rows)],
    )


def check_methods(selection: Sequence[str]) -> list[str]:
    """At least one method must be chosen; training nothing would leave an empty page."""
    if not selection:
        raise InputError("Choose at least one method to train.")
    return list(selection)


def check_seeds(n_seeds: int) -> list[int]:
    """Seeds 0..n-1; more seeds make 'optimum found in k of n' meaningful."""
    if n_seeds < 1:
        raise InputError("Use at least one seed.")
    return list(range(n_seeds))


def action_labels(k: int) -> list[str]:
    """A, B, C, ... as in the papers' payoff tables (numbers beyond Z)."""
    return [chr(ord("A") + i) if i < 26 else str(i) for i in range(k)]
