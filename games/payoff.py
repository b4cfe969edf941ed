"""A one-step cooperative game: a payoff tensor shared by n agents with k actions each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Payoff:
    """``values[a^1, ..., a^n]`` is the team reward of joint action (a^1, ..., a^n)."""

    values: np.ndarray
    name: str = "custom"

    def __post_init__(self) -> None:
        try:
            arr = np.asarray(self.values, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"payoff {self.name!r}: entries must be numbers ({err})") from err
        if arr.ndim < 2:
            raise ValueError(
                f"payoff {self.name!r}: need at least 2 agents (a tensor with >= 2 axes), got shape {arr.shape}"
            )
        if min(arr.shape) < 1:
            raise ValueError(f"payoff {self.name!r}: every agent needs at least 1 action, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"payoff {self.name!r}: entries must be finite numbers; entry {bad} is {arr[bad]}")
        arr.setflags(write=False)
        object.__setattr__(self, "values", arr)

    @property
    def n_agents(self) -> int:
        return self.values.ndim

    @property
    def n_actions(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def optimum(self) -> float:
        return float(self.values.max())

    def optimal_actions(self, atol: float = 1e-9) -> list[tuple[int, ...]]:
        """All joint actions that reach the maximum payoff."""
        idx = np.argwhere(self.values >= self.values.max() - atol)
        return [tuple(int(i) for i in row) for row in idx]

    def is_optimal(self, joint_action: tuple[int, ...], atol: float = 1e-9) -> bool:
        return bool(self.values[tuple(joint_action)] >= self.values.max() - atol)
