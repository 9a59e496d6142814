"""The bounds of an agent's calls: how big their arguments may be, how long they may run, and
what happens when the client goes away.

The agent on the other end is untrusted and may be careless: one call with a 1.5-million-word
query must not hold the machine for ten minutes, nor keep computing after the client is gone.

- Every argument of every tool is bounded here, in one place (`check_arguments`): text up to
  the longest a tool takes, lists and objects up to MAX_ITEMS entries, nesting up to MAX_DEPTH.
  A tool may declare a tighter bound in its schema (search_claims' query does).
- Every call runs in a worker thread under a time limit (`call_within`): `[mcp] tool_seconds`
  of claimledger.toml (default 60), `run_seconds` for the run tool, which trains a model
  (default 3600). Past it the client gets a TimeLimitError and the work is told to stop (see
  claimledger.deadline: SQLite queries are interrupted, the trainer's process is stopped); work
  that does not stop within ABANDON_GRACE is left behind, and nobody waits for it. Work left
  behind still counts among the MAX_RUNNING_CALLS a server runs at once: past that, a call is
  refused at once instead of piling up threads.
- When the client closes the connection (`watch_for_hangup`), every call's work is stopped and
  the server exits, instead of computing answers that nobody will read.
"""

from __future__ import annotations

import functools
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from claimledger import deadline
from claimledger.errors import ClaimledgerError, ConfigError, InvalidArgumentError, TimeLimitError
from claimledger.workspace import CONFIG_NAME, Workspace

MAX_TEXT_CHARS = 200_000  # the longest text any tool takes: add_source's body
MAX_TOTAL_CHARS = 400_000  # all the text of one call together
MAX_ITEMS = 200  # entries of one list or object argument
MAX_DEPTH = 4  # lists and objects inside lists and objects
ABANDON_GRACE = 2.0  # seconds the work gets to stop by itself before the client is answered
MAX_RUNNING_CALLS = 8  # calls whose work runs at once, finished or abandoned by the client
EXIT_GRACE = 10.0  # seconds stopped work gets to let go (the trainer: SIGTERM, then SIGKILL)
LONG_TOOLS = frozenset({"run"})  # tools limited by run_seconds instead of tool_seconds
# Poll events that say the other end of stdin is gone (POLLHUP and POLLERR always count).
HANGUP_EVENTS = getattr(select, "POLLRDHUP", 0)
_running = threading.BoundedSemaphore(MAX_RUNNING_CALLS)


@dataclass(frozen=True)
class CallLimits:
    """How long one tool call may run, in seconds: `[mcp]` of claimledger.toml."""

    tool_seconds: float = 60.0
    run_seconds: float = 3600.0

    @classmethod
    def from_workspace(cls, ws: Workspace, **overrides: float | None) -> CallLimits:
        """The `[mcp]` table over the defaults, then the given overrides (None: not given)."""
        table = dict(ws.config.section("mcp"))
        unknown = sorted(set(table) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown [mcp] keys: {', '.join(unknown)}", CONFIG_NAME)
        given = {k: v for k, v in overrides.items() if v is not None}
        limits = replace(cls(), **{**table, **given})
        for f in fields(limits):
            value = getattr(limits, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"mcp.{f.name} must be a positive number of seconds", CONFIG_NAME)
        return limits

    def seconds(self, tool: str) -> float:
        """The time limit of one call of `tool`."""
        return self.run_seconds if tool in LONG_TOOLS else self.tool_seconds


def check_arguments(arguments: dict[str, Any]) -> None:
    """InvalidArgumentError naming the first argument over its bound (see the module doc)."""
    total = 0
    for name, value in arguments.items():
        problem, chars = _size_problem(value, 0)
        total += chars
        if problem:
            raise InvalidArgumentError(f"argument {name!r}: {problem}")
    if total > MAX_TOTAL_CHARS:
        raise InvalidArgumentError(f"the arguments hold {total} characters, over {MAX_TOTAL_CHARS}")


def _size_problem(value: Any, depth: int) -> tuple[str | None, int]:
    """(what is too big, or None; the characters of text in it) for one JSON value."""
    if isinstance(value, str):
        too_long = len(value) > MAX_TEXT_CHARS
        return (f"{len(value)} characters, over {MAX_TEXT_CHARS}" if too_long else None), len(value)
    if not isinstance(value, list | tuple | dict):
        return None, 0
    if depth >= MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels", 0
    if len(value) > MAX_ITEMS:
        return f"{len(value)} entries, over {MAX_ITEMS}", 0
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else list(value)
    chars = 0
    for item in items:
        problem, size = _size_problem(item, depth + 1)
        chars += size
        if problem:
            return problem, chars
    return None, chars


def limit_message(seconds: float) -> str:
    """The error a client gets for a call that ran out of time, with where to change it."""
    return (
        f"the call did not finish within its time limit of {seconds:g} s and was stopped "
        "(the limits: [mcp] tool_seconds and run_seconds in claimledger.toml, or "
        "claimledger mcp --tool-seconds / --run-seconds)"
    )


async def call_within(method: Callable[..., Any], arguments: dict[str, Any], seconds: float) -> Any:
    """method(**arguments) in a worker thread, limited to `seconds`: TimeLimitError past it,
    once the work has stopped or ABANDON_GRACE later, whichever comes first."""
    import anyio
    import anyio.to_thread

    work = functools.partial(_run_limited, method, arguments, seconds)
    with anyio.move_on_after(seconds + ABANDON_GRACE):
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    raise TimeLimitError(limit_message(seconds))


def _run_limited(method: Callable[..., Any], arguments: dict[str, Any], seconds: float) -> Any:
    """The call in its worker thread, under the deadline that its work checks, holding one of
    the places of running calls until its work ends (answered or abandoned)."""
    if not _running.acquire(blocking=False):
        raise ClaimledgerError(
            f"the server is busy: {MAX_RUNNING_CALLS} calls are still running; try again later"
        )
    try:
        with deadline.time_limit(seconds):
            return _call(method, arguments, seconds)
    finally:
        _running.release()


def _call(method: Callable[..., Any], arguments: dict[str, Any], seconds: float) -> Any:
    """method(**arguments); a failure once the deadline passed is the TimeLimitError it is."""
    try:
        return method(**arguments)
    except Exception as exc:
        if deadline.expired():  # "interrupted" from SQLite, a stopped trainer ...
            raise TimeLimitError(limit_message(seconds)) from exc
        raise


def watch_for_hangup(fd: int, on_hangup: Callable[[], None]) -> threading.Thread | None:
    """Call `on_hangup` from a daemon thread once the writing end of the pipe (or socket) `fd`
    is closed: the client is gone. Reads nothing from it. None where poll() is missing."""
    if not hasattr(select, "poll"):
        return None

    def watch() -> None:
        poller = select.poll()
        poller.register(fd, HANGUP_EVENTS)
        poller.poll()  # returns only on hang-up, an error, or a closed fd: all mean gone
        on_hangup()

    thread = threading.Thread(target=watch, name="claimledger-mcp-hangup", daemon=True)
    thread.start()
    return thread


def exit_past_lingering_work(grace: float = EXIT_GRACE) -> None:
    """Give the worker threads of stopped calls `grace` seconds to let go of what they hold,
    then end the process even if one still runs: its answer has nobody to go to."""
    me = threading.current_thread()
    workers = [t for t in threading.enumerate() if t is not me and not t.daemon]
    end = time.monotonic() + grace
    for thread in workers:
        thread.join(max(0.0, end - time.monotonic()))
    if any(thread.is_alive() for thread in workers):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
