"""Titles as file names: which titles are safe, and writing a new claim note under kb/.

A claim's title is its file name, so a title must be a valid, harmless file name on every
platform an agent or a human may sync the vault to, and must not let a writer escape kb/.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path
from typing import Any

from claimledger.errors import ClaimledgerError, UnsafeTitleError
from claimledger.kb.links import normalize_key
from claimledger.kb.notes import json_safe, render_note, write_text_atomic
from claimledger.schemas import validation_errors
from claimledger.workspace import Workspace

MAX_TITLE_CHARS = 200
MAX_NAME_BYTES = 250  # most file systems allow 255 bytes; ".md" and a margin come off
# Forbidden by Windows, macOS or Obsidian links (# ^ [ ] | break [[links]]).
FORBIDDEN_CHARS = set('/\\:*?"<>|#^[]')
RESERVED_NAMES = {"con", "prn", "aux", "nul"} | {
    f"{p}{i}" for p in ("com", "lpt") for i in range(10)
}
SAFE_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def title_problem(title: str) -> str | None:
    """Why a title cannot be a file name, or None when it can."""
    if not title or not title.strip():
        return "title is empty"
    if title != title.strip():
        return "title has leading or trailing spaces"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") for c in title):
        return "title contains control or invisible characters"
    bad = sorted(set(title) & FORBIDDEN_CHARS)
    if bad:
        return f"title contains {' '.join(bad)}, which cannot appear in a file name or link"
    if title.startswith(".") or title.endswith("."):
        return "title starts or ends with a dot"
    if title.split(".")[0].strip().lower() in RESERVED_NAMES:
        return "title is a reserved device name on Windows"
    if len(title) > MAX_TITLE_CHARS or len(title.encode()) > MAX_NAME_BYTES:
        return f"title is longer than {MAX_TITLE_CHARS} characters"
    return None


def check_title(title: str) -> str:
    """The title, or UnsafeTitleError saying why it cannot be a file name."""
    problem = title_problem(title)
    if problem:
        raise UnsafeTitleError(problem, repr(title[:80]))
    return title


def title_taken(ws: Workspace, title: str, own: Path | None = None) -> str | None:
    """The note (relative path) whose file name is `title` up to case and Unicode form (NFC,
    NFD), other than `own`; None when the title is free."""
    key = normalize_key(title)
    mine = own.relative_to(ws.root).as_posix() if own is not None else None
    for rel in ws.note_files():
        if rel != mine and normalize_key(rel.rsplit("/", 1)[-1]) == key:
            return rel
    return None


def check_title_free(ws: Workspace, title: str, own: Path | None = None) -> None:
    """Refuse a title another note already has, up to case and Unicode form.

    Links match titles that way, so a second such note would make every link to either one
    ambiguous, and renaming a note to it would silently retarget links. `own` is the note being
    renamed: a variant of its own title is fine."""
    taken = title_taken(ws, title, own)
    if taken is not None:
        raise ClaimledgerError(
            f"a note titled {title!r} already exists, up to case and Unicode form: {taken}",
            ws.root / taken,
        )


def claim_path(ws: Workspace, domain: str, title: str) -> Path:
    """Where a claim with this domain and title lives: kb/<domain>/<title>.md, checked."""
    check_title(title)
    if not SAFE_DOMAIN.match(domain):
        raise UnsafeTitleError("domain must be lowercase letters, digits, - or _", domain)
    path = ws.claims_dir / domain / f"{title}.md"
    if ws.claims_dir.resolve() not in path.resolve().parents:
        raise UnsafeTitleError("path would leave the claims folder", path)
    return path


def new_claim(
    ws: Workspace,
    title: str,
    fields: dict[str, Any],
    body: str = "",
) -> Path:
    """Write a new claim note (refusing unsafe titles, invalid fields and existing files)."""
    metadata: dict[str, Any] = {"type": "claim", **fields}
    metadata.setdefault("created", dt.date.today())
    metadata.setdefault("status", "active")
    errors = validation_errors(ws.schemas_dir, "claim", json_safe(metadata))
    if errors:
        detail = "; ".join(f"{where}: {message}" for where, message in errors)
        raise ClaimledgerError(f"invalid claim: {detail}", title)
    domain = metadata["domain"]
    if ws.config.domains and domain not in ws.config.domains:
        allowed = ", ".join(ws.config.domains)
        raise ClaimledgerError(f"unknown domain {domain!r}; configured: {allowed}", title)
    path = claim_path(ws, domain, title)
    check_title_free(ws, title)
    text = render_note(metadata, f"\n# {title}\n\n{body.strip()}\n" if body else f"\n# {title}\n")
    try:
        write_text_atomic(path, text, exclusive=True)
    except FileExistsError:
        raise ClaimledgerError("a claim with this title already exists", path) from None
    return path
