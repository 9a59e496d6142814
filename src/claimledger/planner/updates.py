"""Turn evidence into claim edits: confidence that rises and falls with the runs.

The confidence a claim's evidence supports is a function of that evidence (never a step per
call), so applying the same evidence twice changes nothing. Supported: `experimental`, and
`likely` only when the whole interval lies beyond the noise floor (`ClaimEvidence.strong`:
an effect size, not a count of runs); a `proven` claim keeps its rank, and a claim under
review that the runs now support becomes active again. Weakened (the runs lean against the
claimed sign without a finding): `speculative`. Contradicted: `speculative`, status
`under_review` and a `contradicted` review flag (schemas/review-flag.schema.json), and every
claim that depends_on it gets a flag naming it. Each change appends a dated line with its
reason to the note's "## Evidence log" and adds the runs to `provenance.runs`. Flags and
updated effects (schemas/effect.schema.json) are checked before a note is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from claimledger.kb.notes import Note, json_safe
from claimledger.planner.claims import CONFIDENCE_ORDER, claim_notes, edit_claim, link_target
from claimledger.planner.evidence import ClaimEvidence
from claimledger.schemas import check
from claimledger.workspace import Workspace

LOG_HEADING = "## Evidence log"
MAX_PROVENANCE_RUNS = 50


@dataclass
class ClaimChange:
    """A change evidence makes (or would make) to one claim."""

    title: str
    path: str
    verdict: str
    old_confidence: str
    new_confidence: str
    old_status: str
    new_status: str
    reason: str
    flagged: list[str] = field(default_factory=list)  # dependents flagged for review

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def target(evidence: ClaimEvidence) -> tuple[str, str]:
    """(confidence, status) the evidence supports for its claim."""
    claim = evidence.claim
    if evidence.verdict == "contradicted":
        return "speculative", "under_review"
    if evidence.verdict == "weakened":
        return "speculative", claim.status
    if evidence.verdict == "supported":
        earned = "likely" if evidence.strong else "experimental"
        if claim.confidence == "proven":
            earned = "proven"
        status = "active" if claim.status == "under_review" else claim.status
        return earned, status
    return claim.confidence, claim.status


def _rank(confidence: str) -> int:
    return CONFIDENCE_ORDER.index(confidence) if confidence in CONFIDENCE_ORDER else 0


def plan_changes(results: Sequence[ClaimEvidence]) -> list[ClaimChange]:
    """The changes the evidence calls for; claims already where it puts them are left out."""
    changes = []
    for evidence in results:
        confidence, status = target(evidence)
        claim = evidence.claim
        if (confidence, status) == (claim.confidence, claim.status):
            continue
        reason = f"{evidence.verdict} on {evidence.platform}: {evidence.reason}"
        changes.append(
            ClaimChange(
                claim.title,
                claim.path,
                evidence.verdict,
                claim.confidence,
                confidence,
                claim.status,
                status,
                reason,
            )
        )
    return changes


def apply_changes(
    ws: Workspace,
    changes: Sequence[ClaimChange],
    results: Sequence[ClaimEvidence],
    today: dt.date | None = None,
) -> list[ClaimChange]:
    """Write the changes into the notes (atomically, under each note's lock); return them."""
    day = (today or dt.date.today()).isoformat()
    by_path = {e.claim.path: e for e in results}
    for change in changes:
        evidence = by_path[change.path]
        edit_claim(ws, change.path, lambda note, c=change, e=evidence: _edit(ws, note, c, e, day))
        if change.new_status == "under_review":
            change.flagged = flag_dependents(ws, change.title, evidence.platform, day)
    return list(changes)


def _edit(
    ws: Workspace, note: Note, change: ClaimChange, evidence: ClaimEvidence, day: str
) -> bool:
    meta = note.metadata
    updates: dict[str, Any] = {"confidence": change.new_confidence, "last_evaluated": day}
    if change.new_status != change.old_status:
        updates["status"] = change.new_status
    provenance = dict(meta.get("provenance") or {})
    runs = list(dict.fromkeys([*(provenance.get("runs") or []), *evidence.runs]))
    provenance["runs"] = runs[-MAX_PROVENANCE_RUNS:]
    updates["provenance"] = provenance
    if evidence.verdict == "contradicted":
        flag = {"reason": "contradicted", "note": change.reason[:300], "date": day}
        check(ws.schemas_dir, "review-flag", flag, change.path)
        updates["review"] = [*(meta.get("review") or []), flag]
    elif evidence.verdict == "supported" and isinstance(meta.get("effect"), dict):
        effect = {**meta["effect"], "delta": evidence.delta, "n": evidence.n}
        check(ws.schemas_dir, "effect", json_safe(effect), change.path)
        updates["effect"] = effect
    note.set_fields(updates)
    note.body = _log_line(note.body, day, change)
    return True


def _log_line(body: str, day: str, change: ClaimChange) -> str:
    line = (
        f"- {day} `claimledger evidence`: confidence {change.old_confidence} -> "
        f"{change.new_confidence}"
        + (f", status {change.new_status}" if change.new_status != change.old_status else "")
        + f". {change.reason}"
    )
    text = body.rstrip("\n")
    if LOG_HEADING not in text:
        text += f"\n\n{LOG_HEADING}\n"
    return f"{text}\n{line}\n"


def flag_dependents(ws: Workspace, title: str, platform: str, day: str) -> list[str]:
    """Flag every claim that depends_on `title` for review; return their titles."""
    wanted = title.lower()
    flagged = []
    for rel, meta in claim_notes(ws):
        if wanted not in {link_target(d) for d in meta.get("depends_on") or []}:
            continue
        flag = {
            "reason": "other",
            "related": f"[[{title}]]",
            "note": f"depends on a claim that evidence contradicted on {platform}",
            "date": day,
        }
        check(ws.schemas_dir, "review-flag", flag, rel)
        if edit_claim(ws, rel, lambda note, f=flag: _add_flag(note, f)):
            flagged.append(rel.rsplit("/", 1)[-1].removesuffix(".md"))
    return flagged


def _add_flag(note: Note, flag: dict[str, Any]) -> bool:
    flags = list(note.metadata.get("review") or [])
    if any(f.get("related") == flag["related"] and f.get("reason") == "other" for f in flags):
        return False
    note.set_fields({"review": [*flags, flag]})
    return True
