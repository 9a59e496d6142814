"""Claims as the planner sees them: the measurable `effect` of a claim, and field edits to notes.

A claim with an effect says: changing `param` from `from` to `to` on `platform` moves val_bpb
by `delta` (schemas/effect.schema.json; an effect that breaks it is skipped with a warning
naming the note). The planner reads these as priors, evidence checks them against the
ledger, and `edit_claim` changes a claim's fields under the same per-note lock the extraction
worker takes, leaving every other line of the note as it was.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from claimledger.errors import ClaimledgerError
from claimledger.kb.notes import Note, json_safe, read_note, write_note
from claimledger.schemas import problems
from claimledger.workspace import Workspace

log = logging.getLogger(__name__)

CONFIDENCE_ORDER = ("speculative", "experimental", "likely", "proven")


@dataclass(frozen=True)
class ClaimEffect:
    """A claim with an effect: its title, file, effect fields and standing."""

    title: str
    path: str  # relative to the workspace root
    param: str
    old: Any
    new: Any
    delta: float
    n: int
    platform: str | None
    confidence: str
    status: str
    depends_on: tuple[str, ...] = field(default_factory=tuple)
    context: tuple[tuple[str, Any], ...] = ()  # the base config it speaks about (effect.context)
    runs: tuple[str, ...] = ()  # provenance.runs: the ledger runs it was measured on

    @property
    def context_dict(self) -> dict[str, Any]:
        return dict(self.context)

    def predicts(self, param: str, old: Any, new: Any) -> float | None:
        """The delta this claim predicts for a move (its reverse counts, negated), else None."""
        if param != self.param:
            return None
        if same_value(old, self.old) and same_value(new, self.new):
            return self.delta
        if same_value(old, self.new) and same_value(new, self.old):
            return -self.delta
        return None


def same_value(a: Any, b: Any) -> bool:
    """Config values compare as numbers when both are numbers (0.1 == 0.10), else exactly."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool | str):
        return not isinstance(b, bool) and math.isclose(float(a), float(b), rel_tol=1e-9)
    return a == b


def link_target(link: Any) -> str:
    """The lower-cased title a [[link]] (or plain title) points at."""
    text = str(link).strip()
    if text.startswith("[[") and text.endswith("]]"):
        text = text[2:-2]
    return text.split("|")[0].split("#")[0].split("/")[-1].strip().lower()


def claim_notes(ws: Workspace) -> list[tuple[str, dict[str, Any]]]:
    """(relative path, JSON-safe frontmatter) of every readable claim note."""
    found = []
    for rel in ws.claim_files():
        if not rel.endswith(".md"):
            continue
        try:
            note = read_note(ws.root / rel)
        except ClaimledgerError as exc:
            log.warning("skipping %s: %s", rel, exc.problem)
            continue
        meta = json_safe(note.metadata)
        if meta.get("type", "claim") == "claim" and not note.problems:
            found.append((rel, meta))
    return found


def effect_claims(ws: Workspace, platform: str | None = None) -> list[ClaimEffect]:
    """Every claim with a well-formed effect (on `platform`, when given), retired ones left out."""
    claims = []
    for rel, meta in claim_notes(ws):
        effect = meta.get("effect")
        if not isinstance(effect, dict) or meta.get("status") == "retired":
            continue
        if platform is not None and effect.get("platform") not in (None, platform):
            continue
        bad = problems(ws.schemas_dir, "effect", effect)
        if bad:
            log.warning("skipping %s: invalid effect (effect.schema.json): %s", rel, "; ".join(bad))
            continue
        try:
            claim = _claim_effect(rel, meta, effect)
        except (KeyError, TypeError, ValueError):
            log.warning("skipping %s: its effect lacks param, from, to or a numeric delta", rel)
            continue
        claims.append(claim)
    return claims


def _claim_effect(rel: str, meta: dict[str, Any], effect: dict[str, Any]) -> ClaimEffect:
    return ClaimEffect(
        title=Path(rel).stem,
        path=rel,
        param=str(effect["param"]),
        old=effect["from"],
        new=effect["to"],
        delta=float(effect.get("delta") or 0.0),
        n=int(effect.get("n") or 0),
        platform=effect.get("platform"),
        confidence=str(meta.get("confidence") or "speculative"),
        status=str(meta.get("status") or "active"),
        depends_on=tuple(str(d) for d in meta.get("depends_on") or []),
        context=tuple(sorted((str(k), v) for k, v in (effect.get("context") or {}).items())),
        runs=tuple(str(r) for r in (meta.get("provenance") or {}).get("runs") or []),
    )


def edit_claim(ws: Workspace, rel: str, change: Callable[[Note], bool]) -> bool:
    """Apply `change` to a claim note under its lock; write it when `change` returns True."""
    digest = hashlib.sha256(rel.encode()).hexdigest()[:16]
    (ws.cache_dir / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(ws.cache_dir / "locks" / f"claim-{digest}.lock"), timeout=60):
        path = ws.root / rel
        note = read_note(path)
        if not change(note):
            return False
        write_note(path, note)
        return True
