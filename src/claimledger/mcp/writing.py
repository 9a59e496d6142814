"""MCP tools that write notes: a source into inbox/, a new claim or evidence for one into kb/.

What an agent sends is untrusted, as an LLM's output is to the extraction worker, and meets the
same rules: a claim title must already be what the worker's `safe_title` would make of it (a
proposition of words that is a safe file name), every field is validated against the claim
schema before anything is written, provenance must name runs the ledger knows and sources that
exist in the inbox, and no path leaves kb/ or inbox/. A refused call writes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from claimledger.errors import ClaimledgerError, NotFoundError, UnsafeTitleError
from claimledger.inbox.claims import EVIDENCE_HEADING, MAX_DESCRIPTION_CHARS, clean_text, safe_title
from claimledger.kb.notes import Note, json_safe
from claimledger.kb.titles import title_problem
from claimledger.mcp.reading import ClaimName, jsonable
from claimledger.schemas import validation_errors
from claimledger.workspace import Workspace

MAX_EVIDENCE_CHARS = 2000
MAX_BODY_CHARS = 20_000
Titles = Annotated[
    list[str] | None, Field(description="Claim titles (plain or as [[Title]]).", max_length=50)
]
Runs = Annotated[
    list[str] | None,
    Field(description="Ledger run ids (or unique prefixes) that back it.", max_length=100),
]
Sources = Annotated[
    list[str] | None,
    Field(
        description="Inbox files it rests on, e.g. a run report inbox/2026-...md.", max_length=50
    ),
]


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


def wiki_links(titles: list[str] | None) -> list[str]:
    """Claim titles as [[links]], each checked to be a title a link can hold."""
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


class WriteTools:
    """The note-writing tools of the MCP server; `ws` is the workspace, `agent` who writes."""

    ws: Workspace
    agent: str

    def add_source(
        self,
        title: Annotated[str, Field(min_length=1, max_length=300, description="Its title.")],
        body: Annotated[str, Field(max_length=200_000, description="The material, markdown.")],
        author: Annotated[str | None, Field(description="Who wrote it.")] = None,
        url: Annotated[str | None, Field(description="Where the original is.")] = None,
        domain: Annotated[str | None, Field(description="Primary domain, for routing.")] = None,
        format: Annotated[  # the source schema's field name
            str, Field(description="paper, thread, report, note ... (weighs the evidence).")
        ] = "note",
    ) -> dict[str, Any]:
        """Put raw material (a paper's notes, a thread, an observation) into inbox/ as an
        unprocessed source; the extraction worker turns it into claims later. The same title
        and body again returns the existing file."""
        from claimledger.inbox import add_source

        fields = {"author": author, "url": url, "domain": domain, "format": format}
        path = add_source(
            self.ws,
            title=clean_text(title, 300),
            body=clean_text(body),
            fields={k: clean_text(v, 500) for k, v in fields.items() if v},
        )
        return {"path": self.ws.relative(path), "title": clean_text(title, 300)}

    def write_claim(
        self,
        title: Annotated[
            str,
            Field(
                description="The claim as an arguable proposition; it becomes the file name, "
                "so no / \\ : * ? \" < > | # ^ [ ], e.g. 'Raising muon_lr from 0.03 to 0.06 "
                "lowers val_bpb on cpu-2core-tok200K'."
            ),
        ],
        domain: Annotated[str, Field(description="Primary domain (claimledger.toml [kb]).")],
        description: Annotated[str, Field(min_length=1, description="A sentence beyond it.")],
        confidence: Annotated[
            Literal["proven", "likely", "experimental", "speculative"],
            Field(description="experimental: your runs show it; speculative: reasoning only."),
        ] = "experimental",
        body: Annotated[
            str, Field(max_length=MAX_BODY_CHARS, description="The argument, with [[links]].")
        ] = "",
        runs: Runs = None,
        sources: Sources = None,
        effect: Annotated[
            dict[str, Any] | None,
            Field(
                description="The measured effect: {param, from, to, metric: val_bpb, delta "
                "(metric(to) - metric(from)), n, platform}."
            ),
        ] = None,
        depends_on: Titles = None,
        challenged_by: Titles = None,
        branches: Annotated[list[str] | None, Field(description="Branches it is about.")] = None,
    ) -> dict[str, Any]:
        """Write a new claim into kb/<domain>/<title>.md with status `proposed` (a reviewer
        makes it active), provenance checked against the ledger and the inbox, fields checked
        against the claim schema. Refuses unsafe titles and existing claims: to add evidence
        to a claim that exists, use enrich_claim."""
        from claimledger.kb import new_claim

        checked_title(title)
        fields = {
            "domain": domain,
            "description": clean_text(description, MAX_DESCRIPTION_CHARS),
            "confidence": confidence,
            "source": f"{self.agent} via claimledger mcp",
            "status": "proposed",
            "provenance": self._provenance(runs, sources),
            "effect": effect,
            "depends_on": wiki_links(depends_on),
            "challenged_by": wiki_links(challenged_by),
            "branches": [clean_text(b, 200) for b in branches or []],
            "review": self._duplicate_check(title, effect),
        }
        path = new_claim(self.ws, title, {k: v for k, v in fields.items() if v}, clean_text(body))
        flagged = fields["review"][0]["related"] if fields["review"] else None
        return {
            "path": self.ws.relative(path),
            "title": title,
            "status": "proposed",
            "possible_duplicate_of": flagged,
        }

    def _duplicate_check(self, title: str, effect: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Refuse a claim the kb already makes; a review flag when one is close (as the worker).

        With an effect, the same param, from, to and platform is the same claim, whatever the
        wording; without one, a title at the duplicate threshold of similarity is."""
        from claimledger.inbox.dedup import ClaimIndex, make_backend
        from claimledger.inbox.settings import Settings

        settings = Settings.from_workspace(self.ws)
        claims = ClaimIndex.load(self.ws, make_backend(self.ws, settings.similarity))
        same = claims.get(title) or (claims.find_effect(effect) if effect else None)
        near = next(iter(claims.nearest(title, 1)), None)
        if same is None and near and near.score >= settings.duplicate_threshold and not effect:
            same = claims.get(near.title)
        if same is not None:
            raise ClaimledgerError(
                f"[[{same.title}]] already makes this claim: add your evidence with enrich_claim"
            )
        if near is None or near.score < settings.review_threshold:
            return []
        flag = {"reason": "possible-duplicate", "related": f"[[{near.title}]]"}
        return [{**flag, "score": round(near.score, 4), "date": dt.date.today().isoformat()}]

    def enrich_claim(
        self,
        title: ClaimName,
        evidence: Annotated[
            str,
            Field(min_length=1, max_length=MAX_EVIDENCE_CHARS, description="What was found."),
        ],
        runs: Runs = None,
        sources: Sources = None,
    ) -> dict[str, Any]:
        """Add evidence to an existing claim: a dated line under its '## Evidence' heading,
        the runs and sources merged into its provenance, last_evaluated set to today. Does not
        change its confidence (the planner's evidence step does, from the ledger). The same
        evidence twice is added once."""
        from claimledger.planner.claims import edit_claim

        rel = self._claim_file(title)
        provenance = self._provenance(runs, sources)
        text = " ".join(clean_text(evidence, MAX_EVIDENCE_CHARS).split())
        entry = f"evidence from {self.agent}: {text}"
        changed = edit_claim(self.ws, rel, lambda note: self._add_evidence(note, entry, provenance))
        return {"path": rel, "title": Path(rel).stem, "changed": changed}

    def _claim_file(self, title: str) -> str:
        """The workspace-relative path of the claim a title names, inside the claims folder."""
        from claimledger.kb import find_note, open_index

        with open_index(self.ws) as conn:
            row = find_note(conn, title)
        path = (self.ws.root / row["path"]).resolve()
        if row["type"] != "claim" or self.ws.claims_dir.resolve() not in path.parents:
            raise NotFoundError(f"{row['path']} is not a claim in {self.ws.claims_dir.name}/")
        return str(row["path"])

    def _add_evidence(self, note: Note, entry: str, provenance: dict[str, list[str]]) -> bool:
        """Append the evidence line and merge provenance; False when it is there already."""
        if entry in note.body:
            return False
        old = (note.metadata.get("provenance") or {}) if isinstance(note.metadata, dict) else {}
        merged = {
            key: list(dict.fromkeys([*(old.get(key) or []), *provenance.get(key, [])]))
            for key in ("runs", "commits", "sources")
            if old.get(key) or provenance.get(key)
        }
        today = dt.date.today()
        updates: dict[str, Any] = {"last_evaluated": today}
        if merged:
            updates["provenance"] = merged
        errors = validation_errors(
            self.ws.schemas_dir, "claim", json_safe({**note.metadata, **updates})
        )
        if errors:
            detail = "; ".join(f"{where}: {message}" for where, message in errors)
            raise ClaimledgerError(f"the claim would not be valid: {detail}")
        note.set_fields(updates)
        body = note.body if note.body.endswith("\n") else note.body + "\n"
        if EVIDENCE_HEADING not in body:
            body += f"\n{EVIDENCE_HEADING}\n\n"
        note.body = body + f"- {today.isoformat()}, {entry}\n"
        return True

    def _provenance(self, runs: list[str] | None, sources: list[str] | None) -> dict[str, Any]:
        """Provenance from run ids the ledger knows and source files inside the inbox."""
        from claimledger.ledger import known_record_ids, resolve_id

        provenance: dict[str, Any] = {}
        if runs:
            known = known_record_ids(self.ws)
            ids = [resolve_id(self.ws, run) for run in runs]
            unknown = [rid for rid in ids if rid not in known]
            if unknown:
                raise NotFoundError(f"no ledger record {unknown[0]}")
            provenance["runs"] = list(dict.fromkeys(ids))
        if sources:
            provenance["sources"] = list(dict.fromkeys(self._source_path(s) for s in sources))
        return jsonable(provenance)

    def _source_path(self, source: str) -> str:
        inbox = self.ws.inbox_dir.resolve()
        path = (self.ws.root / source).resolve()
        if inbox not in path.parents or not path.is_file():
            raise NotFoundError(f"no source file {source!r} in {self.ws.relative(inbox)}/")
        return self.ws.relative(path)
