"""Entry point of ``python -m decomp.evaluate run=<folder>|checkpoint=<file.pt> …`` (the program: decomp/cli/evaluate.py)."""

from decomp.cli.evaluate import main

if __name__ == "__main__":
    main()
