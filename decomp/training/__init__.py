"""The training loop and what it writes: trainer, checkpoints, best weights, metrics, run plots, matrix lab."""
