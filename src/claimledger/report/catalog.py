"""The vault as the report sees it: a page per note with its links resolved and its backlinks,
and each page's evidence runs, read once, up front, from the index and the ledger.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from claimledger.errors import ClaimledgerError
from claimledger.kb import IndexedNote, all_notes
from claimledger.kb.resolve import Resolution, resolve_links
from claimledger.report.pages import NotePage
from claimledger.workspace import Workspace


@dataclass
class Catalog:
    """The vault as the report sees it: a page per note, plus the resolved links."""

    pages: list[NotePage] = field(default_factory=list)
    resolution: Resolution = field(default_factory=Resolution)
    href_of: dict[int, str] = field(default_factory=dict)
    row_of: dict[int, dict[str, Any]] = field(default_factory=dict)


def page_name(path: str) -> str:
    """A safe, stable, unique file name for a note's page: an ASCII slug and a short hash."""
    stem = unicodedata.normalize("NFKD", PurePosixPath(path).stem)
    slug = re.sub(r"[^a-z0-9]+", "-", stem.encode("ascii", "ignore").decode().lower())
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    return f"{slug.strip('-')[:60] or 'note'}-{digest}.html"


def collect(conn: sqlite3.Connection) -> Catalog:
    """Every note with its page name, its links resolved and its backlinks."""
    catalog = Catalog(resolution=resolve_links(conn))
    for note in all_notes(conn):
        href = "notes/" + page_name(note.path)
        catalog.href_of[note.id] = href
        row = dict(zip(IndexedNote._fields, note, strict=True))
        row["href"], row["metadata"] = href, None  # the pages carry the frontmatter
        catalog.row_of[note.id] = row
        catalog.pages.append(NotePage(note.path, href, note.title, note.metadata))
    _attach_links(catalog)
    return catalog


def _attach_links(catalog: Catalog) -> None:
    by_path = {page.path: page for page in catalog.pages}
    page_of = {nid: by_path[row["path"]] for nid, row in catalog.row_of.items()}
    backlinks: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for link, target in catalog.resolution.edges:
        source = page_of[link.source_id]
        name, title = catalog.href_of[target][len("notes/") :], catalog.row_of[target]["title"]
        source.links[(link.key, link.folder)] = (name, title)
        source.outgoing.append((link.kind, link.target, name))
        backlinks[target].append((link.kind, source.title, source.href[len("notes/") :]))
    for link in catalog.resolution.dangling:
        page_of[link.source_id].outgoing.append((link.kind, link.target, None))
    for page in catalog.pages:  # a note that links a target twice lists it once
        page.outgoing = list(dict.fromkeys(page.outgoing))
    for nid, found in backlinks.items():
        page_of[nid].backlinks = sorted(set(found), key=lambda b: (b[1], b[0]))
        catalog.row_of[nid]["backlinks"] = len(page_of[nid].backlinks)


def attach_runs(ws: Workspace, pages: list[NotePage], problems: list[str]) -> None:
    """Each note's provenance.runs with its ledger record (None when the ledger has none)."""
    wanted = {page.path: _run_ids(page.metadata) for page in pages}
    if not any(wanted.values()):
        return
    from claimledger.ledger import iter_records

    try:
        records = {r["id"]: r for r in iter_records(ws, kind="run")}
    except ClaimledgerError as exc:
        problems.append(f"ledger: {exc}")
        records = {}
    for page in pages:
        page.runs = [(rid, records.get(rid)) for rid in wanted[page.path]]


def _run_ids(metadata: dict[str, Any]) -> list[str]:
    provenance = metadata.get("provenance")
    runs = provenance.get("runs") if isinstance(provenance, dict) else None
    return [r for r in runs if isinstance(r, str)] if isinstance(runs, list) else []
