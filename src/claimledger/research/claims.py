"""Writing a claim or evidence for one: the rules `claimledger new claim` and the MCP tools share.

What a caller sends meets the rules the extraction worker applies to an LLM's output: a claim
title must already be what the worker's `safe_title` would make of it (a proposition of words
that is a safe file name) and free up to case and Unicode form (kb.titles), a claim the kb
already makes (the same title, the same effect, or a title at the duplicate threshold of
similarity) is refused and a near one flagged for review, provenance must name runs the ledger
knows and sources that exist in the inbox, every field is validated against the claim schema,
and a new claim is `proposed` until a reviewer makes it active. A refused call writes nothing.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path
from typing import Any

from claimledger.errors import ClaimledgerError, NotFoundError, UnsafeTitleError
from claimledger.inbox.claims import EVIDENCE_HEADING, MAX_DESCRIPTION_CHARS, clean_text, safe_title
from claimledger.inbox.dedup import ClaimIndex, make_backend
from claimledger.inbox.settings import Settings
from claimledger.kb import find_note, open_index
from claimledger.kb.notes import Note, json_safe
from claimledger.kb.titles import new_claim, title_problem
from claimledger.ledger import known_record_ids, resolve_id
from claimledger.planner.claims import edit_claim
from claimledger.schemas import validation_errors
from claimledger.workspace import Workspace

MAX_EVIDENCE_CHARS = 2000
MAX_BODY_CHARS = 20_000
PROVENANCE_KEYS = ("runs", "commits", "sources")


def checked_title(title: str) -> str:
    """The title when the extraction worker would write it unchanged; else UnsafeTitleError."""
    problem = title_problem(title)
    if problem is None and safe_title(title) != title:
        cleaned = safe_title(title)
        problem = (
            f"not a clean claim title: the extraction worker would write {cleaned!r}"
            if cleaned
            else "a claim title is a proposition of at least three words"
        )
    if problem:
        raise UnsafeTitleError(problem, repr(title[:80]))
    return title


def wiki_links(titles: list[str] | tuple[str, ...] | None) -> list[str]:
    """Claim titles (plain or as [[Title]]) as [[links]], each a title a link can hold."""
    links = []
    for raw in titles or []:
        title = raw.strip()
        if title.startswith("[[") and title.endswith("]]"):
            title = title[2:-2]
        problem = title_problem(title)
        if problem:
            raise UnsafeTitleError(f"link target: {problem}", repr(raw[:80]))
        links.append(f"[[{title}]]")
    return links


def write_claim(
    ws: Workspace,
    title: str,
    *,
    domain: str,
    description: str,
    source: str,
    confidence: str = "experimental",
    body: str = "",
    runs: list[str] | None = None,
    sources: list[str] | None = None,
    effect: dict[str, Any] | None = None,
    depends_on: list[str] | None = None,
    challenged_by: list[str] | None = None,
    branches: list[str] | None = None,
) -> dict[str, Any]:
    """Write a new claim into kb/<domain>/<title>.md with status `proposed`; its path, title,
    status and the claim it may duplicate (flagged for review), else a ClaimledgerError.

    The title is taken in Unicode's composed form (NFC), as the extraction worker writes it."""
    title = checked_title(unicodedata.normalize("NFC", title))
    fields = {
        "domain": domain,
        "description": clean_text(description, MAX_DESCRIPTION_CHARS),
        "confidence": confidence,
        "source": clean_text(source, 500),
        "status": "proposed",
        "provenance": provenance(ws, runs, sources),
        "effect": effect,
        "depends_on": wiki_links(depends_on),
        "challenged_by": wiki_links(challenged_by),
        "branches": [clean_text(b, 200) for b in branches or []],
        "review": duplicate_check(ws, title, effect),
    }
    path = new_claim(ws, title, {k: v for k, v in fields.items() if v}, clean_text(body))
    flagged = fields["review"][0]["related"] if fields["review"] else None
    return {
        "path": ws.relative(path),
        "title": title,
        "status": "proposed",
        "possible_duplicate_of": flagged,
    }


