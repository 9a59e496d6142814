"""Link resolution over the index, by Obsidian's rules: which file each link points at, and
which links point nowhere.

A link names a file, never an alias, a frontmatter title or an H1 (Obsidian resolves by none
of them). In order:

- `[[#Heading]]` and `[[#^block]]` (no target) are the linking note itself;
- `[[./T]]`, `[[../dir/T]]` are paths relative to the linking note's folder, `[[/dir/T]]` a
  path from the vault's root: only that file;
- `[[dir/T]]` is first the file at that path from the root, else any file whose path ends with
  it; `[[T]]` any file named T: a note `T.md`, or, for a name with its extension
  (`[[pic.png]]`, `[[T.md]]`), the file of that name;
- among several, the note in the linking note's own folder wins, else the one with the most
  folders in common with it, then the shortest path, as in Obsidian; a tie in nearness is
  reported as an ambiguity;
- a link that names no note but an attachment (an image, a PDF, a canvas) resolves to it.

Notes are matched before attachments; names and paths compare case-insensitively.
`candidates(..., by_name=True)` also matches aliases, frontmatter titles and H1s: that is for
a person naming a note (`show TITLE`), not for links.
"""

from __future__ import annotations

import posixpath
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field

from claimledger.kb.analyze import KEY_RANK
from claimledger.kb.links import normalize_key


@dataclass(frozen=True)
class LinkRow:
    """A link as stored in the index, with the note it was written in."""

    source_id: int
    kind: str
    target: str
    key: str
    folder: str | None
    line: int
    embed: bool = False


@dataclass
class Resolution:
    """Every link of the vault, resolved. Same-note links and links to attachments resolve
    but make no edge between notes."""

    edges: list[tuple[LinkRow, int]] = field(default_factory=list)  # (link, target note id)
    dangling: list[LinkRow] = field(default_factory=list)
    ambiguous: list[tuple[LinkRow, list[int]]] = field(default_factory=list)
    same_note: list[LinkRow] = field(default_factory=list)
    attachments: list[tuple[LinkRow, str]] = field(default_factory=list)  # (link, file path)


class Resolver:
    """Maps links to note ids (or attachment paths) using the index's tables.

    With preload=True the tables are read once (for resolving every link); without, each
    lookup is a small query (for one note's links and backlinks)."""

    def __init__(self, conn: sqlite3.Connection, preload: bool = True) -> None:
        self.conn = conn
        self.preloaded = preload
        self.by_stem: dict[str, list[int]] = defaultdict(list)
        self.by_path: dict[str, int] = {}
        self.paths: dict[int, str] = {}
        self.files_by_name: dict[str, list[str]] = defaultdict(list)
        self.files_by_path: dict[str, str] = {}
        if preload:
            cursor = conn.cursor()
            cursor.row_factory = None
            for key, note_id in cursor.execute("SELECT key, note_id FROM keys WHERE kind='stem'"):
                self.by_stem[key].append(note_id)
            self.paths = dict(cursor.execute("SELECT id, norm_path FROM notes").fetchall())
            self.by_path = {path: note_id for note_id, path in self.paths.items()}
            for path, name, norm in cursor.execute("SELECT path, name, norm_path FROM attachments"):
                self.files_by_name[name].append(norm)
                self.files_by_path[norm] = path

    # Lookups: from the preloaded tables, or one query each.

    def _stem_ids(self, key: str) -> list[int]:
        if self.preloaded:
            return self.by_stem.get(key, [])
        return [i for i, _ in self._key_rows(key, "AND k.kind = 'stem'")]

    def _key_rows(self, key: str, where: str = "") -> list[tuple[int, str]]:
        rows = self.conn.execute(
            "SELECT k.note_id, n.norm_path, k.kind FROM keys k JOIN notes n ON n.id = k.note_id"
            f" WHERE k.key = ? {where}",
            (key,),
        ).fetchall()
        self.paths.update({note_id: path for note_id, path, _ in rows})
        return [(note_id, kind) for note_id, _, kind in rows]

    def _note_at(self, norm_path: str) -> int | None:
        if self.preloaded:
            return self.by_path.get(norm_path)
        row = self.conn.execute("SELECT id FROM notes WHERE norm_path = ?", (norm_path,)).fetchone()
        if row is None:
            return None
        self.paths[row[0]] = norm_path
        return row[0]

    def _files_named(self, name: str) -> list[str]:
        if self.preloaded:
            return self.files_by_name.get(name, [])
        rows = self.conn.execute("SELECT path, norm_path FROM attachments WHERE name = ?", (name,))
        found = []
        for path, norm in rows:
            self.files_by_path[norm] = path
            found.append(norm)
        return found

    def _file_at(self, norm_path: str) -> str | None:
        if self.preloaded or norm_path in self.files_by_path:
            return self.files_by_path.get(norm_path)
        row = self.conn.execute(
            "SELECT path FROM attachments WHERE norm_path = ?", (norm_path,)
        ).fetchone()
        return row[0] if row else None

    # Resolution.

    def candidates(
        self, key: str, folder: str | None = None, near: str | None = None, by_name: bool = False
    ) -> list[int]:
        """The notes a target could mean, best first: (for a link written in note `near`) the
        closest folder, then the shortest path. A `folder` path is matched at the root first,
        then as the end of a path. With by_name, aliases, titles and H1s match too (stems
        first), for a person naming a note; links match file names only."""
        if folder:
            exact = self._note_at(folder.lstrip("/"))
            if exact is not None:
                return [exact]
            if folder.startswith(("/", "./", "../")):
                return []
        if by_name:
            rows = self._key_rows(key)
            if rows:
                best = min(KEY_RANK.get(kind, 9) for _, kind in rows)
                ids = list({i for i, kind in rows if KEY_RANK.get(kind, 9) == best})
            else:
                ids = []
        else:
            ids = list(dict.fromkeys(self._stem_ids(key)))
        if folder:
            ids = [i for i in ids if _path_ends_with(self.path_of(i) or "", folder)]
        return sorted(ids, key=lambda i: _distance(self.path_of(i) or "", near))

    def resolve(self, link: LinkRow) -> tuple[list[int], bool]:
        """Candidate notes for a link and whether the choice among them is a real ambiguity
        (two equally close candidates). A same-note link gives the linking note."""
        if not link.target:
            return [link.source_id], False
        near = self.path_of(link.source_id)
        ids = self.candidates(link.key, _absolute(link.folder, near), near)
        ambiguous = (
            len(ids) > 1
            and _distance(self.path_of(ids[0]) or "", near)[:2]
            == _distance(self.path_of(ids[1]) or "", near)[:2]
        )
        return ids, ambiguous

    def attachment(self, link: LinkRow) -> str | None:
        """The path of the attachment a link names (when it names no note), or None."""
        if not link.target:
            return None
        near = self.path_of(link.source_id)
        folder = _absolute(link.folder, near)
        name = normalize_key(link.target.rsplit("/", 1)[-1].strip())
        if folder:
            # A folder path keeps an attachment's extension (normalize_key drops only .md).
            exact = self._file_at(folder.lstrip("/"))
            if exact is not None or folder.startswith(("/", "./", "../")):
                return exact
        found = self._files_named(name)
        if folder:
            found = [p for p in found if _path_ends_with(p, folder)]
        if not found:
            return None
        return self.files_by_path.get(min(found, key=lambda p: _distance(p, near)))

    def path_of(self, note_id: int) -> str | None:
        if note_id not in self.paths:
            row = self.conn.execute("SELECT norm_path FROM notes WHERE id = ?", (note_id,))
            found = row.fetchone()
            self.paths[note_id] = found[0] if found else ""
        return self.paths[note_id]


