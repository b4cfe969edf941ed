"""Entry point of ``python -m decomp.report matrix|smac`` (the program: decomp/cli/report.py)."""

from decomp.cli.report import main

if __name__ == "__main__":
    main()
