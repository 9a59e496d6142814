"""Analysing note files into batches of index rows, in worker processes when there are many.

A batch travels from a worker to the index writer as a small serialized SQLite database whose
tables have the index's own columns, so the writer copies it in with INSERT ... SELECT: nothing
is pickled object by object, and the writer binds no value by value. The writer is the one
process that cannot be parallel, so this keeps its share of the work small.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from claimledger.kb.analyze import AnalyzedNote, analyze_files, search_texts

# Below this many files to analyse, worker start-up costs more than it saves.
PARALLEL_THRESHOLD = 400
# Files per batch: large batches cost less each, but each worker should get several of them.
CHUNK = 1000
MIN_CHUNK = 100
T = TypeVar("T")
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_POLL_S = 0.5  # where Linux cannot signal a worker, it looks for its parent this often
# The index tables a batch fills, with the column that names the note in each.
ROW_TABLES = {
    "notes": "id",
    "keys": "note_id",
    "links": "note_id",
    "problems": "note_id",
    "texts": "id",
}
ROW_TABLES_SQL = """
CREATE TABLE IF NOT EXISTS notes(
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, role TEXT, type TEXT, stem TEXT,
    title TEXT, h1 TEXT, domain TEXT, confidence TEXT, status TEXT, description TEXT,
    norm_path TEXT, metadata TEXT, size INTEGER, mtime_ns INTEGER, sha256 TEXT);
CREATE TABLE IF NOT EXISTS keys(key TEXT NOT NULL, note_id INTEGER NOT NULL, kind TEXT);
CREATE TABLE IF NOT EXISTS links(
    note_id INTEGER NOT NULL, kind TEXT, target TEXT, key TEXT, key_hash INTEGER, folder TEXT,
    line INTEGER, embed INTEGER);
CREATE TABLE IF NOT EXISTS problems(
    note_id INTEGER NOT NULL, code TEXT, message TEXT, line INTEGER);