def _absolute(folder: str | None, near: str | None) -> str | None:
    """A relative link path (./T, ../dir/T) made a path from the vault's root ("/" first, so
    that it matches only there); other paths unchanged. A path that climbs out of the vault
    stays relative, and matches nothing."""
    if not folder or not folder.startswith(("./", "../")):
        return folder
    base = posixpath.dirname(near or "")
    joined = posixpath.normpath(posixpath.join(base, folder))
    return joined if joined.startswith("..") else "/" + joined


def _distance(path: str, near: str | None) -> tuple[bool, int, int, str]:
    """How far a candidate is from the linking note: in another folder than it (False first),
    then fewer folders in common, then a longer path."""
    shared = 0
    if near is None:
        return (True, 0, len(path), path)
    folders, near_folders = path.split("/")[:-1], near.split("/")[:-1]
    for mine, theirs in zip(folders, near_folders, strict=False):
        if mine != theirs:
            break
        shared += 1
    return (folders != near_folders, -shared, len(path), path)


def _path_ends_with(norm_path: str, folder: str) -> bool:
    return norm_path == folder or norm_path.endswith("/" + folder)


def link_rows(conn: sqlite3.Connection, where: str = "", params: tuple = ()) -> list[LinkRow]:
    """Links from the index, optionally filtered by an SQL condition on `links`."""
    sql = (
        "SELECT note_id, kind, target, COALESCE(NULLIF(key, ''), target), NULLIF(folder, ''),"
        " line, embed FROM links"
    )
    return [LinkRow(*row[:6], bool(row[6])) for row in conn.execute(f"{sql} {where}", params)]


def resolve_links(conn: sqlite3.Connection, resolver: Resolver | None = None) -> Resolution:
    """Resolve every link in the index."""
    resolver = resolver or Resolver(conn)
    resolution = Resolution()
    for link in link_rows(conn):
        if not link.target:
            resolution.same_note.append(link)
            continue
        candidates, ambiguous = resolver.resolve(link)
        if not candidates:
            attachment = resolver.attachment(link)
            if attachment is None:
                resolution.dangling.append(link)
            else:
                resolution.attachments.append((link, attachment))
            continue
        if ambiguous:
            resolution.ambiguous.append((link, candidates))
        resolution.edges.append((link, candidates[0]))
    return resolution
