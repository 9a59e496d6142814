"""Human review: the queue of claims that need a person, and the actions that settle them.

The queue holds claims under_review, claims carrying `review` flags (possible-duplicate,
contradicted, low-confidence-extraction, other: schemas/review-flag.schema.json; a flag that
breaks the schema is queued as `other` naming the problem, with a logged warning), freshly
extracted claims still `proposed`, and lint findings. Actions edit notes field by field and
atomically, under one lock, and keep links valid:

- accept: `proposed`/`under_review` -> `active`, flags dropped, last_evaluated today;
- reject: the claim is retired (kept, so the worker does not extract it again), flags dropped;
- retire: the claim is retired with an optional reason;
- merge A B: A's argument, aliases, lists and provenance join B, A's title becomes an alias of
  B, every link to A points at B, and A's file is removed. Running it again finishes it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from claimledger.errors import ClaimledgerError
from claimledger.kb.lint import lint
from claimledger.kb.notes import Note, read_note, write_note
from claimledger.kb.obsidian import obsidian_check
from claimledger.kb.queries import find_note
from claimledger.kb.rename import note_keys, retarget_links, rewrite_note
from claimledger.schemas import problems
from claimledger.workspace import Workspace

log = logging.getLogger(__name__)

# Queue order: what blocks the most work first.
PRIORITY = {
    "under-review": 0,
    "contradicted": 1,
    "possible-duplicate": 2,
    "low-confidence-extraction": 3,
    "other": 4,
    "proposed": 5,
    "lint": 6,
}
MERGED_LISTS = ("depends_on", "challenged_by", "secondary_domains", "branches", "tags")
PROVENANCE_LISTS = ("runs", "commits", "sources")


@dataclass(frozen=True)
class ReviewItem:
    """One thing a human should look at: a note, why, and what it relates to."""

    path: str
    title: str
    reason: str
    detail: str = ""
    related: str | None = None
    score: float | None = None
    line: int = 0

    @property
    def priority(self) -> int:
        return PRIORITY.get(self.reason, PRIORITY["lint"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def review_queue(
    ws: Workspace, conn: sqlite3.Connection, with_lint: bool = True
) -> list[ReviewItem]:
    """Everything that needs a human, most pressing first."""
    items: list[ReviewItem] = []
    rows = conn.execute(
        "SELECT path, title, status, confidence, metadata FROM notes WHERE type = 'claim'"
    )
    for row in rows:
        items.extend(_claim_items(ws, row))
    if with_lint:
        titles = dict(conn.execute("SELECT path, title FROM notes").fetchall())
        for f in lint(ws, conn, extra_checks=[obsidian_check]):
            detail = f"{f.code}: {f.message}"
            items.append(
                ReviewItem(
                    f.path, titles.get(f.path, f.path), f"lint:{f.code}", detail, line=f.line
                )
            )
    return sorted(items, key=lambda i: (i.priority, i.path, i.line, i.reason))


def _claim_items(ws: Workspace, row: sqlite3.Row) -> Iterator[ReviewItem]:
    path, title, status = row["path"], row["title"], row["status"]
    if status == "under_review":
        yield ReviewItem(path, title, "under-review", "status is under_review")
    flags = json.loads(row["metadata"] or "{}").get("review")
    for flag in flags if isinstance(flags, list) else []:
        bad = problems(ws.schemas_dir, "review-flag", flag)
        if bad:
            detail = "invalid review flag (review-flag.schema.json): " + "; ".join(bad)
            log.warning("%s: %s", path, detail)
            yield ReviewItem(path, title, "other", detail)
        else:
            yield _flag_item(path, title, flag)
    if status == "proposed":
        detail = f"freshly extracted, confidence {row['confidence'] or 'unknown'}"
        yield ReviewItem(path, title, "proposed", detail)


def _flag_item(path: str, title: str, flag: dict[str, Any]) -> ReviewItem:
    reason = str(flag.get("reason") or "other")
    reason = reason if reason in PRIORITY and reason != "lint" else "other"
    score = flag.get("score")
    parts = [str(flag[k]) for k in ("note", "date") if flag.get(k)]
    return ReviewItem(
        path,
        title,
        reason,
        "; ".join(parts),
        related=str(flag["related"]) if flag.get("related") else None,
        score=float(score) if isinstance(score, int | float) else None,
    )


@contextmanager
def review_lock(ws: Workspace) -> Iterator[None]:
    """One reviewer action at a time per workspace."""
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ws.cache_dir / "review.lock"), timeout=60):
        yield


def _claim(ws: Workspace, conn: sqlite3.Connection, name: str) -> tuple[sqlite3.Row, Note]:
    row = find_note(conn, name)
    if row["type"] != "claim":
        raise ClaimledgerError(
            f"{row['title']!r} is a {row['type'] or 'note'}, not a claim", row["path"]
        )
    return row, read_note(ws.root / row["path"])


def _settle(
    ws: Workspace, conn: sqlite3.Connection, name: str, updates: dict[str, Any]
) -> dict[str, Any]:
    """Set fields on a claim, drop its review flags, stamp last_evaluated; atomically."""
    with review_lock(ws):
        row, note = _claim(ws, conn, name)
        note.set_fields({**updates, "last_evaluated": dt.date.today()}, remove=("review",))
        write_note(ws.root / row["path"], note)
    return {"path": row["path"], "title": row["title"], **{k: str(v) for k, v in updates.items()}}


def accept(ws: Workspace, conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    """Accept a claim: status active, review flags dropped."""
    return _settle(ws, conn, name, {"status": "active"})


def reject(ws: Workspace, conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    """Reject a claim: retired (not deleted, so it is not extracted again), flags dropped."""
    return _settle(ws, conn, name, {"status": "retired", "retired_reason": "rejected in review"})


def retire(
    ws: Workspace, conn: sqlite3.Connection, name: str, reason: str | None = None
) -> dict[str, Any]:
    """Retire a claim that no longer holds; it stays in the vault and its links stay valid."""
    updates: dict[str, Any] = {"status": "retired"}
    if reason:
        updates["retired_reason"] = reason
    return _settle(ws, conn, name, updates)


def merge(ws: Workspace, conn: sqlite3.Connection, name_a: str, name_b: str) -> dict[str, Any]:
    """Merge claim A into claim B: B keeps both, links to A point at B, A's file goes."""
    with review_lock(ws):
        row_a, note_a = _claim(ws, conn, name_a)
        row_b, note_b = _claim(ws, conn, name_b)
        if row_a["id"] == row_b["id"]:
            raise ClaimledgerError("cannot merge a claim into itself", row_a["path"])
        title_b = Path(row_b["path"]).stem
        if not _already_merged(note_b, row_a["title"]):
            _absorb(note_b, note_a, row_a["title"])
            # A's own links to itself came along with its argument.
            rewrite_note(note_b, note_keys(conn, row_a["id"]), title_b)
            write_note(ws.root / row_b["path"], note_b)
        rewritten = [
            p for p in retarget_links(ws, conn, row_a["id"], title_b) if p != row_a["path"]
        ]
        (ws.root / row_a["path"]).unlink(missing_ok=True)
    return {"merged": row_a["path"], "into": row_b["path"], "rewritten": rewritten}


