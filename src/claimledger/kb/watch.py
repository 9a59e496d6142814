"""A file watcher that tells index refreshes which files changed: git's fsmonitor in small.

Without it, a refresh stats every file of the vault to find the changed ones: about 0.1 s at
25,000 notes. `claimledger watch` runs a watcher (watchdog, over inotify on Linux) that appends
each changed path to a journal in the cache folder. A refresh then asks for the changes since
the journal position it stored last time. To know that the journal holds every change made
before it asked, it creates a cookie file and waits until the watcher journals that cookie:
inotify reports one watch's events in order, so every earlier change is journaled by then.

Anything the journal cannot vouch for makes the refresh scan every file, as it does with no
watcher: a watcher that is not running or does not answer in time, a journal started since
(a new watcher, or one that rotated its journal), lost events (the kernel queue overflowed),
and folders created, moved or deleted.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from claimledger.errors import ClaimledgerError
from claimledger.files import write_atomic
from claimledger.workspace import Workspace

log = logging.getLogger(__name__)

WATCH_DIR = "watch"
JOURNAL_NAME = "journal"
LOCK_NAME = "watcher.lock"
COOKIE_PREFIX = "cookie-"
# A journal grows with every change; past this size the watcher starts a new one, and the
# next refresh scans every file once.
MAX_JOURNAL_BYTES = 8 << 20
# How long a refresh waits for the watcher to journal its cookie before scanning every file.
SYNC_TIMEOUT_S = 2.0
POLL_S = 0.0005


@dataclass(frozen=True)
class Changes:
    """What the watcher knows, asked with a journal position (token) from an earlier refresh."""

    token: str | None  # the journal's position now: None when no watcher runs
    paths: set[str] | None  # files changed since the given token: None when not known


NO_WATCHER = Changes(None, None)


def watch_folder(ws: Workspace) -> Path:
    return ws.cache_dir / WATCH_DIR


def watcher_running(ws: Workspace) -> bool:
    """Whether a watcher holds the workspace's watcher lock (the kernel drops it when the
    watcher's process ends, however it ends)."""
    folder = watch_folder(ws)
    path = folder / LOCK_NAME
    if folder.is_symlink() or not path.exists():  # never write a cookie through a link
        return False
    try:
        with FileLock(str(path), timeout=0):
            return False
    except Timeout:
        return True


def changes_since(ws: Workspace, token: str | None) -> Changes:
    """The files changed since `token` (a journal position stored by an earlier refresh),
    after a cookie round-trip with the watcher; NO_WATCHER when none runs or it does not
    answer within SYNC_TIMEOUT_S."""
    if not watcher_running(ws):
        return NO_WATCHER
    folder = watch_folder(ws)
    cookie = folder / f"{COOKIE_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    cookie.touch()
    try:
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while (changes := _read_journal(folder / JOURNAL_NAME, cookie.name, token)) is None:
            if time.monotonic() > deadline:
                log.warning("the file watcher did not answer: scanning every file")
                return NO_WATCHER
            time.sleep(POLL_S)
    finally:
        cookie.unlink(missing_ok=True)
    return changes


def _read_journal(path: Path, cookie: str, token: str | None) -> Changes | None:
    """The changes from `token` up to the cookie's entry; None until the journal holds it.

    The changes are unknown (paths None) when the token is of another journal: one started
    since it was taken."""
    try:
        with open(path, "rb") as journal:
            header = _entry(journal.readline())
            if header[0] != "watch" or len(header) != 2:
                return None
            since = _token_offset(token, header[1], os.fstat(journal.fileno()).st_size)
            base = journal.tell() if since is None else since
            journal.seek(base)
            data = journal.read()
    except OSError:
        return None
    mark = _line(["cookie", cookie])
    found = data.find(mark)  # JSON escapes quotes in a path, so no path entry contains it
    if found < 0:
        return None
    token_now = f"{header[1]}:{base + found + len(mark)}"
    return Changes(token_now, None if since is None else _changed_paths(data[:found]))


def _changed_paths(data: bytes) -> set[str] | None:
    """The paths in a stretch of journal; None when it says to scan every file."""
    paths: set[str] = set()
    for line in data.splitlines():
        entry = _entry(line)
        if entry[0] == "rescan":
            log.info("file watcher: %s; scanning every file", " ".join(entry[1:]))
            return None
        if entry[0] == "file":
            paths.update(entry[1:])
    return paths


def _token_offset(token: str | None, journal_id: str, size: int) -> int | None:
    """The journal offset that `token` names, when it belongs to this journal."""
    token_id, _, offset = (token or "").rpartition(":")
    if token_id != journal_id or not offset.isdigit() or int(offset) > size:
        return None
    return int(offset)


def _line(entry: list[str]) -> bytes:
    return json.dumps(entry, ensure_ascii=False).encode() + b"\n"


