"""Reading the vault through the index: find a note by name, show it with its links and
backlinks, and full-text search (SQLite FTS5, ranked by BM25)."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any, NamedTuple

from claimledger.errors import AmbiguousError, InvalidArgumentError, NotFoundError
from claimledger.kb.index import ensure_search_index
from claimledger.kb.links import key_hash, normalize_key
from claimledger.kb.notes import read_note
from claimledger.kb.resolve import Resolver, link_rows
from claimledger.workspace import Workspace

SUMMARY_FIELDS = "path, type, title, domain, confidence, status, description"
# A search query is words to find, not a document: a longer one is refused. FTS5's time grows
# with the square of the terms that match (4,000 took 53 s), so only the first distinct words
# are searched for, with a note saying what was left out.
MAX_QUERY_BYTES = 4096
MAX_QUERY_TERMS = 32
WORD = re.compile(r"[\w][\w'.-]*")


class IndexedNote(NamedTuple):
    """A note as the index has it: its row id (the id links resolve to), path, summary
    fields and parsed frontmatter."""

    id: int
    path: str
    title: str
    type: str | None
    domain: str | None
    confidence: str | None
    status: str | None
    metadata: dict[str, Any]


class ClaimNote(NamedTuple):
    """A claim as the index has it: path, file stem, description and parsed frontmatter."""

    path: str
    stem: str
    description: str | None
    metadata: dict[str, Any]


def all_notes(conn: sqlite3.Connection) -> list[IndexedNote]:
    """Every note in the index, by path, in one query."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: 25,000 sqlite3.Row objects cost more
    rows = cursor.execute(
        "SELECT id, path, title, type, domain, confidence, status, metadata FROM notes"
        " ORDER BY path"
    )
    loads = json.loads
    return [
        IndexedNote(nid, path, title, kind, domain, confidence, status, loads(meta or "{}"))
        for nid, path, title, kind, domain, confidence, status, meta in rows
    ]


def claim_notes(conn: sqlite3.Connection) -> list[ClaimNote]:
    """The notes that are claims (in the claims folder, of type claim), by path."""
    rows = conn.execute(
        "SELECT path, stem, description, metadata FROM notes"
        " WHERE role = 'claim' AND type = 'claim' ORDER BY path"
    )
    return [ClaimNote(p, stem, text, json.loads(meta or "{}")) for p, stem, text, meta in rows]


