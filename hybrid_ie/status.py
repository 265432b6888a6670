"""Status lines on stderr while something slow happens (a model loading), for the API and the CLI.

`loading(what)` writes ``hybrid-ie: loading <what> ...`` before and ``hybrid-ie: loaded <what>
in N.N s`` after, to stderr (flushed; the CLI's rich progress display prints it above its bar) and
as INFO records of the ``hybrid_ie`` logger. ``HYBRID_IE_QUIET=1`` in the environment leaves only
the log records.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator

QUIET_ENV = "HYBRID_IE_QUIET"
log = logging.getLogger("hybrid_ie")


def quiet() -> bool:
    """True when `QUIET_ENV` is set to anything but "" or "0"."""
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


def say(message: str) -> None:
    """One status line on stderr (unless quiet) and an INFO log record."""
    log.info(message)
    if not quiet():
        print(f"hybrid-ie: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def loading(what: str) -> Iterator[None]:
    """Say that `what` is loading, then how long it took (nothing after a failure: its error says it)."""
    started = time.perf_counter()
    say(f"loading {what} ...")
    yield
    say(f"loaded {what} in {time.perf_counter() - started:.1f} s")


__all__ = ["QUIET_ENV", "loading", "quiet", "say"]
