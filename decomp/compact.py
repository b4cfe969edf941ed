"""Entry point of ``python -m decomp.compact PATH ...`` (the program: decomp/cli/compact.py)."""

from decomp.cli.compact import main

if __name__ == "__main__":
    main()
