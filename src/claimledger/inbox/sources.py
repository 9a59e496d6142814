"""Source notes in the inbox: writing a new one, listing them, reading their lifecycle state.

A source is `<inbox>/<YYYY-MM-DD>-<slug>.md` with `type: source` frontmatter. Adding the same
title and body twice returns the first file; a different source whose name collides gets
`-2`, `-3` ... Sources are never deleted; their lifecycle fields are edited in place.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimledger.errors import SourceError
from claimledger.kb.notes import json_safe, parse_text, read_note, render_note, write_text_atomic
from claimledger.schemas import check, validation_errors
from claimledger.workspace import Workspace, any_glob

MAX_SLUG_CHARS = 60
STATUSES = ("unprocessed", "processing", "processed", "null-result")
# Fields add_source sets itself; `fields` cannot move them.
OWN_FIELDS = ("type", "title", "date")
# Frontmatter order of a new source: these first (when given), the rest after.
LEADING_FIELDS = ("author", "url")
MIDDLE_FIELDS = ("domain", "format")


@dataclass(frozen=True)
class SourceInfo:
    """A source's place in the lifecycle, as `inbox list` shows it."""

    path: str  # relative to the workspace root
    title: str
    status: str
    date: str | None
    format: str | None
    domain: str | None
    attempts: int
    claims_extracted: list[str]
    enrichments: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def slugify(title: str) -> str:
    """A safe, lowercase ASCII file-name slug of a title ("source" when nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:MAX_SLUG_CHARS].rstrip("-")
    return slug or "source"


def _stored_body(body: str) -> str:
    """The body as written after the frontmatter: one blank line before, a final newline."""
    text = body if body.startswith("\n") else "\n" + body
    return text if text.endswith("\n") else text + "\n"


def _frontmatter(title: str, date: dt.date, fields: Mapping[str, Any]) -> dict[str, Any]:
    extra = {k: v for k, v in fields.items() if k not in OWN_FIELDS and v is not None}
    meta: dict[str, Any] = {"type": "source", "title": title}
    meta.update({k: extra.pop(k) for k in LEADING_FIELDS if k in extra})
    meta["date"] = date
    meta.update({k: extra.pop(k) for k in MIDDLE_FIELDS if k in extra})
    meta["status"] = extra.pop("status", "unprocessed")
    meta.update(extra)
    return meta


def _same_source(path: Path, title: str, body: str) -> bool:
    note = read_note(path)
    return note.metadata.get("title") == title and note.body == body


def add_source(
    ws: Workspace,
    *,
    title: str,
    body: str,
    fields: Mapping[str, Any] | None = None,
    slug: str | None = None,
    date: dt.date | None = None,
    schema: str | None = None,
) -> Path:
    """Write a source note into the inbox atomically; the same title + body again is a no-op.

    `schema` names a stricter schema the whole frontmatter must also meet (e.g. "run-report");
    nothing is written when it does not (SchemaError names the field)."""
    date = date or dt.date.today()
    meta = _frontmatter(title, date, fields or {})
    errors = validation_errors(ws.schemas_dir, "source", json_safe(meta))
    if errors:
        detail = "; ".join(f"{where}: {message}" for where, message in errors)
        raise SourceError(f"invalid source: {detail}", title[:80])
    if schema is not None:
        check(ws.schemas_dir, schema, json_safe(meta), title[:80])
    stored = _stored_body(body)
    text = render_note(meta, stored)
    stem = f"{date.isoformat()}-{slugify(slug or title)}"
    for number in range(1, 10_000):
        path = ws.inbox_dir / (f"{stem}.md" if number == 1 else f"{stem}-{number}.md")
        if path.exists():
            if _same_source(path, title, stored):
                return path
            continue
        try:
            write_text_atomic(path, text, exclusive=True)
        except FileExistsError:  # another writer took the name between our check and link
            if _same_source(path, title, stored):
                return path
            continue
        return path
    raise SourceError("too many sources share this name", ws.inbox_dir / stem)


def wrap_text(
    text: str, title: str | None, file_name: str | None, options: Mapping[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    """(title, body, fields) for raw text: its own frontmatter (if any) under the options
    given, the title from the options, the frontmatter, the first # heading or the file name."""
    note = parse_text(text)
    fields = {k: v for k, v in note.metadata.items() if k not in ("type", "status")}
    fields.update({k: v for k, v in options.items() if v is not None})
    heading = re.search(r"^# +(.+?)\s*$", note.body, re.M)
    title = (
        title
        or fields.pop("title", None)
        or (heading.group(1) if heading else None)
        or (Path(file_name).stem if file_name else None)
    )
    if not title:
        raise SourceError("no title: pass --title (the text has no # heading)")
    fields.pop("title", None)
    return str(title), note.body, fields


def source_info(ws: Workspace, path: Path) -> SourceInfo:
    """The lifecycle state of one source note."""
    meta = read_note(path).metadata
    date = meta.get("date")
    return SourceInfo(
        path=ws.relative(path),
        title=str(meta.get("title") or path.stem),
        status=str(meta.get("status") or "unprocessed"),
        date=str(date) if date is not None else None,
        format=meta.get("format"),
        domain=meta.get("domain"),
        attempts=int(meta.get("attempts") or 0),
        claims_extracted=list(meta.get("claims_extracted") or []),
        enrichments=list(meta.get("enrichments") or []),
    )


def source_paths(ws: Workspace, outside: dict[str, str] | None = None) -> list[Path]:
    """Every source note file of the workspace (by the layout's source globs), sorted.

    A symlink to a file outside the workspace (`/etc/passwd`, a file of another vault) is never
    listed (see Workspace.refused_links): reading it would copy that file into the vault. With
    `outside`, such links among the sources are named there with the reason."""
    if outside is not None:
        sources = any_glob(ws.config.layout.sources)
        for rel in ws.refused_links():
            if sources and sources.match(rel):
                outside[rel] = "a symlink to a file outside the workspace: not read"
    return [ws.root / rel for rel in ws.source_files() if rel.endswith(".md")]


def list_sources(ws: Workspace, status: str | None = None) -> list[SourceInfo]:
    """Sources with their lifecycle state, optionally only those in one status."""
    if status is not None and status not in STATUSES:
        raise SourceError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    infos = []
    for path in source_paths(ws):
        info = source_info(ws, path)
        if status is None or info.status == status:
            infos.append(info)
    return infos
