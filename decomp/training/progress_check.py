"""A warning for runs that do not learn: the greedy policy stays below acting at random.

That is how the SMAX 2s3z collapse looked (greedy return 0.2 against 2 for ε = 1), and it is easy to
miss when the only number watched is a win rate that stays at 0. Its state goes into the checkpoints,
so a resumed run neither warns twice nor forgets the evaluations it had counted.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm


@dataclass
class ProgressCheck:
    """Warns once when 3 evaluations in a row, after ε has annealed, return less than the random policy."""

    random_return: float | None = None  # mean return of the ε = 1 policy, measured at the start
    below_random: int = 0  # consecutive evaluations with a greedy return below it
    warned: bool = False

    def record_random(self, evals: dict[str, float]) -> None:
        """The ε = 1 policy's evaluation: the return the greedy one is compared with."""
        self.random_return = evals["eval/return"]

    def observe(self, evals: dict[str, float], annealed: bool) -> None:
        """A greedy evaluation; ``annealed``: whether ε has reached its final value."""
        base = self.random_return
        if base is None or self.warned or not annealed:
            return
        self.below_random = self.below_random + 1 if evals["eval/return"] < base else 0
        if self.below_random >= 3:
            self.warned = True
            tqdm.write(f"[decomp] warning: the greedy return ({evals['eval/return']:.2f}) has stayed below the "
                       f"random policy's ({base:.2f}, eps = 1) for 3 evaluations: the agents are not learning "
                       "(see eval/frac_* and eval/q_tot vs eval/discounted_return in metrics.csv)", file=sys.stderr)

    def state_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.random_return, self.below_random = state["random_return"], state["below_random"]
        self.warned = state["warned"]
