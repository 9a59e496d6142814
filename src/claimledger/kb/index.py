"""The SQLite index of the notes under .claimledger/: a cache, rebuildable from the files.

Updates are incremental: a file whose size and mtime are unchanged is skipped; one whose bytes
hash the same is only re-stamped; the rest are re-analysed (in worker processes when many).
Deleting the database loses nothing: the next update rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from filelock import FileLock

from claimledger.kb.analyze import AnalyzedNote, analyze_file
from claimledger.kb.notes import Problem
from claimledger.schemas import schemas_fingerprint
from claimledger.workspace import Workspace, config_to_dict

log = logging.getLogger(__name__)

INDEX_VERSION = 2
DB_NAME = "index.sqlite"
# Below this many files to analyse, worker start-up costs more than it saves.
PARALLEL_THRESHOLD = 400
CHUNK = 200
# A page cache large enough to keep a big vault's index pages in memory (negative: KiB).
CACHE_KIB = -262144

TABLES_SQL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS notes(
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, role TEXT, type TEXT, stem TEXT,
    title TEXT, h1 TEXT, domain TEXT, confidence TEXT, status TEXT, description TEXT,
    norm_path TEXT, metadata TEXT, size INTEGER, mtime_ns INTEGER, sha256 TEXT);
CREATE TABLE IF NOT EXISTS keys(key TEXT NOT NULL, note_id INTEGER NOT NULL, kind TEXT);
CREATE TABLE IF NOT EXISTS links(
    note_id INTEGER NOT NULL, kind TEXT, target TEXT, key TEXT, folder TEXT, line INTEGER);
CREATE TABLE IF NOT EXISTS problems(
    note_id INTEGER NOT NULL, code TEXT, message TEXT, line INTEGER);
CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(
    title, body, tokenize = 'porter unicode61 remove_diacritics 2');
"""
# Secondary indexes, by name (created after the tables, and after the rows on a fresh build).
INDEXES = {
    "keys_key": "keys(key)",
    "keys_note": "keys(note_id)",
    "links_key": "links(key)",
    "links_note": "links(note_id)",
    "problems_note": "problems(note_id)",
}
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
    seconds: float = 0.0


def db_path(ws: Workspace) -> Path:
    return ws.cache_dir / DB_NAME


def connect(ws: Workspace) -> sqlite3.Connection:
    """Open the index database (creating its tables), with rows addressable by name."""
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
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
    """A connection to an up-to-date index (refreshed first unless refresh=False)."""
    if refresh:
        update_index(ws)
    with closing(connect(ws)) as conn:
        yield conn


def _fingerprint(ws: Workspace) -> str:
    config = json.dumps(config_to_dict(ws.config), sort_keys=True, default=str)
    schemas = schemas_fingerprint(ws.schemas_dir, ("claim", "source"))
    return f"{INDEX_VERSION}:{schemas}:{hash_text(config)}"


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def update_index(
    ws: Workspace, progress: Callable[[int, int], None] | None = None, rebuild: bool = False
) -> IndexStats:
    """Bring the index up to date with the note files; returns what changed."""
    start = time.perf_counter()
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ws.cache_dir / "index.lock"), timeout=120):
        stats = _update_locked(ws, progress, rebuild)
    stats.seconds = time.perf_counter() - start
    return stats


def _update_locked(
    ws: Workspace, progress: Callable[[int, int], None] | None, rebuild: bool
) -> IndexStats:
    stats = IndexStats()
    fingerprint = _fingerprint(ws)
    files = ws.note_files()
    stats.files = len(files)
    conn = _open_existing(ws)
    if conn is None:
        stats.rebuilt = True
        _build_new_file(ws, files, fingerprint, progress, stats)
        return stats
    with closing(conn):
        if rebuild or _meta(conn, "fingerprint") != fingerprint:
            stats.rebuilt = True
            with conn:  # in place, in one transaction: readers see the old index or the new
                _clear(conn)
                _load_all(conn, ws, files, fingerprint, progress, stats)
            return stats
        stamps = _stamps(conn)
        changed = _changed_files(ws.root, files, stamps, stats)
        removed = set(stamps) - set(files)
        known = _known_rows(conn, [p for p in [*changed, *removed] if p in stamps])
        with conn:  # one transaction: a crash leaves the old index, never half of a new one
            _remove_notes(conn, known, removed, stats)
            # Insert each batch as the workers deliver it, so that SQLite work overlaps theirs.
            for batch in _analyzed_batches(ws, changed, progress):
                _apply(conn, batch, known, stats)
    return stats


