"""A source's lifecycle, kept in its own frontmatter: leases, attempts, the final state.

unprocessed -> processing (lease_owner, lease_expires, attempts) -> processed | null-result.
Every transition reads, edits only the lifecycle fields and renames the note into place, under
a per-source file lock, so two workers never take the same source and a reader never sees half a
note. A lease whose worker died simply expires and the source is taken again; after
`max_attempts` takes the source becomes a null-result carrying the last error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from claimledger.inbox.settings import Settings
from claimledger.kb.notes import Note, blocking_problems, read_note, write_note
from claimledger.workspace import Workspace, link_stays_inside

LEASE_FIELDS = ("lease_owner", "lease_expires")
FINAL = ("processed", "null-result")
MAX_ERROR_CHARS = 500
CRASHED = "the worker stopped (killed or timed out) during every attempt"


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one source until `expires`; `given_up` when attempts ran out."""

    path: Path
    owner: str
    attempts: int
    expires: dt.datetime | None = None
    given_up: bool = False


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _lock(ws: Workspace, path: Path) -> FileLock:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    folder = ws.cache_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"source-{digest}.lock"), timeout=30)


def _lease_live(meta: dict[str, Any], now: dt.datetime) -> bool:
    try:
        expires = dt.datetime.fromisoformat(str(meta.get("lease_expires")))
    except ValueError:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    return expires > now


def is_open(meta: dict[str, Any], now: dt.datetime) -> bool:
    """Whether a source waits for a worker: unprocessed, or processing with a dead lease."""
    if meta.get("type") not in (None, "source"):
        return False
    status = meta.get("status") or "unprocessed"
    return status == "unprocessed" or (status == "processing" and not _lease_live(meta, now))


def take(
    ws: Workspace, path: Path, owner: str, settings: Settings, now: dt.datetime | None = None
) -> Lease | None:
    """Lease a waiting source for `owner`; None when it is done, held, unreadable YAML or a
    symlink out of the workspace (checked again here: it may have been swapped in since)."""
    now = now or utcnow()
    try:
        with _lock(ws, path):
            if not link_stays_inside(str(path), os.path.realpath(ws.root)):
                return None
            note = read_note(path)
            if blocking_problems(note) or not is_open(note.metadata, now):
                return None
            attempts = int(note.metadata.get("attempts") or 0)
            if attempts >= settings.max_attempts:
                reason = str(note.metadata.get("last_error") or CRASHED)
                _give_up(path, note, attempts, reason, owner)
                return Lease(path, owner, attempts, given_up=True)
            expires = now + dt.timedelta(seconds=settings.lease_seconds)
            fields = {"status": "processing", "attempts": attempts + 1, "lease_owner": owner}
            note.set_fields({**fields, "lease_expires": expires.isoformat(timespec="seconds")})
            write_note(path, note)
            return Lease(path, owner, attempts + 1, expires)
    except Timeout:  # another worker is mid-transition on this very source
        return None


def _give_up(path: Path, note: Note, attempts: int, reason: str, owner: str) -> None:
    note.set_fields(
        {
            "status": "null-result",
            "processed_by": owner,
            "processed_date": utcnow().date(),
            "notes": f"gave up after {attempts} attempts: {reason}"[:MAX_ERROR_CHARS],
        },
        remove=LEASE_FIELDS,
    )
    write_note(path, note)


def complete(
    ws: Workspace,
    lease: Lease,
    *,
    processed_by: str,
    claims: list[str],
    enrichments: list[str],
    notes: str,
    today: dt.date,
) -> str | None:
    """Record the result of a leased source; returns its final status, or None if another
    worker finished it first (its output is the same, since every write is idempotent)."""
    with _lock(ws, lease.path):
        note = read_note(lease.path)
        if note.metadata.get("status") != "processing":
            return None
        status = "processed" if claims or enrichments else "null-result"
        updates: dict[str, Any] = {
            "status": status,
            "processed_by": processed_by,
            "processed_date": today,
        }
        optional = {"claims_extracted": claims, "enrichments": enrichments, "notes": notes}
        updates.update({k: v for k, v in optional.items() if v})
        note.set_fields(updates, remove=(*LEASE_FIELDS, "last_error"))
        write_note(lease.path, note)
        return status


def fail(ws: Workspace, lease: Lease, error: str, settings: Settings) -> str:
    """Record a failed attempt: back to unprocessed, or null-result when attempts ran out."""
    error = " ".join(error.split())[:MAX_ERROR_CHARS] or "unknown error"
    with _lock(ws, lease.path):
        note = read_note(lease.path)
        if note.metadata.get("status") != "processing":
            return str(note.metadata.get("status"))
        if lease.attempts >= settings.max_attempts:
            note.set_fields({"last_error": error})
            _give_up(lease.path, note, lease.attempts, error, lease.owner)
            return "null-result"
        note.set_fields({"status": "unprocessed", "last_error": error}, remove=LEASE_FIELDS)
        write_note(lease.path, note)
        return "unprocessed"
