"""Link resolution over the index: which note each [[link]] points at, and which point nowhere.

A target matches a note's file stem, aliases, frontmatter title or H1, case-insensitively;
a stem match beats an alias, which beats a title, which beats an H1. `[[folder/T]]` must also
match the end of the note's path. Two notes answering at the same strength is an ambiguity:
the note nearest the linking note wins, then the shorter path, as in Obsidian;
only a tie in nearness is reported as an ambiguity.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field

from claimledger.kb.analyze import KEY_RANK


@dataclass(frozen=True)
class LinkRow:
    """A link as stored in the index, with the note it was written in."""

    source_id: int
    kind: str
    target: str
    key: str
    folder: str | None
    line: int


@dataclass
class Resolution:
    """Every link of the vault, resolved."""

    edges: list[tuple[LinkRow, int]] = field(default_factory=list)  # (link, target note id)
    dangling: list[LinkRow] = field(default_factory=list)
    ambiguous: list[tuple[LinkRow, list[int]]] = field(default_factory=list)


class Resolver:
    """Maps link targets to note ids using the index's key table.

    With preload=True the whole key table is read once (for resolving every link); without,
    each lookup is a small query (for one note's links and backlinks)."""

    def __init__(self, conn: sqlite3.Connection, preload: bool = True) -> None:
        self.conn = conn
        self.by_key: dict[str, list[tuple[int, int]]] | None = None
        self.paths: dict[int, str] = {}
        if preload:
            self.by_key = defaultdict(list)
            for key, note_id, kind in conn.execute("SELECT key, note_id, kind FROM keys"):
                self.by_key[key].append((KEY_RANK.get(kind, 9), note_id))
            self.paths = dict(conn.execute("SELECT id, norm_path FROM notes").fetchall())

    def _lookup(self, key: str) -> list[tuple[int, int]]:
        if self.by_key is not None:
            return self.by_key.get(key, [])
        rows = self.conn.execute(
            "SELECT k.kind, k.note_id, n.norm_path FROM keys k JOIN notes n ON n.id = k.note_id"
            " WHERE k.key = ?",
            (key,),
        ).fetchall()
        self.paths.update({note_id: path for _, note_id, path in rows})
        return [(KEY_RANK.get(kind, 9), note_id) for kind, note_id, _ in rows]

    def candidates(self, key: str, folder: str | None = None, near: str | None = None) -> list[int]:
        """The notes a target could mean, best first: strongest key kind, then (for a link
        written in note `near`) the closest folder, then the shortest path."""
        matches = self._lookup(key)
        if folder:
            matches = [m for m in matches if _path_ends_with(self.paths.get(m[1], ""), folder)]
        if not matches:
            return []
        best = min(rank for rank, _ in matches)
        ids = {note_id for rank, note_id in matches if rank == best}
        return sorted(ids, key=lambda i: self._distance(self.paths.get(i, ""), near))

    @staticmethod
    def _distance(path: str, near: str | None) -> tuple[int, int, str]:
        shared = 0
        if near:
            for mine, theirs in zip(path.split("/")[:-1], near.split("/")[:-1], strict=False):
                if mine != theirs:
                    break
                shared += 1
        return (-shared, len(path), path)

    def resolve(self, link: LinkRow) -> tuple[list[int], bool]:
        """Candidates for a link and whether the choice among them is a real ambiguity
        (two equally close candidates)."""
        near = self.path_of(link.source_id)
        ids = self.candidates(link.key, link.folder, near)
        ambiguous = (
            len(ids) > 1
            and self._distance(self.paths[ids[0]], near)[0]
            == self._distance(self.paths[ids[1]], near)[0]
        )
        return ids, ambiguous

    def path_of(self, note_id: int) -> str | None:
        if note_id not in self.paths:
            row = self.conn.execute("SELECT norm_path FROM notes WHERE id = ?", (note_id,))
            found = row.fetchone()
            self.paths[note_id] = found[0] if found else ""
        return self.paths[note_id]


def _path_ends_with(norm_path: str, folder: str) -> bool:
    return norm_path == folder or norm_path.endswith("/" + folder)


def link_rows(conn: sqlite3.Connection, where: str = "", params: tuple = ()) -> list[LinkRow]:
    """Links from the index, optionally filtered by an SQL condition on `links`."""
    sql = "SELECT note_id, kind, target, key, folder, line FROM links"
    return [LinkRow(*row) for row in conn.execute(f"{sql} {where}", params)]


def resolve_links(conn: sqlite3.Connection, resolver: Resolver | None = None) -> Resolution:
    """Resolve every link in the index."""
    resolver = resolver or Resolver(conn)
    resolution = Resolution()
    for link in link_rows(conn):
        candidates, ambiguous = resolver.resolve(link)
        if not candidates:
            resolution.dangling.append(link)
            continue
        if ambiguous:
            resolution.ambiguous.append((link, candidates))
        resolution.edges.append((link, candidates[0]))
    return resolution
