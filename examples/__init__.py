"""Worked examples of extending decomp (docs/extending.md); run from the repository root."""
