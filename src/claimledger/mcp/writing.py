"""MCP tools that write notes: a source into inbox/, a new claim or evidence for one into kb/.

What an agent sends is untrusted, as an LLM's output is to the extraction worker, and meets the
same rules, which live in `claimledger.research.claims` (shared with `claimledger new claim`):
a clean claim title, no claim the kb already makes, provenance of runs the ledger knows and
sources in the inbox, fields valid against the claim schema, no path out of kb/ or inbox/.
A refused call writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from claimledger.inbox.claims import clean_text
from claimledger.mcp.reading import ClaimName
from claimledger.research.claims import MAX_BODY_CHARS, MAX_EVIDENCE_CHARS
from claimledger.workspace import Workspace

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
        from claimledger.research import write_claim

        return write_claim(
            self.ws,
            title,
            domain=domain,
            description=description,
            source=f"{self.agent} via claimledger mcp",
            confidence=confidence,
            body=body,
            runs=runs,
            sources=sources,
            effect=effect,
            depends_on=depends_on,
            challenged_by=challenged_by,
            branches=branches,
        )

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
        from claimledger.research import enrich_claim

        return enrich_claim(self.ws, title, evidence, self.agent, runs, sources)
