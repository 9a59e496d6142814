"""The rebuildable SQLite index of the ledger at .claimledger/ledger.sqlite.

The record files are the truth; this index only makes queries fast, and deleting it loses
nothing. It is updated incrementally: a refresh lists the record folders whose modification
time changed since the last refresh (adding or removing a file changes its folder's time), and
indexes the files it has not seen. A file that is corrupted, edited, not canonical or invalid
against its schema is kept out of the queries and remembered with its problem, for `verify`.

Many processes may refresh at once: updates take a file lock and SQLite runs in WAL mode, so
readers never wait for a writer.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from claimledger.ledger.indexrows import GONE, FileRow, decode_files, insert_rows
from claimledger.ledger.records import schemas_version
from claimledger.ledger.store import records_dir, remove_stale_temp
from claimledger.sqlite_cache import discard, file_problem, guarded, retrying
from claimledger.workspace import Workspace

INDEX_VERSION = "5"
INDEX_NAME = "ledger.sqlite"
LOCK_NAME = "ledger.sqlite.lock"
SHARD_PATTERN = re.compile(r"[0-9a-f]{2}")
# A folder whose time is this recent may still change within the same clock tick as our
# look at it, unnoticed; such a folder is scanned again next time (as git does for racy files).
RACY_NS = 3_000_000_000

# Sound records live in `records` (with their file's size and time), unsound files in
# `bad_files`; together they are every file seen. Few secondary indexes: the first index
# inserts every record, and each index costs it time.
TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shards (name TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bad_files (
    name TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    problem TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, supersedes TEXT,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS superseded (
    target TEXT NOT NULL, by_id TEXT NOT NULL, PRIMARY KEY (target, by_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS superseded_by ON superseded (by_id);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, branch TEXT NOT NULL, status TEXT NOT NULL,
    val_bpb REAL, commit_ TEXT NOT NULL, parent_commit TEXT, agent TEXT NOT NULL,
    started TEXT, source_row INTEGER, proposal TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_best ON runs (platform, status, branch, val_bpb);
CREATE INDEX IF NOT EXISTS runs_rank ON runs (platform, status, val_bpb);
CREATE INDEX IF NOT EXISTS runs_branch ON runs (branch, platform, status);
CREATE INDEX IF NOT EXISTS runs_commit ON runs (commit_);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started, source_row);
CREATE TABLE IF NOT EXISTS branch_counts (
    branch TEXT NOT NULL, platform TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (branch, platform, status)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS adopts (
    id TEXT PRIMARY KEY, branch TEXT NOT NULL, from_branch TEXT NOT NULL,
    commit_ TEXT NOT NULL, platform TEXT, created TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY, proposal TEXT NOT NULL, agent TEXT NOT NULL, since TEXT NOT NULL,
    until TEXT NOT NULL, created TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leases_proposal ON leases (proposal);
"""
DATA_TABLES = (
    "shards",
    "bad_files",
    "records",
    "superseded",
    "runs",
    "branch_counts",
    "adopts",
    "leases",
)


@dataclass
class IndexStats:
    """What one refresh did: folders scanned, files (re)indexed and removed, problems met."""

    shards_scanned: int = 0
    indexed: int = 0
    removed: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)


def index_path(ws: Workspace) -> Path:
    """The SQLite file of the ledger index."""
    return ws.cache_dir / INDEX_NAME


def lock_path(ws: Workspace) -> Path:
    """The lock that writers of the index hold."""
    return ws.cache_dir / LOCK_NAME


def _connect(ws: Workspace, writer: bool = False) -> sqlite3.Connection:
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(index_path(ws), timeout=60, isolation_level=None)
    conn.row_factory = sqlite3.Row
    if writer:
        conn.execute("PRAGMA journal_mode=WAL")  # stored in the file: readers need not ask
        conn.execute("PRAGMA synchronous=NORMAL")
        # A big first index overflows the default 2 MB page cache into the WAL file mid-build.
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA journal_size_limit=33554432")  # do not keep a 100 MB WAL file
    return conn