def _entry(line: bytes) -> list[Any]:
    """A journal entry: [kind, ...strings]; ["?"] for a line that is not one."""
    try:
        entry = json.loads(line)
    except ValueError:
        return ["?"]
    ok = isinstance(entry, list) and entry and all(isinstance(x, str) for x in entry)
    return entry if ok else ["?"]


class Journal:
    """The watcher's side: an append-only file of entries, one JSON list per line."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / JOURNAL_NAME
        self.fd = -1
        self.last = b""
        self.start()

    def start(self) -> None:
        """Begin a new journal with a new id (refreshes holding an old token scan once)."""
        write_atomic(self.path, _line(["watch", secrets.token_hex(8)]).decode())
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = self.path.stat().st_size

    def add(self, entry: list[str]) -> None:
        line = _line(entry)
        if line == self.last:  # an editor's save writes, then closes: one entry is enough
            return
        if self.size + len(line) > MAX_JOURNAL_BYTES and entry[0] != "cookie":
            self.start()
        os.write(self.fd, line)  # one small O_APPEND write: readers see whole lines or none
        self.size += len(line)
        self.last = line

    def close(self) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)


def run_watcher(
    ws: Workspace, ready: Callable[[], None] | None = None, stop: threading.Event | None = None
) -> None:
    """Journal the vault's changes until `stop` is set (or KeyboardInterrupt); `ready` is
    called once every later change will be journaled. One watcher per workspace."""
    folder = ws.ensure_cache_dir() / WATCH_DIR
    if folder.is_symlink():
        raise ClaimledgerError("is a symlink: remove it to watch this workspace", folder)
    folder.mkdir(exist_ok=True)
    try:
        with FileLock(str(folder / LOCK_NAME), timeout=0):
            _watch(ws, folder, ready, stop or threading.Event())
    except Timeout:
        raise ClaimledgerError(f"a file watcher already runs for {ws.root}") from None


def _watch(
    ws: Workspace, folder: Path, ready: Callable[[], None] | None, stop: threading.Event
) -> None:
    from watchdog.observers import Observer

    journal = Journal(folder)
    observer = Observer()
    handler = _Handler(ws, folder, journal)
    observer.schedule(handler, str(ws.root), recursive=True, event_filter=_event_types())
    try:
        observer.start()
    except OSError as exc:  # most often: too few inotify watches for the vault's folders
        journal.close()
        problem = f"cannot watch it: {exc.strerror or exc} (see sysctl fs.inotify.max_user_watches)"
        raise ClaimledgerError(problem, ws.root) from None
    try:
        if ready:
            ready()
        while observer.is_alive() and not stop.wait(0.5):
            pass
    finally:
        observer.stop()
        observer.join()
        journal.close()


class _Handler:
    """Turns watchdog's events into journal entries."""

    def __init__(self, ws: Workspace, folder: Path, journal: Journal) -> None:
        from watchdog import events

        self.events = events
        self.root = str(ws.root) + os.sep
        self.cookies = str(folder / COOKIE_PREFIX)
        layout = ws.config.layout
        self.skipped = tuple(
            str(ws.root / name) + os.sep for name in (layout.cache_dir, layout.ledger_dir)
        )
        self.journal = journal

    def dispatch(self, event: Any) -> None:
        e = self.events
        if isinstance(event, e.EventsLostEvent):
            self.journal.add(["rescan", "events were lost"])
            return
        paths = [p for p in (event.src_path, getattr(event, "dest_path", "")) if p]
        if isinstance(event, e.FileCreatedEvent) and paths[0].startswith(self.cookies):
            self.journal.add(["cookie", os.path.basename(paths[0])])
            return
        relative = [rel for path in map(os.fsdecode, paths) if (rel := self._relative(path))]
        if not relative:
            return
        if event.is_directory:
            if not isinstance(event, e.DirModifiedEvent):
                self.journal.add(["rescan", f"folder {relative[0]} was {event.event_type}"])
            return
        self.journal.add(["file", *relative])

    def _relative(self, path: str) -> str | None:
        """The vault path of an event's file; None for one a refresh never reads (hidden,
        in the cache or ledger folder, or outside the root)."""
        if not path.startswith(self.root) or path.startswith(self.skipped):
            return None
        rel = path[len(self.root) :].replace(os.sep, "/")
        return None if any(part.startswith(".") for part in rel.split("/")) else rel


def _event_types() -> list[type]:
    """The events journaled (not opens and reads: the index itself reads every note)."""
    from watchdog import events as e

    return [
        e.FileCreatedEvent,
        e.FileModifiedEvent,
        e.FileAttribEvent,
        e.FileDeletedEvent,
        e.FileMovedEvent,
        e.FileClosedEvent,
        e.DirCreatedEvent,
        e.DirDeletedEvent,
        e.DirMovedEvent,
        e.EventsLostEvent,
    ]
