"""The inbox: source notes, their lifecycle, the extraction worker and its extractors.

Public API:
    add_source, list_sources, SourceInfo  -- inbox notes (source.schema.json)
    SourceError                           -- a source cannot be written or read

The worker lives in `claimledger.inbox.worker` (`Worker`, `run_once`, `run_loop`,
`WorkerSummary`), imported on its own because it loads numpy and, for the embedding
backend, sentence-transformers.
"""

from claimledger.errors import SourceError
from claimledger.inbox.sources import SourceInfo, add_source, list_sources

__all__ = ["SourceError", "SourceInfo", "add_source", "list_sources"]