@contextmanager
def open_index(ws: Workspace) -> Iterator[sqlite3.Connection]:
    """A connection to an index that is up to date with the record folders.

    A damaged page met by a query removes the file and raises CacheDamagedError: the caller
    runs again (see sqlite_cache.retrying), and the refresh rebuilds the file."""
    with guarded(index_path(ws), lock_path(ws)):
        conn = _connect(ws)
        try:
            current = _shard_times(records_dir(ws))
            if _is_stale(ws, conn, current):
                conn.close()
                _refresh(ws, current, full=False)
                conn = _connect(ws)  # the refresh may have replaced a damaged file
            yield conn
        finally:
            conn.close()


@contextmanager
def _writing(ws: Workspace, check: bool = False) -> Iterator[sqlite3.Connection]:
    """The lock and a connection for updating the index, its tables created and current.

    A damaged file (truncated, no valid header, or with `check`, any damaged page) is removed
    first; damage met later removes it and raises CacheDamagedError."""
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    path = index_path(ws)
    with FileLock(lock_path(ws)), guarded(path):
        if problem := file_problem(path, deep=check):
            discard(path, problem)
        conn = _connect(ws, writer=True)
        try:
            _ensure_tables(conn, _fingerprint(ws))
            yield conn
        finally:
            conn.close()


def _fingerprint(ws: Workspace) -> str:
    """What the index content depends on besides the files: its format and the schemas."""
    return f"{INDEX_VERSION}:{schemas_version(ws.schemas_dir)}:{records_dir(ws)}"


def _ensure_tables(conn: sqlite3.Connection, fingerprint: str) -> None:
    """Create the tables; start afresh when the schemas or the index format changed."""
    conn.executescript(TABLES)
    row = conn.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
    if row is not None and row[0] == fingerprint:
        return
    # Every file is validated again, into tables of the current layout.
    conn.execute("BEGIN IMMEDIATE")
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for (name,) in names:
        conn.execute(f'DROP TABLE "{name}"')
    conn.execute("COMMIT")
    conn.executescript(TABLES)
    conn.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fingerprint,))


