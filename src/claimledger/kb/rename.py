"""Renaming a note and pointing links elsewhere, keeping every [[link]] valid.

A link is rewritten in place: `[[Old|alias]]`, `[[old#Heading]]`, `![[Old#^block]]` and
`[[folder/Old]]` become `[[New|alias]]`, `[[New#Heading]]`, `![[New#^block]]` and `[[New]]`.
Only links the index resolves to the note are touched (so matching is case-insensitive and
follows Obsidian's resolution), never text inside code. Frontmatter fields that name notes
(depends_on, challenged_by, claims_extracted, enrichments, tests, review[].related) are
rewritten too, and so are the source paths in a claim's provenance (their file names only).
Each file is written atomically; running a rename again finishes it.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimledger.errors import ClaimledgerError
from claimledger.kb.links import normalize_key, parse_link_text, scan_body
from claimledger.kb.notes import Note, read_note, write_note
from claimledger.kb.queries import backlinks, find_note
from claimledger.kb.titles import check_title, check_title_free
from claimledger.workspace import Workspace

WIKI_LINK = re.compile(r"(!?)\[\[([^\[\]\n]+)\]\]")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
# Frontmatter fields whose values are links or titles of other notes.
LINK_FIELDS = ("depends_on", "challenged_by", "claims_extracted", "enrichments", "tests")


@dataclass
class RenameResult:
    """What a rename or retarget changed: the note's new path and the files rewritten."""

    old_title: str
    new_title: str
    path: str | None = None
    rewritten: list[str] = field(default_factory=list)


def note_keys(conn: sqlite3.Connection, note_id: int) -> set[str]:
    """Every normalised name the note answers to (stem, aliases, title, H1)."""
    return {row[0] for row in conn.execute("SELECT key FROM keys WHERE note_id = ?", (note_id,))}


def rewrite_link(inner: str, embed: str, new_title: str) -> str:
    """One link's text with its target replaced, its heading, block and alias kept."""
    link = parse_link_text(inner)
    if link is None:
        return f"{embed}[[{inner}]]"
    text = new_title
    if link.heading:
        text += f"#{link.heading}"
    elif link.block:
        text += f"#^{link.block}"
    if link.alias:
        text += f"|{link.alias}"
    return f"{embed}[[{text}]]"


def _matches(inner: str, keys: set[str]) -> bool:
    link = parse_link_text(inner)
    return link is not None and bool(link.target) and link.key in keys


def rewrite_body(body: str, keys: set[str], new_title: str, first_line: int = 1) -> str:
    """The body with each real link to `keys` pointing at new_title; code is left alone."""
    link_lines = {
        link.line - first_line
        for link in scan_body(body, first_line).links
        if link.target and link.key in keys
    }
    if not link_lines:
        return body
    lines = body.split("\n")  # the line breaks markdown-it counts; "\r" stays on its line
    for number in link_lines:
        lines[number] = _rewrite_line(lines[number], keys, new_title)
    return "\n".join(lines)


def _rewrite_line(line: str, keys: set[str], new_title: str) -> str:
    code = [m.span() for m in CODE_SPAN.finditer(line)]

    def replace(match: re.Match[str]) -> str:
        inside_code = any(start <= match.start() < end for start, end in code)
        if inside_code or not _matches(match.group(2), keys):
            return match.group(0)
        return rewrite_link(match.group(2), match.group(1), new_title)

    return WIKI_LINK.sub(replace, line)


def rewrite_value(value: Any, keys: set[str], new_title: str) -> Any:
    """A frontmatter value ("[[T]]", "T" or a list of them) with links to keys retargeted."""
    if isinstance(value, list):
        return [rewrite_value(item, keys, new_title) for item in value]
    if not isinstance(value, str):
        return value
    if WIKI_LINK.search(value):
        return WIKI_LINK.sub(
            lambda m: (
                rewrite_link(m.group(2), m.group(1), new_title)
                if _matches(m.group(2), keys)
                else m.group(0)
            ),
            value,
        )
    return new_title if normalize_key(value.rsplit("/", 1)[-1]) in keys else value


