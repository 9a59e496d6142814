"""Writing what an extractor proposed: safe titles, new claims, enrichments, review flags.

Every step can be repeated after a crash without doubling anything: a new claim's file name is
its title, written exclusively, and carries the source in `provenance.sources`, so a rerun finds
it; evidence appended to an existing claim names the source, so a rerun sees it is there.
Extractor output is untrusted: titles are cleaned or refused, and every path is checked to stay
inside the claims folder.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

from filelock import FileLock

from claimledger.errors import ClaimledgerError
from claimledger.inbox.dedup import ClaimEntry
from claimledger.inbox.extractors.base import Candidate, Context, SourceDoc
from claimledger.inbox.settings import Settings
from claimledger.kb.notes import json_safe, read_note, write_note
from claimledger.kb.titles import (
    FORBIDDEN_CHARS,
    MAX_NAME_BYTES,
    MAX_TITLE_CHARS,
    claim_path,
    new_claim,
    title_problem,
)
from claimledger.schemas import check

log = logging.getLogger("claimledger.inbox")
INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
EVIDENCE_HEADING = "## Evidence"
MAX_DESCRIPTION_CHARS = 600
MIN_TITLE_WORDS = 3
MAX_RELATED = 10


def safe_title(raw: Any) -> str | None:
    """A title that is safe as a file name, made from untrusted text; None if nothing is left."""
    text = unicodedata.normalize("NFC", str(raw)).replace(": ", " - ")
    text = "".join(" " if _unsafe_char(c) else c for c in text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    text = _shorten(text, MAX_TITLE_CHARS)
    while len(text.encode()) > MAX_NAME_BYTES:
        text = _shorten(text, len(text) - 10)
    if len(re.findall(r"\w{2,}", text)) < MIN_TITLE_WORDS:
        return None  # a proposition needs words, not debris left by cleaning
    return text if title_problem(text) is None else None


def _unsafe_char(char: str) -> bool:
    return char in FORBIDDEN_CHARS or unicodedata.category(char) in INVISIBLE


def _shorten(text: str, limit: int) -> str:
    """Cut at the last word boundary before `limit` characters."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" .,;:-")


def clean_text(text: Any, limit: int | None = None) -> str:
    """Untrusted prose with control characters (other than newline and tab) removed."""
    kept = "".join(
        c for c in str(text) if c in "\n\t" or unicodedata.category(c) not in INVISIBLE
    ).strip()
    return _shorten(kept, limit) if limit else kept


@dataclass
class Outcome:
    """What applying one source's extraction did."""

    extracted: list[str] = field(default_factory=list)
    enrichments: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def add(self, bucket: list[str], title: str) -> None:
        if title not in bucket:
            bucket.append(title)


def apply_extraction(ctx: Context, source: SourceDoc, candidates: list[Candidate]) -> Outcome:
    """Write the candidates as new claims or enrichments; refused ones are listed."""
    outcome = Outcome()
    for candidate in within_limits(candidates, source, ctx.settings, outcome):
        title = safe_title(candidate.title)
        if title is None:
            outcome.add(outcome.rejected, f"unsafe title {str(candidate.title)[:60]!r}")
            continue
        _apply_candidate(ctx, source, candidate, title, outcome)
    return outcome


def within_limits(
    candidates: list[Candidate], source: SourceDoc, settings: Settings, outcome: Outcome
) -> list[Candidate]:
    """At most `max_claims` candidates, each cut to the title and body byte limits.

    Every extractor's output passes here, and none is trusted: one hostile LLM answer could
    otherwise write hundreds of claims or a megabyte note. What is dropped is logged."""
    kept = candidates[: settings.max_claims]
    dropped = len(candidates) - len(kept)
    if dropped:
        log.warning(
            "%s: %d claims over inbox.max_claims (%d) dropped", source.rel, dropped, len(kept)
        )
        outcome.add(outcome.rejected, f"{dropped} claims over max_claims {len(kept)} dropped")
    return [_cut_candidate(candidate, source, settings) for candidate in kept]


def _cut_candidate(candidate: Candidate, source: SourceDoc, settings: Settings) -> Candidate:
    """The candidate with each text over its byte limit cut (and logged)."""
    limits = {
        "title": settings.max_title_bytes,
        "description": settings.max_body_bytes,
        "body": settings.max_body_bytes,
        "evidence": settings.max_body_bytes,
    }
    cuts: dict[str, Any] = {}
    for name, limit in limits.items():
        data = str(getattr(candidate, name) or "").encode()
        if len(data) > limit:
            cuts[name] = data[:limit].decode("utf-8", "ignore")  # a split character goes
            title = str(candidate.title)[:60]
            log.warning(
                "%s: %s of %r cut from %d to %d bytes", source.rel, name, title, len(data), limit
            )
    if len(candidate.related) > MAX_RELATED:
        cuts["related"] = candidate.related[:MAX_RELATED]
    return replace(candidate, **cuts) if cuts else candidate


def _apply_candidate(
    ctx: Context, source: SourceDoc, candidate: Candidate, title: str, outcome: Outcome
) -> None:
    existing = ctx.claims.get(title)
    if existing is not None:
        _settle_existing(ctx, source, candidate, existing, outcome)
        return
    target = ctx.claims.get(safe_title(candidate.enrich) or "") if candidate.enrich else None
    matches = ctx.claims.nearest(title, 1, exclude_source=source.rel)
    best = matches[0] if matches else None
    if target is None and best and best.score >= ctx.settings.duplicate_threshold:
        target = ctx.claims.get(best.title)
    if target is not None:
        _enrich(ctx, source, candidate, target, outcome)
        return
    flag = best if best and best.score >= ctx.settings.review_threshold else None
    _write_claim(ctx, source, candidate, title, flag, outcome)


