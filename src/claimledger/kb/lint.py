"""Lint: every problem in the vault, each naming its file, line and kind.

Per-file problems (broken YAML, schema violations, missing fields) come from the index, where
they were found while analysing the file; symlinks that lead out of the workspace, which the
index never reads, from a walk of the note folders; vault-wide ones (dangling or ambiguous links,
duplicate titles, title/file-name mismatches, depends_on cycles, unknown domains) are computed
here from the index.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from claimledger.kb.graph import build_graph, depends_on_cycles
from claimledger.kb.index import stored_problems
from claimledger.kb.resolve import Resolution, Resolver, resolve_links
from claimledger.workspace import Workspace

WARNINGS = frozenset({"title-mismatch", "ambiguous-link", "obsidian"})


@dataclass(frozen=True, order=True)
class Finding:
    """One lint finding, sortable by file and line."""

    path: str
    line: int
    code: str
    message: str

    @property
    def severity(self) -> str:
        return "warning" if self.code in WARNINGS else "error"

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {"severity": self.severity}


# A check takes the workspace, the index connection and the resolved links.
Check = Callable[[Workspace, sqlite3.Connection, Resolution], Iterable[Finding]]


def lint(
    ws: Workspace, conn: sqlite3.Connection, extra_checks: Iterable[Check] = ()
) -> list[Finding]:
    """All findings for the indexed vault, sorted by path and line."""
    resolution = resolve_links(conn, Resolver(conn))
    checks: list[Check] = [
        _file_problems,
        _refused_links,
        _link_problems,
        _duplicate_titles,
        _title_mismatches,
        _unknown_domains,
        _dependency_cycles,
        *extra_checks,
    ]
    findings = {f for check in checks for f in check(ws, conn, resolution)}
    return sorted(findings)


def _file_problems(ws: Workspace, conn: sqlite3.Connection, _: Resolution) -> Iterable[Finding]:
    for path, problem in stored_problems(conn):
        yield Finding(path, problem.line, problem.code, problem.message)


def _refused_links(ws: Workspace, conn: sqlite3.Connection, _: Resolution) -> Iterable[Finding]:
    for rel in ws.refused_links():
        try:
            target = os.readlink(ws.root / rel)
        except OSError:  # replaced since the walk
            continue
        message = f"symlink to {target} leads out of the workspace or into a hidden folder"
        yield Finding(rel, 0, "symlink-outside", message)


def _paths(conn: sqlite3.Connection) -> dict[int, str]:
    return dict(conn.execute("SELECT id, path FROM notes").fetchall())


def _link_problems(
    ws: Workspace, conn: sqlite3.Connection, resolution: Resolution
) -> Iterable[Finding]:
    paths = _paths(conn)
    other_names = _other_names(conn, {link.key for link in resolution.dangling})
    for link in resolution.dangling:
        where = "" if link.kind == "link" else f" (in {link.kind})"
        message = f"dangling link [[{link.target}]]{where}: no note or file has that name"
        if link.key in other_names:
            kind, path = other_names[link.key]
            message += f" (it is the {kind} of {path}; links name files, as in Obsidian)"
        yield Finding(paths[link.source_id], link.line, "dangling-link", message)
    for link, ids in resolution.ambiguous:
        names = ", ".join(paths[i] for i in ids)
        message = f"ambiguous link [[{link.target}]] matches {names}; using {paths[ids[0]]}"
        yield Finding(paths[link.source_id], link.line, "ambiguous-link", message)


KIND_NAMES = {"alias": "alias", "title": "frontmatter title", "h1": "H1"}


def _other_names(conn: sqlite3.Connection, keys: set[str]) -> dict[str, tuple[str, str]]:
    """For the keys of dangling links, a note that has one as an alias, title or H1."""
    found: dict[str, tuple[str, str]] = {}
    rows = conn.execute(
        "SELECT k.key, k.kind, n.path FROM keys k JOIN notes n ON n.id = k.note_id"
        " WHERE k.kind != 'stem' ORDER BY n.path"
    )
    for key, kind, path in rows:
        if key in keys and kind in KIND_NAMES:
            found.setdefault(key, (KIND_NAMES[kind], path))
    return found


def _duplicate_titles(ws: Workspace, conn: sqlite3.Connection, _: Resolution) -> Iterable[Finding]:
    """Two claims with one title (up to case). Other notes may share a name across folders,
    as Obsidian allows: a link that is really ambiguous is reported as such."""
    claim_keys = (
        "SELECT k.key, k.note_id FROM keys k JOIN notes n ON n.id = k.note_id"
        " WHERE k.kind IN ('stem', 'title') AND n.type = 'claim'"
    )
    rows = conn.execute(
        f"SELECT c.key, n.path FROM ({claim_keys}) c JOIN notes n ON n.id = c.note_id"
        f" WHERE c.key IN (SELECT key FROM ({claim_keys}) GROUP BY key"
        " HAVING COUNT(DISTINCT note_id) > 1)"
    )
    by_key: dict[str, list[str]] = defaultdict(list)
    for key, path in rows:
        by_key[key].append(path)
    for key, paths in by_key.items():
        for path in sorted(paths):
            others = ", ".join(p for p in sorted(paths) if p != path)
            yield Finding(path, 0, "duplicate-title", f"title {key!r} is also used by {others}")


def loose_title(text: str) -> str:
    """A title with case, punctuation and hyphen-vs-space differences removed."""
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def _title_mismatches(ws: Workspace, conn: sqlite3.Connection, _: Resolution) -> Iterable[Finding]:
    rows = conn.execute("SELECT path, stem, title, h1 FROM notes WHERE type = 'claim'")
    for path, stem, title, h1 in rows:
        for label, value in (("frontmatter title", title), ("H1", h1)):
            if value and loose_title(value) != loose_title(stem):
                message = f"{label} {value!r} differs from the file name {stem!r}"
                yield Finding(path, 0, "title-mismatch", message)


def _unknown_domains(ws: Workspace, conn: sqlite3.Connection, _: Resolution) -> Iterable[Finding]:
    allowed = set(ws.config.domains)
    if not allowed:
        return
    rows = conn.execute(
        "SELECT path, domain FROM notes WHERE type = 'claim' AND domain IS NOT NULL"
    )
    for path, domain in rows:
        if domain not in allowed:
            message = f"domain {domain!r} is not one of the configured domains (claimledger.toml)"
            yield Finding(path, 0, "unknown-domain", message)


def _dependency_cycles(
    ws: Workspace, conn: sqlite3.Connection, resolution: Resolution
) -> Iterable[Finding]:
    graph = build_graph(conn, resolution)
    for cycle in depends_on_cycles(graph):
        chain = " -> ".join([*cycle, cycle[0]])
        yield Finding(cycle[0], 0, "depends-cycle", f"circular depends_on: {chain}")


def provenance_check(known_runs: set[str] | None, known_branches: set[str] | None) -> Check:
    """A check that claims cite only ledger runs and branches that exist.

    `None` for the ledger's sets skips that part (a workspace with no ledger records yet).
    Source paths in provenance are links, so a missing one is already a dangling link.
    """

    def check(ws: Workspace, conn: sqlite3.Connection, _: Resolution) -> Iterable[Finding]:
        rows = conn.execute("SELECT path, metadata FROM notes WHERE type = 'claim'")
        for path, metadata in rows:
            yield from _provenance_findings(path, json.loads(metadata or "{}"))

    def _provenance_findings(path: str, meta: dict) -> Iterable[Finding]:
        provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
        for run in _strings(provenance.get("runs")):
            if known_runs is not None and run not in known_runs:
                yield Finding(path, 0, "unknown-run", f"provenance run {run} is not in the ledger")
        for branch in _strings(meta.get("branches")):
            if known_branches is not None and branch not in known_branches:
                message = f"branch {branch!r} has no run or adoption in the ledger"
                yield Finding(path, 0, "unknown-branch", message)

    return check


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