def duplicate_check(
    ws: Workspace, title: str, effect: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Refuse a claim the kb already makes; a review flag when one is close (as the worker).

    With an effect, the same param, from, to and platform is the same claim, whatever the
    wording; without one, a title at the duplicate threshold of similarity is."""
    settings = Settings.from_workspace(ws)
    claims = ClaimIndex.load(ws, make_backend(ws, settings.similarity))
    same = claims.get(title) or (claims.find_effect(effect) if effect else None)
    near = next(iter(claims.nearest(title, 1)), None)
    if same is None and near and near.score >= settings.duplicate_threshold and not effect:
        same = claims.get(near.title)
    if same is not None:
        raise ClaimledgerError(
            f"[[{same.title}]] already makes this claim: it already exists, add your evidence "
            "to it instead (the MCP tool enrich_claim)"
        )
    if near is None or near.score < settings.review_threshold:
        return []
    flag = {"reason": "possible-duplicate", "related": f"[[{near.title}]]"}
    return [{**flag, "score": round(near.score, 4), "date": dt.date.today().isoformat()}]


def enrich_claim(
    ws: Workspace,
    title: str,
    evidence: str,
    who: str,
    runs: list[str] | None = None,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """Add evidence from `who` to an existing claim: a dated line under its '## Evidence'
    heading, the runs and sources merged into its provenance, last_evaluated set to today.
    The same evidence twice is added once (changed is then False)."""
    rel = claim_file(ws, title)
    found = provenance(ws, runs, sources)
    text = " ".join(clean_text(evidence, MAX_EVIDENCE_CHARS).split())
    entry = f"evidence from {who}: {text}"
    changed = edit_claim(ws, rel, lambda note: _add_evidence(ws, note, entry, found))
    return {"path": rel, "title": Path(rel).stem, "changed": changed}


def claim_file(ws: Workspace, title: str) -> str:
    """The workspace-relative path of the claim a title names, inside the claims folder."""
    with open_index(ws) as conn:
        row = find_note(conn, title)
    path = (ws.root / row["path"]).resolve()
    if row["type"] != "claim" or ws.claims_dir.resolve() not in path.parents:
        raise NotFoundError(f"{row['path']} is not a claim in {ws.claims_dir.name}/")
    return str(row["path"])


def _add_evidence(ws: Workspace, note: Note, entry: str, found: dict[str, list[str]]) -> bool:
    """Append the evidence line and merge provenance; False when it is there already."""
    if entry in note.body:
        return False
    old = (note.metadata.get("provenance") or {}) if isinstance(note.metadata, dict) else {}
    merged = {
        key: list(dict.fromkeys([*(old.get(key) or []), *found.get(key, [])]))
        for key in PROVENANCE_KEYS
        if old.get(key) or found.get(key)
    }
    today = dt.date.today()
    updates: dict[str, Any] = {"last_evaluated": today}
    if merged:
        updates["provenance"] = merged
    errors = validation_errors(ws.schemas_dir, "claim", json_safe({**note.metadata, **updates}))
    if errors:
        detail = "; ".join(f"{where}: {message}" for where, message in errors)
        raise ClaimledgerError(f"the claim would not be valid: {detail}")
    note.set_fields(updates)
    text = note.body if note.body.endswith("\n") else note.body + "\n"
    if EVIDENCE_HEADING not in text:
        text += f"\n{EVIDENCE_HEADING}\n\n"
    note.body = text + f"- {today.isoformat()}, {entry}\n"
    return True


def provenance(
    ws: Workspace, runs: list[str] | None, sources: list[str] | None
) -> dict[str, list[str]]:
    """Provenance from run ids (or unique prefixes) the ledger knows and source files inside
    the inbox; NotFoundError for any other."""
    found: dict[str, list[str]] = {}
    if runs:
        known = known_record_ids(ws)
        ids = [resolve_id(ws, run) for run in runs]
        unknown = [rid for rid in ids if rid not in known]
        if unknown:
            raise NotFoundError(f"no ledger record {unknown[0]}")
        found["runs"] = list(dict.fromkeys(ids))
    if sources:
        found["sources"] = list(dict.fromkeys(source_path(ws, s) for s in sources))
    return found


def source_path(ws: Workspace, source: str) -> str:
    """The workspace-relative path of a source file inside the inbox; NotFoundError if none."""
    inbox = ws.inbox_dir.resolve()
    path = (ws.root / source).resolve()
    if inbox not in path.parents or not path.is_file():
        raise NotFoundError(f"no source file {source!r} in {ws.relative(inbox)}/")
    return ws.relative(path)
