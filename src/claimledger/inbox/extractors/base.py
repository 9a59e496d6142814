"""The one interface every extractor implements, and the data that crosses it.

An extractor reads a source and proposes candidates: new claims, or evidence for an existing
claim (`enrich`). It writes nothing; the worker checks titles, finds duplicates and writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from claimledger.inbox.dedup import ClaimIndex, Match
from claimledger.inbox.settings import Settings
from claimledger.workspace import Workspace


@dataclass(frozen=True)
class SourceDoc:
    """A source note as extractors see it."""

    path: Path
    rel: str  # workspace-relative posix path, as written in provenance.sources
    metadata: dict[str, Any]
    body: str

    @property
    def title(self) -> str:
        return str(self.metadata.get("title") or self.path.stem)

    @property
    def attribution(self) -> str:
        """Who said it, for a claim's `source` field."""
        author = self.metadata.get("author")
        return f"{author}, {self.title}" if author else self.title


@dataclass
class Candidate:
    """A proposed claim, or (with `enrich`) evidence for an existing one."""

    title: str
    domain: str
    description: str
    body: str = ""
    confidence: str = "speculative"
    related: list[str] = field(default_factory=list)  # titles to link as [[Title]]
    effect: dict[str, Any] | None = None
    runs: list[str] = field(default_factory=list)
    enrich: str | None = None  # title of an existing claim this is evidence for
    evidence: str = ""  # the line appended under "Evidence" when it enriches


@dataclass
class Extraction:
    """What an extractor found in one source; no candidates means a null result."""

    candidates: list[Candidate]
    notes: str = ""


@dataclass
class Context:
    """What an extractor may consult: the workspace, settings, existing claims, today."""

    ws: Workspace
    settings: Settings
    claims: ClaimIndex
    today: dt.date

    def similar(self, text: str, source: SourceDoc, k: int | None = None) -> list[Match]:
        """Existing claims nearest to `text`, excluding the source's own earlier output."""
        return self.claims.nearest(text, k or self.settings.related_claims, source.rel)

    def domain_for(self, source: SourceDoc) -> str:
        """The source's domain when it is a configured one, else the first configured domain."""
        domain = str(source.metadata.get("domain") or "")
        domains = self.ws.config.domains
        return domain if not domains or domain in domains else domains[0]


class Extractor(Protocol):
    """Turns one source into candidates. `concurrency` sources may be extracted at once."""

    name: str
    concurrency: int

    def extract(self, source: SourceDoc, context: Context) -> Extraction: ...