def _settle_existing(
    ctx: Context, source: SourceDoc, candidate: Candidate, entry: ClaimEntry, outcome: Outcome
) -> None:
    """A claim with this title exists: ours from an earlier attempt, or evidence for it."""
    body = read_note(ctx.ws.root / entry.path).body
    if source.rel in entry.sources and _evidence_marker(source) not in body:
        outcome.add(outcome.extracted, entry.title)
    else:
        _enrich(ctx, source, candidate, entry, outcome)


def _write_claim(
    ctx: Context,
    source: SourceDoc,
    candidate: Candidate,
    title: str,
    flag: Any,
    outcome: Outcome,
) -> None:
    domains = ctx.ws.config.domains
    domain = candidate.domain if candidate.domain in domains else ctx.domain_for(source)
    try:
        path = claim_path(ctx.ws, domain, title)
    except ClaimledgerError as exc:
        outcome.add(outcome.rejected, f"{title[:60]!r}: {exc.problem[:200]}")
        return
    try:
        fields = _claim_fields(ctx, source, candidate, domain, flag)
        new_claim(ctx.ws, title, fields, _claim_body(ctx, source, candidate, flag))
    except ClaimledgerError as exc:
        if not path.exists():
            outcome.add(outcome.rejected, f"{title[:60]!r}: {exc.problem[:200]}")
            return
        entry = _entry_of(ctx, path, title)  # another worker wrote it meanwhile
        ctx.claims.add_many([entry])
        _settle_existing(ctx, source, candidate, entry, outcome)
        return
    ctx.claims.add_many([_entry_of(ctx, path, title)])
    outcome.add(outcome.extracted, title)
    if flag is not None:
        outcome.add(outcome.flagged, title)


def _entry_of(ctx: Context, path: Any, title: str) -> ClaimEntry:
    meta = read_note(path).metadata
    provenance = meta.get("provenance") or {}
    return ClaimEntry(
        title=title,
        path=ctx.ws.relative(path),
        description=str(meta.get("description") or ""),
        sources=tuple(provenance.get("sources") or ()),
        effect=meta.get("effect"),
    )


def _claim_fields(
    ctx: Context, source: SourceDoc, candidate: Candidate, domain: str, flag: Any
) -> dict[str, Any]:
    provenance: dict[str, Any] = {"sources": [source.rel]}
    if candidate.runs:
        provenance = {"runs": list(candidate.runs), **provenance}
    fields: dict[str, Any] = {
        "domain": domain,
        "description": clean_text(candidate.description, MAX_DESCRIPTION_CHARS) or source.title,
        "confidence": candidate.confidence,
        "source": clean_text(source.attribution, MAX_DESCRIPTION_CHARS),
        "created": ctx.today,
        "status": "proposed",
        "provenance": provenance,
    }
    if candidate.effect:
        check(ctx.ws.schemas_dir, "effect", json_safe(candidate.effect))
        fields["effect"] = candidate.effect
    if flag is not None:
        review_flag = _review_flag(ctx, flag)
        check(ctx.ws.schemas_dir, "review-flag", review_flag)
        fields["review"] = [review_flag]
    return fields


def _review_flag(ctx: Context, flag: Any) -> dict[str, Any]:
    return {
        "reason": "possible-duplicate",
        "related": f"[[{flag.title}]]",
        "score": round(flag.score, 4),
        "date": ctx.today.isoformat(),
    }


def _claim_body(ctx: Context, source: SourceDoc, candidate: Candidate, flag: Any) -> str:
    parts = [clean_text(candidate.body)] if candidate.body else []
    parts.append(f"Extracted from `{source.rel}` ({clean_text(source.title, 200)}).")
    related = [flag.title] if flag is not None else []
    for title in candidate.related:  # only claims that exist, by their exact titles
        entry = ctx.claims.get(title)
        if entry is not None and entry.title not in related:
            related.append(entry.title)
    if related:
        parts.append("Related: " + ", ".join(f"[[{title}]]" for title in related))
    return "\n\n".join(p for p in parts if p)


def _evidence_marker(source: SourceDoc) -> str:
    return f"evidence from `{source.rel}`"


def _enrich(
    ctx: Context, source: SourceDoc, candidate: Candidate, entry: ClaimEntry, outcome: Outcome
) -> None:
    """Append the candidate as evidence under the claim's Evidence heading, once."""
    path = ctx.ws.root / entry.path
    lock_name = hashlib.sha256(entry.path.encode()).hexdigest()[:16]
    (ctx.ws.cache_dir / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(ctx.ws.cache_dir / "locks" / f"claim-{lock_name}.lock"), timeout=60):
        note = read_note(path)
        if _evidence_marker(source) not in note.body:
            evidence = clean_text(candidate.evidence or candidate.description or candidate.title)
            title = clean_text(source.title, 200)
            line = f"- {ctx.today.isoformat()}, {_evidence_marker(source)} ({title}): "
            body = note.body if note.body.endswith("\n") else note.body + "\n"
            if EVIDENCE_HEADING not in body:
                body += f"\n{EVIDENCE_HEADING}\n\n"
            note.body = body + line + " ".join(evidence.split()) + "\n"
            write_note(path, note)
    outcome.add(outcome.enrichments, entry.title)
