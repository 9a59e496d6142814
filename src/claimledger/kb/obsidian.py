"""Obsidian-readability of the vault: a lint check for what Obsidian's properties and files
cannot take, so that kb/ stays a clean vault for humans.

- file names that Obsidian (or a synced Windows/macOS copy) refuses or cannot link to;
- list properties written as a single string (Obsidian shows them as text, not a list);
- date properties that are not YYYY-MM-DD (Obsidian's date type);
- tags with spaces (not tags in Obsidian);
- a property whose type differs from the one it has in most notes (Obsidian keeps one
  type per property name for the whole vault and flags the others).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any

from claimledger.kb.lint import Finding
from claimledger.kb.resolve import Resolution
from claimledger.kb.titles import title_problem
from claimledger.workspace import Workspace

LIST_PROPERTIES = frozenset(
    {
        "aliases",
        "tags",
        "cssclasses",
        "depends_on",
        "challenged_by",
        "secondary_domains",
        "branches",
        "claims_extracted",
        "enrichments",
    }
)
DATE_PROPERTIES = frozenset({"created", "last_evaluated", "date", "processed_date"})
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[\d:.+-]+Z?)?$")
# Nested mappings (provenance, effect, review) are kept by Obsidian as they are; only
# top-level scalars and lists are typed properties.
CODE = "obsidian"


def property_kind(value: Any) -> str:
    """The Obsidian property type a YAML value reads as."""
    if isinstance(value, bool):
        return "checkbox"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str) and ISO_DATE.match(value):
        return "date"
    return "text"


def value_problems(name: str, value: Any) -> Iterator[str]:
    """Why one property would not read well in Obsidian."""
    if value is None:
        return
    if name in LIST_PROPERTIES and not isinstance(value, list):
        yield f"property {name!r} should be a list (one item per line), not {property_kind(value)}"
    if name in DATE_PROPERTIES and not (isinstance(value, str) and ISO_DATE.match(value)):
        yield f"property {name!r} should be a date YYYY-MM-DD, not {value!r}"
    if name == "tags" and isinstance(value, list):
        bad = [t for t in value if not isinstance(t, str) or not t or " " in t]
        if bad:
            yield f"tags cannot contain spaces or be empty: {bad!r}"


def obsidian_check(ws: Workspace, conn: sqlite3.Connection, _: Resolution) -> Iterable[Finding]:
    """Findings (code `obsidian`) for file names and properties Obsidian cannot read well."""
    rows = conn.execute("SELECT path, metadata FROM notes").fetchall()
    metas = {path: json.loads(metadata or "{}") for path, metadata in rows}
    for path in metas:
        problem = title_problem(PurePosixPath(path).stem)
        if problem:
            yield Finding(path, 0, CODE, f"file name: {problem}")
    for path, meta in metas.items():
        for name, value in meta.items():
            for message in value_problems(name, value):
                yield Finding(path, 0, CODE, message)
    yield from _type_conflicts(metas)


def _type_conflicts(metas: dict[str, dict[str, Any]]) -> Iterator[Finding]:
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for meta in metas.values():
        for name, value in meta.items():
            if value is not None:
                kinds[name][property_kind(value)] += 1
    for path, meta in metas.items():
        for name, value in meta.items():
            if value is None or len(kinds[name]) < 2:
                continue
            usual, _ = kinds[name].most_common(1)[0]
            kind = property_kind(value)
            if kind != usual and name not in LIST_PROPERTIES | DATE_PROPERTIES:
                message = f"property {name!r} is {kind} here but {usual} in most notes"
                yield Finding(path, 0, CODE, message)
