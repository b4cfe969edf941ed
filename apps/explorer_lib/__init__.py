"""Helpers behind ``apps/explorer.py``: training/caching, plots, surfaces, theory and run reading.

Kept out of the page script so each piece is importable and testable without Streamlit running.
"""
