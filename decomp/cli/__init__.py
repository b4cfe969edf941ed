"""Command-line programs (``python -m decomp.train``, ``python -m decomp.report``) and their helpers."""