def _clear(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for table in DATA_TABLES:
        conn.execute(f"DELETE FROM {table}")
    conn.execute("COMMIT")


@retrying
def refresh_index(
    ws: Workspace, rebuild: bool = False, full: bool = False, check: bool = False
) -> IndexStats:
    """Bring the index up to date: new files indexed, removed ones dropped.

    By default only folders whose time changed are looked at (milliseconds when nothing
    changed). `full` also reads again every file, catching edits made in place. `check`
    checks every page of the index first, and rebuilds it if one is damaged. `rebuild`
    forgets everything indexed and indexes every record file again.
    """
    if rebuild:
        with _writing(ws, check=True) as conn:
            _clear(conn)
    current = _shard_times(records_dir(ws))
    if not (full or check):
        conn = _connect(ws)
        try:
            if not _is_stale(ws, conn, current):
                return IndexStats()
        finally:
            conn.close()
    return _refresh(ws, current, full, check)


def _refresh(ws: Workspace, current: dict[str, int], full: bool, check: bool = False) -> IndexStats:
    """Scan the folders whose time is not the one stored (all of them if `full`)."""
    with _writing(ws, check) as conn:
        stored = dict(conn.execute("SELECT name, mtime_ns FROM shards").fetchall())
        changed = [s for s in current if full or stored.get(s) != current[s]]
        gone = [s for s in stored if s not in current]
        result = IndexStats(shards_scanned=len(changed))
        conn.execute("BEGIN IMMEDIATE")
        try:
            for shard in gone:
                result.removed += _drop_names(conn, _names_in_shard(conn, shard))
                conn.execute("DELETE FROM shards WHERE name = ?", (shard,))
            _scan_shards(ws, conn, changed, current, full, result)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return result


def _is_stale(ws: Workspace, conn: sqlite3.Connection, current: dict[str, int]) -> bool:
    """Whether any record folder appeared, disappeared or changed (read without the lock)."""
    try:
        stored = dict(conn.execute("SELECT name, mtime_ns FROM shards").fetchall())
        row = conn.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
    except sqlite3.DatabaseError:
        return True  # a new index (no tables yet) or a damaged one: the writer deals with it
    return row is None or row[0] != _fingerprint(ws) or stored != current


def _shard_times(root: Path) -> dict[str, int]:
    """The modification time of every record folder (ab/) under the records folder."""
    times = {}
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    for entry in entries:
        if SHARD_PATTERN.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
            times[entry.name] = entry.stat().st_mtime_ns
    return times


def _scan_shards(
    ws: Workspace,
    conn: sqlite3.Connection,
    shards: list[str],
    times: dict[str, int],
    full: bool,
    result: IndexStats,
) -> None:
    """Index the new and changed files of some folders; remember each folder's time."""
    root = records_dir(ws)
    now = time.time_ns()
    todo: list[FileRow] = []
    for shard in shards:
        known = _known_files(conn, shard)
        seen, changed = _list_shard(root, shard, known, full)
        # Files that vanished, and changed files whose old rows the new ones replace.
        result.removed += _drop_names(conn, [n for n in known if n not in seen])
        _drop_names(conn, [row.name for row in changed if row.name in known])
        todo.extend(changed)
        racy = now - times[shard] < RACY_NS
        conn.execute(
            "INSERT OR REPLACE INTO shards VALUES (?, ?)", (shard, -1 if racy else times[shard])
        )
    _index_files(ws, conn, todo, result)


def _list_shard(
    root: Path, shard: str, known: dict[str, tuple[int, int]], full: bool
) -> tuple[set[str], list[FileRow]]:
    """The file names in one folder, and the files to (re)index: new ones, or all if `full`.

    Files already indexed are not looked at again: records are immutable, and the queries
    check each file they serve, so an edit made in place is still never served stale.
    """
    seen = set()
    changed = []
    now = time.time()
    for entry in os.scandir(root / shard):
        if entry.name.startswith("."):
            remove_stale_temp(entry, now)
            continue
        name = f"{shard}/{entry.name}"
        seen.add(name)
        if full or name not in known:
            changed.append(FileRow(name, shard, -1, -1))
    return seen, changed


def _index_files(
    ws: Workspace, conn: sqlite3.Connection, todo: list[FileRow], result: IndexStats
) -> None:
    """Read, check and insert files in batches, replacing what was indexed under their names."""
    fingerprint = schemas_version(ws.schemas_dir)
    for decoded in decode_files(records_dir(ws), todo, ws.schemas_dir, fingerprint):
        insert_rows(conn, decoded)
        result.indexed += sum(d.problem != GONE for d in decoded)
        result.problems.extend(
            (d.file.name, d.problem) for d in decoded if d.problem not in (None, GONE)
        )


@retrying
def reindex_names(ws: Workspace, names: Iterable[str]) -> None:
    """Check some files again (e.g. a query found one changed since it was indexed)."""
    with _writing(ws) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            names = list(names)
            _drop_names(conn, names)
            todo = [FileRow(name, name.split("/")[0], -1, -1) for name in names]
            _index_files(ws, conn, todo, IndexStats())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _known_files(conn: sqlite3.Connection, shard: str) -> dict[str, tuple[int, int]]:
    """name -> (size, mtime_ns) of every file of a folder that the index has seen."""
    # Range scans on the primary keys: every id in folder "ab" starts with "ab".
    after = f"{int(shard, 16) + 1:02x}" if shard != "ff" else "g"
    rows = conn.execute(
        "SELECT id, size, mtime_ns FROM records WHERE id >= ? AND id < ?", (shard, after)
    ).fetchall()
    known = {f"{shard}/{rid}.json": (size, mtime) for rid, size, mtime in rows}
    rows = conn.execute(
        "SELECT name, size, mtime_ns FROM bad_files WHERE name >= ? AND name < ?",
        (f"{shard}/", f"{shard}0"),
    ).fetchall()
    known.update({name: (size, mtime) for name, size, mtime in rows})
    return known


def _names_in_shard(conn: sqlite3.Connection, shard: str) -> list[str]:
    return list(_known_files(conn, shard))


def _drop_names(conn: sqlite3.Connection, names: list[str]) -> int:
    """Remove files (and the records they held) from the index; return how many."""
    if not names:
        return 0
    params = [(name,) for name in names]
    ids = [(name.split("/")[-1].removesuffix(".json"),) for name in names]
    conn.executemany("DELETE FROM bad_files WHERE name = ?", params)
    conn.executemany(
        "UPDATE branch_counts SET n = n - 1 WHERE (branch, platform, status) = "
        "(SELECT branch, platform, status FROM runs WHERE id = ?)",
        ids,
    )
    for table in ("records", "runs", "adopts", "leases"):
        conn.executemany(f"DELETE FROM {table} WHERE id = ?", ids)
    conn.executemany("DELETE FROM superseded WHERE by_id = ?", ids)
    return len(names)
