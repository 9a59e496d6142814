"""The inbox: source notes, their lifecycle, the extraction worker and its extractors.

Public API:
    add_source, list_sources, SourceInfo  -- source notes in the inbox
"""

from claimledger.inbox.sources import SourceError, SourceInfo, add_source, list_sources

__all__ = ["SourceError", "SourceInfo", "add_source", "list_sources"]
