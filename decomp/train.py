"""Entry point of ``python -m decomp.train env=… method=… [key=value …]`` (the program: decomp/cli/train.py)."""

from decomp.cli.train import main

if __name__ == "__main__":
    main()