def _open_existing(ws: Workspace) -> sqlite3.Connection | None:
    """A connection to the index database; None when there is none (a damaged one is removed)."""
    if not db_path(ws).exists():
        return None
    conn = None
    try:
        conn = connect(ws)
        _meta(conn, "fingerprint")
        return conn
    except sqlite3.DatabaseError:
        log.warning("index database is damaged; rebuilding it from the files")
    if conn is not None:
        conn.close()
    _remove_db(ws)
    return None


def _build_new_file(
    ws: Workspace,
    files: dict[str, str],
    fingerprint: str,
    progress: Callable[[int, int], None] | None,
    stats: IndexStats,
) -> None:
    """Index every file into a new database file, then move it into place.

    Used only when there is no index yet, so that no reader can hold the old file open."""
    target = db_path(ws)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f"{DB_NAME}.*.tmp"):  # left by a build that was killed
        stale.unlink(missing_ok=True)
    building = target.with_name(f"{DB_NAME}.{os.getpid()}.tmp")
    try:
        with closing(sqlite3.connect(building)) as conn:
            # No journal and no syncs while building: until the rename the file is nobody's.
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA cache_size={CACHE_KIB}")
            conn.executescript(TABLES_SQL)
            with conn:
                _load_all(conn, ws, files, fingerprint, progress, stats)
            conn.execute("PRAGMA journal_mode=WAL")
        with open(building, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(building, target)
    finally:
        building.unlink(missing_ok=True)


def _load_all(
    conn: sqlite3.Connection,
    ws: Workspace,
    files: dict[str, str],
    fingerprint: str,
    progress: Callable[[int, int], None] | None,
    stats: IndexStats,
) -> None:
    """Fill the empty tables from every file, inside the caller's transaction."""
    # Built once at the end, the secondary indexes cost far less than kept up row by row.
    for name in INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for batch in _analyzed_batches(ws, files, progress):
        _insert_notes(conn, batch)
        stats.added += len(batch)
    _create_indexes(conn)
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))


def _remove_db(ws: Workspace) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path(ws)}{suffix}").unlink(missing_ok=True)


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _clear(conn: sqlite3.Connection) -> None:
    for table in ("notes", "keys", "links", "problems", "notes_fts", "meta"):
        conn.execute(f"DELETE FROM {table}")


class Known(NamedTuple):
    """What the index knows of a file, to tell whether it changed."""

    id: int
    role: str
    size: int
    mtime_ns: int
    sha256: str


def _stamps(conn: sqlite3.Connection) -> dict[str, str]:
    """Every indexed path with its "size:mtime_ns:role" stamp, read in one pass."""
    # One string per note, built by SQLite: this runs on every refresh of a 25,000-note vault.
    cursor = conn.cursor()
    cursor.row_factory = None
    return dict(cursor.execute("SELECT path, size || ':' || mtime_ns || ':' || role FROM notes"))


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
    root: Path, files: dict[str, str], stamps: dict[str, str], stats: IndexStats
) -> dict[str, str]:
    """Files that are new, or whose size, mtime or role differ from the index."""
    changed = {}
    base = str(root)
    for rel, role in files.items():
        try:
            st = os.stat(f"{base}/{rel}")
        except OSError:
            continue
        if stamps.get(rel) == f"{st.st_size}:{st.st_mtime_ns}:{role}":
            stats.unchanged += 1
            continue
        changed[rel] = role
    return changed