def rewrite_path(value: Any, keys: set[str], new_title: str) -> Any:
    """A path to a note ("inbox/archive/Old.md", or a list of them) with the file name changed
    where it names the note; the folder and the ".md" stay as written."""
    if isinstance(value, list):
        return [rewrite_path(item, keys, new_title) for item in value]
    if not isinstance(value, str) or WIKI_LINK.search(value):
        return rewrite_value(value, keys, new_title)
    folder, slash, name = value.rpartition("/")
    if normalize_key(name) not in keys:
        return value
    suffix = name[-3:] if name.lower().endswith(".md") else ""
    return f"{folder}{slash}{new_title}{suffix}"


def rewrite_note(note: Note, keys: set[str], new_title: str) -> bool:
    """Retarget a parsed note's links (body and fields) in place; True when it changed."""
    before = note.text
    note.body = rewrite_body(note.body, keys, new_title, note.body_line)
    updates = {}
    for name in LINK_FIELDS:
        if name in note.metadata:
            value = rewrite_value(note.metadata[name], keys, new_title)
            if value != note.metadata[name]:
                updates[name] = value
    provenance = note.metadata.get("provenance")
    if isinstance(provenance, dict) and "sources" in provenance:
        sources = rewrite_path(provenance["sources"], keys, new_title)
        if sources != provenance["sources"]:
            updates["provenance"] = {**provenance, "sources": sources}
    flags = note.metadata.get("review")
    if isinstance(flags, list):
        new_flags = [_retarget_flag(flag, keys, new_title) for flag in flags]
        if new_flags != flags:
            updates["review"] = new_flags
    if updates:
        note.set_fields(updates)
    return note.text != before


def _retarget_flag(flag: Any, keys: set[str], new_title: str) -> Any:
    if isinstance(flag, dict) and "related" in flag:
        return {**flag, "related": rewrite_value(flag["related"], keys, new_title)}
    return flag


def referring_paths(conn: sqlite3.Connection, note_id: int, keys: set[str]) -> list[str]:
    """Notes with a link resolving to the note, or a review flag that names it."""
    paths = {b["path"] for b in backlinks(conn, note_id)}
    rows = conn.execute("SELECT path, metadata FROM notes WHERE metadata LIKE '%\"review\"%'")
    for path, metadata in rows:
        if any(normalize_key(k) in metadata.casefold() for k in keys):
            paths.add(path)
    return sorted(paths)


def retarget_links(
    ws: Workspace, conn: sqlite3.Connection, note_id: int, new_title: str
) -> list[str]:
    """Point every link to a note at new_title instead; returns the files rewritten."""
    keys = note_keys(conn, note_id)
    rewritten = []
    for rel in referring_paths(conn, note_id, keys):
        note = read_note(ws.root / rel)
        if rewrite_note(note, keys, new_title):
            write_note(ws.root / rel, note)
            rewritten.append(rel)
    return rewritten


def rename_note(ws: Workspace, conn: sqlite3.Connection, name: str, new_title: str) -> RenameResult:
    """Rename a note (its file, title and H1) and update every link that points at it."""
    check_title(new_title)
    row = find_note(conn, name)
    old_path = ws.root / row["path"]
    check_title_free(ws, new_title, own=old_path)
    new_path = old_path.with_name(f"{new_title}.md")
    if new_path.exists() and new_path.resolve() != old_path.resolve():
        raise ClaimledgerError(f"cannot rename to {new_title!r}: that file exists", new_path)
    result = RenameResult(row["title"], new_title, ws.relative(new_path))
    result.rewritten = retarget_links(ws, conn, row["id"], new_title)
    _retitle(old_path, row["title"], new_title)
    old_path.replace(new_path)
    return result


def _retitle(path: Path, old_title: str, new_title: str) -> None:
    """Change the frontmatter title and an H1 equal to the old title."""
    note = read_note(path)
    if "title" in note.metadata:
        note.set_fields({"title": new_title})
    pattern = re.compile(rf"^#[ \t]+{re.escape(old_title)}[ \t]*$", re.MULTILINE | re.IGNORECASE)
    note.body = pattern.sub(f"# {new_title}", note.body, count=1)
    write_note(path, note)
