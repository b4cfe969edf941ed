"""Matrix games: payoff tensors for n agents, the standard presets, and their optima."""

from games.payoff import Payoff
from games.presets import GAMES, TwoStepGame, make_game

__all__ = ["Payoff", "GAMES", "TwoStepGame", "make_game"]