def _already_merged(note_b: Note, title_a: str) -> bool:
    aliases = note_b.metadata.get("aliases")
    return isinstance(aliases, list) and title_a in aliases


def _absorb(note_b: Note, note_a: Note, title_a: str) -> None:
    """B's fields gain A's list items, provenance and title (as an alias); B's body, A's."""
    meta_a, meta_b = note_a.metadata, note_b.metadata
    updates: dict[str, Any] = {
        "aliases": _union(meta_b.get("aliases"), [title_a, *_as_list(meta_a.get("aliases"))])
    }
    for name in MERGED_LISTS:
        if meta_a.get(name):
            updates[name] = _union(meta_b.get(name), _as_list(meta_a.get(name)))
    provenance = _merged_provenance(meta_b.get("provenance"), meta_a.get("provenance"))
    if provenance:
        updates["provenance"] = provenance
    flags = [f for f in _as_list(meta_b.get("review")) if not _names(f, title_a)]
    note_b.set_fields(updates, remove=() if flags else ("review",))
    if flags:
        note_b.set_fields({"review": flags})
    argument = _without_h1(note_a.body, title_a).strip()
    if argument:
        note_b.body = note_b.body.rstrip("\n") + f"\n\n## Merged from {title_a}\n\n{argument}\n"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _union(first: Any, second: list[Any]) -> list[Any]:
    merged = _as_list(first)
    merged.extend(item for item in second if item not in merged)
    return merged


def _merged_provenance(b: Any, a: Any) -> dict[str, Any] | None:
    if not isinstance(a, dict):
        return None
    merged = dict(b) if isinstance(b, dict) else {}
    for key in PROVENANCE_LISTS:
        if a.get(key):
            merged[key] = _union(merged.get(key), _as_list(a[key]))
    return merged


def _names(flag: Any, title: str) -> bool:
    """Whether a review flag is about `title` (a duplicate flag that the merge settles)."""
    related = flag.get("related") if isinstance(flag, dict) else None
    return isinstance(related, str) and title.casefold() in related.casefold()


def _without_h1(body: str, title: str) -> str:
    lines = body.split("\n")
    for i, line in enumerate(lines):
        if line.strip():
            if line.lstrip("# ").strip().casefold() == title.casefold() and line.startswith("# "):
                return "\n".join(lines[i + 1 :])
            break
    return body