def _analyzed_batches(
    ws: Workspace, changed: dict[str, str], progress: Callable[[int, int], None] | None
) -> Iterable[list[AnalyzedNote]]:
    """The changed files analysed, in batches of up to CHUNK notes, in a process pool if many."""
    items = sorted(changed.items())
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    if len(items) < PARALLEL_THRESHOLD or _worker_count() < 2:
        batches = (_analyze_chunk(ws.root, chunk, ws.schemas_dir) for chunk in chunks)
        yield from _counted(batches, len(items), progress)
        return
    with ProcessPoolExecutor(max_workers=_worker_count()) as pool:
        jobs = [pool.submit(_analyze_chunk, ws.root, chunk, ws.schemas_dir) for chunk in chunks]
        yield from _counted((job.result() for job in jobs), len(items), progress)


def _counted(
    batches: Iterable[list[AnalyzedNote | None]],
    total: int,
    progress: Callable[[int, int], None] | None,
) -> Iterable[list[AnalyzedNote]]:
    done = 0
    for batch in batches:
        done += len(batch)
        if progress:
            progress(done, total)
        yield [note for note in batch if note is not None]


def _worker_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _analyze_chunk(
    root: Path, chunk: list[tuple[str, str]], schemas_dir: Path
) -> list[AnalyzedNote | None]:
    return [_safe_analyze(root, rel, role, schemas_dir) for rel, role in chunk]


def _safe_analyze(root: Path, rel: str, role: str, schemas_dir: Path) -> AnalyzedNote | None:
    """Analyse a file; one that vanished or cannot be read is skipped with a log line."""
    try:
        return analyze_file(root, rel, role, schemas_dir)
    except OSError as exc:
        log.warning("%s: cannot read: %s", rel, exc.strerror or exc)
        return None


def _remove_notes(
    conn: sqlite3.Connection, known: dict[str, Known], removed: set[str], stats: IndexStats
) -> None:
    for rel in removed:
        _delete_note(conn, known[rel].id)
        stats.removed += 1


def _apply(
    conn: sqlite3.Connection,
    analyzed: list[AnalyzedNote],
    known: dict[str, Known],
    stats: IndexStats,
) -> None:
    fresh = []
    for note in analyzed:
        row = known.get(note.path)
        if row is not None and row.sha256 == note.sha256 and row.role == note.role:
            conn.execute(
                "UPDATE notes SET size = ?, mtime_ns = ? WHERE id = ?",
                (note.size, note.mtime_ns, row.id),
            )
            stats.touched += 1
            continue
        if row is not None:
            _delete_note(conn, row.id)
            stats.updated += 1
        else:
            stats.added += 1
        fresh.append(note)
    _insert_notes(conn, fresh)


def _delete_note(conn: sqlite3.Connection, note_id: int) -> None:
    for table in ("keys", "links", "problems"):
        conn.execute(f"DELETE FROM {table} WHERE note_id = ?", (note_id,))
    conn.execute("DELETE FROM notes_fts WHERE rowid = ?", (note_id,))
    conn.execute("DELETE FROM notes WHERE id = ?", (note_id,))


def _insert_notes(conn: sqlite3.Connection, notes: list[AnalyzedNote]) -> None:
    """Insert many notes with one statement per table (ids assigned here, not by SQLite)."""
    first = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM notes").fetchone()[0]
    numbered = list(enumerate(notes, start=first))
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
        "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?)",
        [(i, *row) for i, n in numbered for row in n.link_rows],
    )
    conn.executemany(
        "INSERT INTO problems VALUES (?, ?, ?, ?)",
        [(i, p.code, p.message, p.line) for i, n in numbered for p in n.problems],
    )
    conn.executemany(
        "INSERT INTO notes_fts (rowid, title, body) VALUES (?, ?, ?)",
        [(i, n.fields["title"], n.search_text) for i, n in numbered],
    )


def stored_problems(conn: sqlite3.Connection) -> list[tuple[str, Problem]]:
    """Per-file problems found while indexing (broken YAML, schema), by note path."""
    rows = conn.execute(
        "SELECT n.path, p.code, p.message, p.line FROM problems p JOIN notes n ON n.id = p.note_id"
        " ORDER BY n.path, p.line"
    )
    return [(r["path"], Problem(r["code"], r["message"], r["line"])) for r in rows]