CREATE TABLE IF NOT EXISTS texts(id INTEGER PRIMARY KEY, title TEXT, body TEXT);
"""
NOTE_COLUMNS = [
    "type",
    "stem",
    "title",
    "h1",
    "domain",
    "confidence",
    "status",
    "description",
    "norm_path",
]


@dataclass(frozen=True)
class Batch:
    """Up to CHUNK analysed files: how many files it covers, its rows as a database, and how
    many batches are still to come after it."""

    files: int
    data: bytes
    remaining: int = 0


def analyzed_batches(
    root: Path, items: list[tuple[str, str]], schemas_dir: Path, first_id: int, texts: bool
) -> Iterator[Batch]:
    """(path, role) items analysed in order, the i-th note given id first_id + i; with `texts`,
    the batches fill the texts table too (needed only once full-text search is built)."""
    size = _chunk_size(len(items))
    calls = [
        (root, items[i : i + size], schemas_dir, first_id + i, texts)
        for i in range(0, len(items), size)
    ]
    yield from _numbered(_run_calls(analyze_batch, calls, len(items)), len(calls))


def search_text_batches(
    root: Path, notes: list[tuple[int, str, str, str | None]]
) -> Iterator[list[tuple[int, str, str]]]:
    """The searchable texts of indexed notes (see analyze.search_texts), read in batches."""
    size = _chunk_size(len(notes))
    calls = [(root, notes[i : i + size]) for i in range(0, len(notes), size)]
    yield from _run_calls(search_texts, calls, len(notes))


def _chunk_size(files: int) -> int:
    return max(MIN_CHUNK, min(CHUNK, files // (4 * worker_count())))


def _run_calls(function: Callable[..., T], calls: list[tuple[Any, ...]], files: int) -> Iterator[T]:
    """function(*call) for each call, results in order: in worker processes when the calls
    cover files enough to pay for starting them."""
    workers = worker_count()
    if files < PARALLEL_THRESHOLD or workers < 2:
        yield from (function(*call) for call in calls)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers, initializer=init_worker, initargs=(os.getpid(),)
    )
    try:
        # The workers are forked at the first submit. Objects frozen then are never visited by
        # the workers' collector, so the memory pages they share with this process stay shared.
        gc.freeze()
        try:
            jobs = deque(pool.submit(function, *call) for call in calls)
        finally:
            gc.unfreeze()
        while jobs:  # each future let go once its result is used: batches are megabytes
            yield jobs.popleft().result()
    finally:  # when the caller stops early (an error), drop the batches not yet started
        pool.shutdown(cancel_futures=True)


def init_worker(parent: int) -> None:
    """Worker initializer: no cyclic garbage collection, and an end with the parent.

    A worker lives for one index build and makes almost no cyclic garbage (about a hundred
    objects a batch, freed when it exits), but the collector's passes over what its caches
    keep cost it 3% of its time: from the tenth batch on, 30 ms a batch."""
    gc.disable()
    exit_with_parent(parent)


def exit_with_parent(parent: int) -> None:
    """End this worker when the process that started it dies, even by
    kill -9, which runs no clean-up. Else the worker lives on, orphaned: it finishes its
    batches for nobody, then waits forever on a queue whose other end its siblings hold open."""
    if not _kill_on_parent_death():
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    # A parent that died before the line above took effect is gone already. (A worker started
    # by a fork server, the default from Python 3.14, is the server's child, not `parent`'s;
    # the server ends when `parent` does.)
    if os.getppid() != parent and multiprocessing.get_start_method() != "forkserver":
        os._exit(1)


def _kill_on_parent_death() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that cannot be done.

    Linux sends the signal when the parent's *thread* that forked this process ends: the pool
    is forked by the thread that runs analyzed_batches, and shut down before it returns."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _numbered(batches: Iterator[Batch], total: int) -> Iterator[Batch]:
    for done, batch in enumerate(batches, start=1):
        yield replace(batch, remaining=total - done)


def worker_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def analyze_batch(
    root: Path, chunk: list[tuple[str, str]], schemas_dir: Path, first_id: int, texts: bool
) -> Batch:
    """Analyse files into a batch (in a worker process when there are many)."""
    with _cyclic_gc_paused():
        return Batch(len(chunk), _batch_data(root, chunk, schemas_dir, first_id, texts))


def _batch_data(
    root: Path, chunk: list[tuple[str, str]], schemas_dir: Path, first_id: int, texts: bool
) -> bytes:
    analyzed = enumerate(analyze_files(root, chunk, schemas_dir), first_id)
    numbered = [(note_id, note) for note_id, note in analyzed if note is not None]
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(ROW_TABLES_SQL)
        with conn:
            _write_rows(conn, numbered, texts)
        return conn.serialize()


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cycle collector: a batch makes tens of thousands of short-lived containers,
    which set off collections that find nothing to free (reference counting frees them).
    Paused, analysis takes about 5% less CPU. Resumed only once the batch's objects are gone,
    or its first collection would still walk them all."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _write_rows(
    conn: sqlite3.Connection, numbered: list[tuple[int, AnalyzedNote]], texts: bool
) -> None:
    columns = ", ".join(NOTE_COLUMNS)
    marks = ", ".join("?" * len(NOTE_COLUMNS))
    conn.executemany(
        f"INSERT INTO notes (id, path, role, {columns}, metadata, size, mtime_ns, sha256)"
        f" VALUES (?, ?, ?, {marks}, ?, ?, ?, ?)",
        [
            (
                i,
                n.path,
                n.role,
                *[n.fields[c] for c in NOTE_COLUMNS],
                n.metadata_json,
                n.size,
                n.mtime_ns,
                n.sha256,
            )
            for i, n in numbered
        ],
    )
    conn.executemany(
        "INSERT INTO keys VALUES (?, ?, ?)",
        [(key, i, kind) for i, n in numbered for key, kind in n.keys],
    )
    conn.executemany(
        "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(i, *row) for i, n in numbered for row in n.link_rows],
    )
    conn.executemany(
        "INSERT INTO problems VALUES (?, ?, ?, ?)",
        [(i, p.code, p.message, p.line) for i, n in numbered for p in n.problems],
    )
    if texts:
        conn.executemany(
            "INSERT INTO texts VALUES (?, ?, ?)",
            [(i, n.fields["title"], n.search_text) for i, n in numbered],
        )
