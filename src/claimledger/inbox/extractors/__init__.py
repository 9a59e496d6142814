"""Extractors behind one interface (`Extractor.extract(source, context) -> Extraction`).

`offline` (default, deterministic), `run-report` (chosen for `format: run-report` sources)
and `llm` (litellm). Each module is imported only when its extractor is used.
"""

from __future__ import annotations

from claimledger.errors import ConfigError
from claimledger.inbox.extractors.base import (
    Candidate,
    Context,
    Extraction,
    Extractor,
    SourceDoc,
)
from claimledger.inbox.settings import Settings
from claimledger.workspace import Workspace

NAMES = ("offline", "run-report", "llm")
RUN_REPORT_FORMAT = "run-report"


def make_extractor(name: str, ws: Workspace, settings: Settings) -> Extractor:
    """The extractor called `name`, configured from the settings."""
    if name == "offline":
        from claimledger.inbox.extractors.offline import OfflineExtractor

        return OfflineExtractor()
    if name == "run-report":
        from claimledger.inbox.extractors.runreport import RunReportExtractor

        return RunReportExtractor()
    if name == "llm":
        from claimledger.inbox.extractors.llm import LLMExtractor

        return LLMExtractor(settings, ws.cache_dir)
    raise ConfigError(f"unknown extractor {name!r}; one of {', '.join(NAMES)}")


def extractor_name_for(source: SourceDoc, default: str) -> str:
    """Run reports always go to the run-report extractor; everything else to `default`."""
    return "run-report" if source.metadata.get("format") == RUN_REPORT_FORMAT else default


__all__ = [
    "NAMES",
    "Candidate",
    "Context",
    "Extraction",
    "Extractor",
    "SourceDoc",
    "extractor_name_for",
    "make_extractor",
]
