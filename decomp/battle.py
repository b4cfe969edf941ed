"""Entry point of ``python -m decomp.battle run=<folder> [out=…]`` (the program: decomp/cli/battle.py)."""

from decomp.cli.battle import main

if __name__ == "__main__":
    main()
