"""Import jaxmarl quietly: one place for SMAX (smax.py) and SMAX+ (smax_plus/) to do it."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any


def import_jaxmarl() -> Any:
    """Import jaxmarl without its 'Submoduled environments not found' chatter.

    jaxmarl's mabrax module resets ``sys.stdout``/``sys.stderr`` to the process streams while
    importing, which defeats ``contextlib.redirect_stdout``; so we silence file descriptor 1 for the
    import and put the caller's Python streams back afterwards.
    """
    if "jaxmarl.environments.smax" in sys.modules:
        return sys.modules["jaxmarl"]
    saved = sys.stdout, sys.stderr
    saved_fd = devnull = None
    try:
        sys.stdout.flush()
        saved_fd, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    except (OSError, ValueError, AttributeError):  # no real fd 1 (e.g. embedded): stay noisy
        saved_fd = None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import jaxmarl  # noqa: PLC0415
            import jaxmarl.environments.smax  # noqa: F401, PLC0415
    finally:
        if saved_fd is not None:
            if sys.__stdout__ is not None:
                sys.__stdout__.flush()
            os.dup2(saved_fd, 1)
            os.close(saved_fd)
        if devnull is not None:
            os.close(devnull)
        sys.stdout, sys.stderr = saved
    return jaxmarl
