"""Time limits that reach into the work: a deadline that long-running work checks.

A front end that must answer within a time (the MCP server, for each tool call) runs the work
inside `time_limit(seconds)`. The work checks the deadline where it waits or loops: a SQLite
query through `interrupt_when_expired`, the trainer while it waits for its subprocess. Past
the deadline the work raises (TimeLimitError, or SQLite's "interrupted") and lets go of what it
holds, instead of running on for nobody. `stop_all` makes every limit expire at once, for when
the client is gone. Without a limit (the CLI) nothing is checked and nothing changes.

The deadline is a context variable, so each thread of work (each tool call) has its own.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from claimledger.errors import TimeLimitError

# SQLite virtual-machine steps between two looks at the clock: well under a millisecond.
SQLITE_CHECK_STEPS = 10_000

_deadline: ContextVar[float | None] = ContextVar("claimledger_deadline", default=None)
_stopped = threading.Event()


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Work inside must end within `seconds` (None: no limit); a sooner outer limit stays."""
    if seconds is None:
        yield
        return
    at = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(at if outer is None else min(at, outer))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline (0 once it passed, or after stop_all); None when
    the work has no limit."""
    if _stopped.is_set():
        return 0.0
    at = _deadline.get()
    return None if at is None else max(0.0, at - time.monotonic())


def expired() -> bool:
    """True once the deadline has passed (or stop_all was called)."""
    return remaining() == 0.0


def check() -> None:
    """Raise TimeLimitError once the deadline has passed."""
    if expired():
        raise TimeLimitError("the time limit passed: the work was stopped")


def stop_all() -> None:
    """Make every limit expire now, in every thread: the work has nobody left to answer."""
    _stopped.set()


def interrupt_when_expired(conn: sqlite3.Connection) -> None:
    """Have SQLite abandon a query on `conn` once the current limit passes (it then raises
    OperationalError "interrupted"). Does nothing for work without a limit."""
    if _deadline.get() is not None:
        conn.set_progress_handler(expired, SQLITE_CHECK_STEPS)
