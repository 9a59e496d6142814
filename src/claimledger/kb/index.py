"""The SQLite index of the notes under .claimledger/: a cache, rebuildable from the files.

Updates are incremental: a file whose size and mtime are unchanged is skipped; one whose bytes
hash the same is only re-stamped; the rest are re-analysed (in worker processes when many, see
batches.py). Deleting the database loses nothing: the next update rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

from filelock import FileLock

from claimledger.deadline import interrupt_when_expired
from claimledger.kb.batches import (
    ROW_TABLES,
    ROW_TABLES_SQL,
    analyzed_batches,
    search_text_batches,
    worker_count,
)
from claimledger.kb.links import normalize_key
from claimledger.kb.notes import Problem
from claimledger.kb.watch import Changes, changes_since
from claimledger.schemas import schemas_fingerprint
from claimledger.sqlite_cache import discard, file_problem, guarded, retrying
from claimledger.workspace import ATTACHMENT, SYMLINK, VaultFiles, Workspace, config_to_dict

log = logging.getLogger(__name__)

INDEX_VERSION = 8  # 8: links found by key hash; 7: texts read when search is built; ...
DB_NAME = "index.sqlite"
LOCK_NAME = "index.lock"
# Page caches (negative: KiB): a large one for incremental updates, which touch index pages all
# over; a small one for a full load, so that pages go to disk as the load runs, not all at the
# commit, when nothing else is left to run in parallel.
CACHE_KIB = -65536
LOAD_CACHE_KIB = -8192
PAGE_SIZE = 16384  # for new files: fewer, larger pages write and read faster here
FLUSH_INTERVAL_S = 0.25  # how often a new file's data goes to disk while it is built
FDATASYNC = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
# FTS5 merges its index segments as rows arrive. Building the search index turns the gradual
# merges off, which saves a fifth of the full-text work, then back on, so that later updates
# merge the segments bit by bit. (Putting off the "crisis" merges too saved more, but left the
# first update after the build to do them all: 0.6 s instead of 0.25 s on 25,000 notes.)
FTS_MERGING_DEFAULT = {"automerge": 4}
FTS_MERGING_LOAD = {"automerge": 0}
# A full load builds the secondary indexes once each worker has this many batches left: the
# writer, which also has batches to copy in after that, then finishes about as they do.
INDEX_BUILD_LEAD = 2

TABLES_SQL = (
    ROW_TABLES_SQL
    + """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS attachments(path TEXT PRIMARY KEY, name TEXT, norm_path TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(
    title, body, content = 'texts', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2');
"""
)
# Full-text search is built on the first search, not by every index build: tokenising the text
# is a third of a cold index's work, and most commands (lint, show, brief) never search. The
# texts it searches (the notes' bodies: half the index's bytes) are read from the files then
# too, and kept up to date from then on. Once built, these triggers keep the search in step with
# the texts table; they exist only while it is built.
SEARCH_TRIGGERS = {
    "texts_searchable": "AFTER INSERT ON texts BEGIN INSERT INTO notes_fts (rowid, title, body)"
    " VALUES (new.id, new.title, new.body); END",
    "texts_unsearchable": "AFTER DELETE ON texts BEGIN INSERT INTO notes_fts"
    " (notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END",
}
# Secondary indexes, by name (created after the tables, and after the rows on a fresh build).
INDEXES = {
    "keys_key": "keys(key)",
    "keys_note": "keys(note_id)",
    "links_key": "links(key_hash)",  # an index of the keys themselves is 7x larger
    "links_note": "links(note_id)",
    "problems_note": "problems(note_id)",
    "notes_norm_path": "notes(norm_path)",
    # Covers the stamps that every refresh reads (see _stamps): a scan of this index reads a
    # fiftieth of the pages that a scan of the notes table, with its metadata, reads.
    "notes_stamp": "notes(path, size, mtime_ns, role)",
    "attachments_name": "attachments(name)",
    "attachments_norm_path": "attachments(norm_path)",
}


@dataclass
class IndexStats:
    """What an update did."""

    files: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    touched: int = 0
    unchanged: int = 0
    rebuilt: bool = False
    watched: bool = False  # only the files that the file watcher named were looked at
    seconds: float = 0.0


def db_path(ws: Workspace) -> Path:
    return ws.cache_dir / DB_NAME


def lock_path(ws: Workspace) -> Path:
    """The lock that writers of the index hold."""
    return ws.cache_dir / LOCK_NAME


def connect(ws: Workspace) -> sqlite3.Connection:
    """Open the index database (creating its tables), with rows addressable by name."""
    ws.ensure_cache_dir()
    conn = sqlite3.connect(db_path(ws), timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size={CACHE_KIB}")
    conn.executescript(TABLES_SQL)
    _create_indexes(conn)
    return conn


def _create_indexes(conn: sqlite3.Connection) -> None:
    for name, target in INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


@contextmanager
def open_index(ws: Workspace, refresh: bool = True) -> Iterator[sqlite3.Connection]:
    """A connection to an up-to-date index (refreshed first unless refresh=False).

    A damaged page met by a query removes the file and raises CacheDamagedError: the caller
    runs again (see sqlite_cache.retrying), and the refresh rebuilds the file."""
    if refresh:
        refresh_index(ws)
    with guarded(db_path(ws), lock_path(ws)), closing(connect(ws)) as conn:
        interrupt_when_expired(conn)  # a caller's time limit stops a runaway query
        yield conn


def _fingerprint(ws: Workspace) -> str:
    config = json.dumps(config_to_dict(ws.config), sort_keys=True, default=str)
    schemas = schemas_fingerprint(ws.schemas_dir, ("claim", "source"))
    return f"{INDEX_VERSION}:{schemas}:{hash_text(config)}"


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@retrying
def refresh_index(
    ws: Workspace,
    progress: Callable[[int, int], None] | None = None,
    rebuild: bool = False,
    check: bool = False,
) -> IndexStats:
    """Bring the index up to date with the note files; returns what changed.

    A damaged index file is rebuilt. With `check` (and `rebuild`), every page is checked
    first, which finds damage that no query has met yet."""
    start = time.perf_counter()
    ws.ensure_cache_dir()
    with FileLock(str(lock_path(ws)), timeout=120), guarded(db_path(ws)):
        stats = _update_locked(ws, progress, rebuild, check)
    stats.seconds = time.perf_counter() - start
    return stats


def _update_locked(
    ws: Workspace, progress: Callable[[int, int], None] | None, rebuild: bool, check: bool
) -> IndexStats:
    stats = IndexStats()
    fingerprint = _fingerprint(ws)
    conn = _open_existing(ws, deep=rebuild or check)
    # Asked before any file is listed: every change after this is in the watcher's next answer.
    changes = changes_since(ws, _meta(conn, "watch") if conn else None)
    load = partial(_load_all, ws=ws, changes=changes, fingerprint=fingerprint, stats=stats)
    load = partial(load, progress=progress)
    if conn is None:
        stats.rebuilt = True
        _build_new_file(db_path(ws), load)
        return stats
    with closing(conn):
        _attach_batch(conn)
        if rebuild or _meta(conn, "fingerprint") != fingerprint:
            stats.rebuilt = True
            with conn:  # in place, in one transaction: readers see the old index or the new
                conn.execute("BEGIN")  # explicit: sqlite3 would not open one for DROP TABLE
                _recreate_tables(conn)
                load(conn)
        elif changes.paths is None or not _update_watched(conn, ws, changes, progress, stats):
            _update_scanned(conn, ws, changes, progress, stats)
    return stats


def _update_scanned(
    conn: sqlite3.Connection,
    ws: Workspace,
    changes: Changes,
    progress: Callable[[int, int], None] | None,
    stats: IndexStats,
) -> None:
    """Update from a walk of the vault that stats every file."""
    vault = ws.vault_files()
    stats.files = len(vault.notes)
    stamps = _stamps(conn)
    changed = _changed_files(ws.root, vault.notes, stamps, stats)
    removed = set(stamps) - set(vault.notes)
    known = _known_rows(conn, [p for p in [*changed, *removed] if p in stamps])
    with conn:  # one transaction: a crash leaves the old index, never half of a new one
        _remove_notes(conn, known, removed, stats)
        _merge_files(conn, ws, changed, known, progress, stats)
        _sync_attachments(conn, vault.attachments)
        _set_vault_meta(conn, ws, _token_after_walk(vault, changes))


def _token_after_walk(vault: VaultFiles, changes: Changes) -> str | None:
    """The watcher's journal position to store after a walk of `vault`: none when the vault
    has a symlink, since a watcher does not see the file it leads to change."""
    return None if vault.symlinked else changes.token


def _update_watched(
    conn: sqlite3.Connection,
    ws: Workspace,
    changes: Changes,
    progress: Callable[[int, int], None] | None,
    stats: IndexStats,
) -> bool:
    """Update from the file watcher's list of changed paths, stat-ing only those; False
    (having changed nothing) when one of them needs a full walk (a symlink)."""
    notes, attachments, gone = {}, [], []
    for rel in sorted(changes.paths or ()):
        kind = ws.vault_entry(rel)
        if kind == SYMLINK:
            return False
        if kind == ATTACHMENT:
            attachments.append(rel)
        elif kind is None:
            gone.append(rel)
        else:
            notes[rel] = kind
    known = _known_rows(conn, [*notes, *gone])
    stamps = {rel: (row.size, row.mtime_ns, row.role) for rel, row in known.items()}
    changed = _changed_files(ws.root, notes, stamps, stats)
    with conn:  # one transaction, as a full update
        _remove_notes(conn, known, {rel for rel in gone if rel in known}, stats)
        _merge_files(conn, ws, changed, known, progress, stats)
        _patch_attachments(conn, attachments, gone)
        _set_vault_meta(conn, ws, changes.token)
    stats.files = conn.execute("SELECT COUNT(*) FROM main.notes").fetchone()[0]
    stats.unchanged = stats.files - stats.added - stats.updated - stats.touched
    stats.watched = True
    return True


def _sync_attachments(conn: sqlite3.Connection, paths: list[str]) -> None:
    """Make the attachments table list exactly `paths` (the vault's files that are not notes)."""
    known = {path for (path,) in conn.execute("SELECT path FROM main.attachments")}
    listed = set(paths)
    if known != listed:
        _patch_attachments(conn, sorted(listed - known), sorted(known - listed))


def _patch_attachments(conn: sqlite3.Connection, present: list[str], absent: list[str]) -> None:
    """Add the attachments `present` (unless listed already), and remove those `absent`."""
    cursor = conn.cursor()
    cursor.executemany("DELETE FROM main.attachments WHERE path = ?", [(p,) for p in absent])
    cursor.executemany(
        "INSERT OR IGNORE INTO main.attachments VALUES (?, ?, ?)",
        [(p, normalize_key(p.rsplit("/", 1)[-1]), normalize_key(p)) for p in present],
    )


def _open_existing(ws: Workspace, deep: bool) -> sqlite3.Connection | None:
    """A connection to the index database; None when there is none (a damaged one is removed:
    one that is truncated or has no valid header, or with `deep`, any damaged page)."""
    path = db_path(ws)
    if problem := file_problem(path, deep):
        discard(path, problem)
    if not path.exists():
        return None
    conn = connect(ws)
    try:
        _meta(conn, "fingerprint")  # a first read: a damaged file fails here, not later
    except BaseException:
        conn.close()
        raise
    return conn


def _build_new_file(target: Path, load: Callable[[sqlite3.Connection], None]) -> None:
    """Fill a new database file with `load` (in one transaction), then move it into place.

    Used only when there is no index yet, so that no reader can hold the old file open."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f"{DB_NAME}.*.tmp"):  # left by a build that was killed
        stale.unlink(missing_ok=True)
    building = target.with_name(f"{DB_NAME}.{os.getpid()}.tmp")
    try:
        with closing(sqlite3.connect(building)) as conn, open(building, "rb+") as handle:
            # No journal and no syncs while building: until the rename the file is nobody's.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.executescript(TABLES_SQL)
            _attach_batch(conn)
            with conn, flushing_as_written(handle.fileno()):
                load(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            os.fsync(handle.fileno())
        os.replace(building, target)
    finally:
        building.unlink(missing_ok=True)


@contextmanager
def flushing_as_written(fd: int, interval: float = FLUSH_INTERVAL_S) -> Iterator[None]:
    """Write a file's data to disk every `interval` seconds while the block runs, in a thread.

    The fsync that must come before the rename then finds little left to write: else it
    writes the whole file (100 MB for 25,000 notes) while no other work is left to run."""
    stop = threading.Event()
    flusher = threading.Thread(target=_flush_until, args=(fd, interval, stop), daemon=True)
    flusher.start()
    try:
        yield
    finally:
        stop.set()
        flusher.join()


def _flush_until(fd: int, interval: float, stop: threading.Event) -> None:
    try:
        while not stop.wait(interval):
            FDATASYNC(fd)
    except OSError as exc:  # a head start only: the fsync before the rename reports the error
        log.debug("flushing the index while it is built failed: %s", exc)


def _load_all(
    conn: sqlite3.Connection,
    *,
    ws: Workspace,
    changes: Changes,
    fingerprint: str,
    progress: Callable[[int, int], None] | None,
    stats: IndexStats,
) -> None:
    """Fill the empty tables from every file, inside the caller's transaction."""
    vault = ws.vault_files()
    stats.files = len(vault.notes)
    conn.execute(f"PRAGMA cache_size={LOAD_CACHE_KIB}")
    # Built once, the secondary indexes cost far less than kept up row by row.
    for name in INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    _merge_files(conn, ws, vault.notes, {}, progress, stats, build_indexes=True)
    _sync_attachments(conn, vault.attachments)
    _create_indexes(conn)  # when there was no batch to build them after
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
    _set_vault_meta(conn, ws, _token_after_walk(vault, changes))


def _set_vault_meta(conn: sqlite3.Connection, ws: Workspace, token: str | None) -> None:
    """Record where the vault is (for reading the notes' texts when search is first built),
    and the file watcher's journal position, up to which the index is now up to date."""
    for key, value in (("root", str(ws.root)), ("watch", token)):
        if _meta(conn, key) == value:
            continue
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def ensure_search_index(conn: sqlite3.Connection) -> None:
    """Build full-text search over the indexed texts, unless it is built already (one write
    transaction: a concurrent reader or builder sees it built or not at all)."""
    if _search_built(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    with conn:
        if _search_built(conn):  # another process built it while this one waited
            return
        _load_texts(conn)
        _set_fts_merging(conn, FTS_MERGING_LOAD)
        conn.execute("INSERT INTO notes_fts (notes_fts) VALUES ('rebuild')")
        _set_fts_merging(conn, FTS_MERGING_DEFAULT)
        for name, body in SEARCH_TRIGGERS.items():
            conn.execute(f"CREATE TRIGGER {name} {body}")


def _load_texts(conn: sqlite3.Connection) -> None:
    """Fill the texts table from the note files, as they are now: a file changed since it was
    indexed is searched by its new text, and indexed again by the next refresh."""
    cursor = conn.cursor()
    cursor.row_factory = None
    notes = cursor.execute("SELECT id, path, title, description FROM notes").fetchall()
    cursor.execute("DELETE FROM texts")
    root = Path(_meta(conn, "root") or ".")
    for rows in search_text_batches(root, notes):
        cursor.executemany("INSERT INTO texts VALUES (?, ?, ?)", rows)


def _search_built(conn: sqlite3.Connection) -> bool:
    names = ", ".join("?" * len(SEARCH_TRIGGERS))
    sql = f"SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({names})"
    return conn.execute(sql, list(SEARCH_TRIGGERS)).fetchone()[0] == len(SEARCH_TRIGGERS)


def _set_fts_merging(conn: sqlite3.Connection, settings: dict[str, int]) -> None:
    for name, value in settings.items():
        conn.execute("INSERT INTO notes_fts (notes_fts, rank) VALUES (?, ?)", (name, value))


def _attach_batch(conn: sqlite3.Connection) -> None:
    """The schema that each batch from the workers is loaded into (outside any transaction)."""
    conn.execute("ATTACH ':memory:' AS batch")


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _recreate_tables(conn: sqlite3.Connection) -> None:
    """Empty tables of the current shape (an older index version may have had other columns)."""
    for table in [*ROW_TABLES, "meta", "attachments", "notes_fts"]:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in TABLES_SQL.split(";"):  # executescript would commit the transaction
        if statement.strip():
            conn.execute(statement)


class Known(NamedTuple):
    """What the index knows of a file, to tell whether it changed."""

    id: int
    role: str
    size: int
    mtime_ns: int
    sha256: str


def _stamps(conn: sqlite3.Connection) -> dict[str, tuple[int, int, str]]:
    """Every indexed path with its (size, mtime_ns, role), read in one pass."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: this runs on every refresh of a large vault
    rows = cursor.execute("SELECT path, size, mtime_ns, role FROM notes")
    return {path: (size, mtime_ns, role) for path, size, mtime_ns, role in rows}


def _known_rows(conn: sqlite3.Connection, paths: list[str]) -> dict[str, Known]:
    """The index rows of the given paths (the changed and removed ones)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    known = {}
    for i in range(0, len(paths), 500):  # below SQLite's limit on bound parameters
        part = paths[i : i + 500]
        marks = ", ".join("?" * len(part))
        sql = f"SELECT path, id, role, size, mtime_ns, sha256 FROM notes WHERE path IN ({marks})"
        known |= {path: Known(*rest) for path, *rest in cursor.execute(sql, part)}
    return known


def _changed_files(
    root: Path, files: dict[str, str], stamps: dict[str, tuple[int, int, str]], stats: IndexStats
) -> dict[str, str]:
    """Files that are new, or whose size, mtime or role differ from the index."""
    changed = {}
    unchanged = 0
    base = str(root)
    stat, get = os.stat, stamps.get  # local names: this loop runs once per file of the vault
    for rel, role in files.items():
        try:
            st = stat(f"{base}/{rel}")
        except OSError:
            continue
        if get(rel) == (st.st_size, st.st_mtime_ns, role):
            unchanged += 1
        else:
            changed[rel] = role
    stats.unchanged += unchanged
    return changed


def _merge_files(
    conn: sqlite3.Connection,
    ws: Workspace,
    files: dict[str, str],
    known: dict[str, Known],
    progress: Callable[[int, int], None] | None,
    stats: IndexStats,
    build_indexes: bool = False,
) -> None:
    """Analyse files and copy their rows in, each batch as it arrives from the workers, so that
    the writer's SQLite work overlaps their analysis. With build_indexes, the secondary indexes
    are built near the end, while the workers analyse their last batches."""
    items = sorted(files.items())
    first_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM main.notes").fetchone()[0]
    texts = _search_built(conn)
    done = 0
    for batch in analyzed_batches(ws.root, items, ws.schemas_dir, first_id, texts):
        conn.deserialize(batch.data, name="batch")
        _reconcile(conn, known, stats)
        for table in ROW_TABLES:
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM batch.{table}")
        if build_indexes and batch.remaining < INDEX_BUILD_LEAD * worker_count():
            _create_indexes(conn)
            build_indexes = False
        done += batch.files
        if progress:
            progress(done, len(items))


def _reconcile(conn: sqlite3.Connection, known: dict[str, Known], stats: IndexStats) -> None:
    """Count the batch's notes as added or updated (deleting their old rows); a note whose bytes
    did not change only has its old row restamped, and leaves the batch."""
    if not known:
        stats.added += conn.execute("SELECT COUNT(*) FROM batch.notes").fetchone()[0]
        return
    rows = conn.execute("SELECT id, path, role, sha256, size, mtime_ns FROM batch.notes")
    for note_id, path, role, sha256, size, mtime_ns in rows.fetchall():
        old = known.get(path)
        if old is None:
            stats.added += 1
        elif old.sha256 == sha256 and old.role == role:
            conn.execute(
                "UPDATE main.notes SET size = ?, mtime_ns = ? WHERE id = ?",
                (size, mtime_ns, old.id),
            )
            _delete_note(conn, note_id, schema="batch")
            stats.touched += 1
        else:
            _delete_note(conn, old.id)
            stats.updated += 1


def _remove_notes(
    conn: sqlite3.Connection, known: dict[str, Known], removed: set[str], stats: IndexStats
) -> None:
    for rel in removed:
        _delete_note(conn, known[rel].id)
        stats.removed += 1


def _delete_note(conn: sqlite3.Connection, note_id: int, schema: str = "main") -> None:
    """Delete a note's rows from the index, or from the batch being copied in."""
    for table, column in ROW_TABLES.items():
        conn.execute(f"DELETE FROM {schema}.{table} WHERE {column} = ?", (note_id,))


def stored_problems(conn: sqlite3.Connection) -> list[tuple[str, Problem]]:
    """Per-file problems found while indexing (broken YAML, schema), by note path."""
    rows = conn.execute(
        "SELECT n.path, p.code, p.message, p.line FROM problems p JOIN notes n ON n.id = p.note_id"
        " ORDER BY n.path, p.line"
    )
    return [(r["path"], Problem(r["code"], r["message"], r["line"])) for r in rows]
