"""What the SQLite caches under .claimledger/ share: finding damage and starting afresh.

Each cache (the kb index, the ledger index, the embeddings of the inbox dedup) is derived from
files, so a damaged one is never mended: it is removed, with a warning that names it, and built
again from the files. Damage shows at different times. A garbage header fails the first read,
and a truncated file is told by its header's page count (`file_problem`, cheap, for writers);
a garbage page fails only the query that reaches it (`guarded`). Checking every page on every
open would find it first, but costs more than the commands themselves (PRAGMA quick_check:
90 ms on a 25,000-note index; `show` has 50 ms), so only the `index` commands do that.

`guarded` removes the file and raises CacheDamagedError; `retrying` runs the work again, which
rebuilds the file on its way (the CLI runs a command again the same way).
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path
from typing import ParamSpec, TypeVar

from filelock import FileLock

from claimledger.errors import CacheDamagedError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Primary result codes of a damaged file (extended codes such as SQLITE_CORRUPT_VTAB, which
# FTS5 raises, share them in their low byte). "database is locked" and the like are not damage.
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
DAMAGE_CODES = frozenset({SQLITE_CORRUPT, SQLITE_NOTADB})
# Files SQLite keeps beside a database. A journal left beside a new file would be rolled
# back into it, so it goes with the damaged file.
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
HEADER = b"SQLite format 3\x00"
# Each cache may be found damaged once (the kb index, the ledger index, the embeddings).
REPAIR_ATTEMPTS = 3
LOCK_TIMEOUT_S = 120


def is_damage(exc: BaseException) -> bool:
    """Whether an exception says that a database file is damaged (not busy, full, missing)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # None when the sqlite3 module raised it
    return code is not None and code & 0xFF in DAMAGE_CODES


def discard(path: Path, problem: object) -> None:
    """Remove a damaged cache file (and its WAL, shared-memory and journal files)."""
    log.warning("%s is damaged (%s); removing it: it is rebuilt from the files", path, problem)
    for suffix in ("", *SIDE_SUFFIXES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@contextmanager
def guarded(path: Path, lock_path: Path | None = None) -> Iterator[None]:
    """Turn damage met in the body into CacheDamagedError, once the damaged file is removed.

    lock_path is the cache's writer lock, taken to remove the file, when the caller does not
    hold it already; the file is left alone if another process has replaced it meanwhile."""
    identity = _identity(path)
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        lock = FileLock(str(lock_path), timeout=LOCK_TIMEOUT_S) if lock_path else nullcontext()
        with lock:
            if _identity(path) == identity:
                discard(path, exc)
        raise CacheDamagedError("damaged, removed, to be rebuilt from the files", path) from exc


def retrying(work: Callable[P, R]) -> Callable[P, R]:
    """Run `work` again when it met a damaged cache (which it then rebuilds from the files)."""

    @functools.wraps(work)
    def again(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(REPAIR_ATTEMPTS - 1):
            try:
                return work(*args, **kwargs)
            except CacheDamagedError:
                continue
        return work(*args, **kwargs)

    return again


def file_problem(path: Path, deep: bool = False) -> str | None:
    """What is wrong with a database file at a glance (its header, its length), or with
    `deep`, page by page (PRAGMA quick_check); None when nothing is, or there is no file.

    The caller holds the writer lock, so that no checkpoint is growing the file meanwhile."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        return None
    problem = _header_problem(header, size, _has_wal(path))
    if problem or not deep:
        return problem
    return _quick_check(path)


def _header_problem(header: bytes, size: int, has_wal: bool) -> str | None:
    if size == 0:
        return None  # SQLite takes an empty file for an empty database
    if len(header) < 100 or not header.startswith(HEADER):
        return "not a SQLite file"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid when its "version valid for" matches the change counter; with a
    # WAL, the file may lag the database, and its length says nothing.
    if has_wal or header[24:28] != header[92:96] or pages == 0:
        return None
    if size < pages * page_size:
        return f"truncated: {size} bytes of {pages} pages of {page_size}"
    return None


def _has_wal(path: Path) -> bool:
    try:
        return os.path.getsize(f"{path}-wal") > 0
    except OSError:
        return False


def _quick_check(path: Path) -> str | None:
    try:
        with closing(sqlite3.connect(path, timeout=LOCK_TIMEOUT_S)) as conn:
            result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return str(exc)
    return None if result == "ok" else str(result)