def find_note(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
    """The note a title, stem, alias or relative path names; errors say what went wrong."""
    row = conn.execute(f"SELECT id, {SUMMARY_FIELDS} FROM notes WHERE path = ?", (name,)).fetchone()
    if row is not None:
        return row
    key = normalize_key(name.rsplit("/", 1)[-1])
    folder = normalize_key(name) if "/" in name else None
    ids = Resolver(conn, preload=False).candidates(key, folder, by_name=True)
    if not ids:
        raise NotFoundError(f"no note titled {name!r}{_suggestion(conn, name)}")
    if len(ids) > 1:
        paths = [_path(conn, i) for i in ids]
        raise AmbiguousError(f"{name!r} names {len(ids)} notes: {', '.join(paths)}")
    return conn.execute(f"SELECT id, {SUMMARY_FIELDS} FROM notes WHERE id = ?", ids).fetchone()


def _path(conn: sqlite3.Connection, note_id: int) -> str:
    return conn.execute("SELECT path FROM notes WHERE id = ?", (note_id,)).fetchone()[0]


def _suggestion(conn: sqlite3.Connection, name: str) -> str:
    try:
        hits = search_notes(conn, name, limit=3)
    except InvalidArgumentError:  # a name too long to search for has no suggestion
        return ""
    if not hits:
        return ""
    return "; did you mean: " + " | ".join(repr(h["title"]) for h in hits)


def note_summary(row: sqlite3.Row) -> dict[str, Any]:
    return {k: row[k] for k in ("path", "type", "title", "domain", "confidence", "status")}


def show_note(ws: Workspace, conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    """A note with its frontmatter, body, outgoing links (resolved or not) and backlinks."""
    row = find_note(conn, name)
    note = read_note(ws.root / row["path"])
    metadata = conn.execute("SELECT metadata FROM notes WHERE id = ?", (row["id"],)).fetchone()[0]
    return {
        **note_summary(row),
        "description": row["description"],
        "frontmatter": json.loads(metadata),
        "body": note.body,
        "links": outgoing_links(conn, row["id"]),
        "backlinks": backlinks(conn, row["id"]),
        "problems": [
            {"code": code, "message": message, "line": line}
            for code, message, line in conn.execute(
                "SELECT code, message, line FROM problems WHERE note_id = ? ORDER BY line",
                (row["id"],),
            )
        ],
    }


def outgoing_links(conn: sqlite3.Connection, note_id: int) -> list[dict[str, Any]]:
    """Each link written in the note, with the path it resolves to (None when dangling): a
    note, the note itself for [[#Heading]], or an attachment; embeds (![[...]]) are marked."""
    resolver = Resolver(conn, preload=False)
    out = []
    for link in link_rows(conn, "WHERE note_id = ? ORDER BY line", (note_id,)):
        ids, _ = resolver.resolve(link)
        target = _path(conn, ids[0]) if ids else resolver.attachment(link)
        out.append(
            {
                "kind": link.kind,
                "target": link.target,
                "path": target,
                "line": link.line,
                "embed": link.embed,
            }
        )
    return out


def backlinks(conn: sqlite3.Connection, note_id: int) -> list[dict[str, Any]]:
    """Every link elsewhere that resolves to this note, with where it was written."""
    keys = [k for (k,) in conn.execute("SELECT key FROM keys WHERE note_id = ?", (note_id,))]
    marks = ", ".join("?" * len(keys))
    resolver = Resolver(conn, preload=False)
    found = []
    hashes = tuple(key_hash(key) for key in keys)
    for link in link_rows(conn, f"WHERE key_hash IN ({marks})", hashes):
        ids, _ = resolver.resolve(link)
        if ids and ids[0] == note_id:
            found.append(
                {"kind": link.kind, "path": _path(conn, link.source_id), "line": link.line}
            )
    return sorted(found, key=lambda b: (b["path"], b["line"]))


def search_notes(
    conn: sqlite3.Connection,
    query: str,
    limit: int = 20,
    note_type: str | None = None,
    domain: str | None = None,
) -> list[dict[str, Any]]:
    """Full-text search over titles, descriptions and bodies, best match first; for the words
    searched for, see query_terms."""
    match = fts_query(query)
    if not match:
        return []
    ensure_search_index(conn)
    sql = (
        f"SELECT {', '.join('n.' + f.strip() for f in SUMMARY_FIELDS.split(','))},"
        " snippet(notes_fts, 1, '[', ']', ' … ', 12) AS snippet, bm25(notes_fts, 5.0, 1.0) AS rank"
        " FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid WHERE notes_fts MATCH ?"
    )
    params: list[Any] = [match]
    if note_type:
        sql += " AND n.type = ?"
        params.append(note_type)
    if domain:
        sql += " AND n.domain = ?"
        params.append(domain)
    sql += " ORDER BY rank LIMIT ?"
    params.append(limit)
    return [dict(row) | {"rank": round(row["rank"], 3)} for row in conn.execute(sql, params)]


def query_terms(query: str) -> tuple[list[str], int]:
    """The words a search looks for (distinct regardless of case, in order, at most
    MAX_QUERY_TERMS) and how many more distinct words the query had. InvalidArgumentError
    for a query over MAX_QUERY_BYTES."""
    size = len(query.encode("utf-8", "replace"))
    if size > MAX_QUERY_BYTES:
        raise InvalidArgumentError(
            f"the search query is {size} bytes; at most {MAX_QUERY_BYTES} are accepted "
            f"(and its first {MAX_QUERY_TERMS} distinct words are searched for)"
        )
    words = list({w.casefold(): w for w in WORD.findall(query)}.values())  # first-seen order
    return words[:MAX_QUERY_TERMS], max(0, len(words) - MAX_QUERY_TERMS)


def query_note(query: str) -> str | None:
    """What a search leaves out of the query, to tell the user; None when it uses it all."""
    _, dropped = query_terms(query)
    if not dropped:
        return None
    return f"searched for the first {MAX_QUERY_TERMS} distinct words; {dropped} more left out"


def fts_query(query: str) -> str:
    """A safe FTS5 query from free text: each word quoted, all words required."""
    words, _ = query_terms(query)
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)
