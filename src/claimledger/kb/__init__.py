"""The knowledge base: claim notes, wiki-links, the graph, the SQLite index, lint.

Public API:
    read_note, parse_text, write_note, Note  -- notes with byte-preserving writes
    scan_body, Link                          -- [[wiki-links]] in a body
    refresh_index, open_index, IndexStats     -- the rebuildable SQLite cache
    find_note, show_note, search_notes       -- reading through the index
    all_notes, IndexedNote, claim_notes, ClaimNote
                                             -- every note / every claim, in one query
    query_note, MAX_QUERY_BYTES              -- the bounds of a search query
    build_graph, summarize, export_graph     -- the networkx graph
    lint, Finding                            -- problems in the vault
    new_claim, check_title, title_problem    -- safe titles and new claims
    review_queue, ReviewItem, accept, reject, retire, merge, rename_note
                                             -- human review; renames keep links valid
    obsidian_check                           -- lint check: what Obsidian cannot read
"""

from claimledger.kb.graph import build_graph, export_graph, neighbourhood, summarize
from claimledger.kb.index import IndexStats, open_index, refresh_index
from claimledger.kb.links import Link, normalize_key, scan_body
from claimledger.kb.lint import Finding, lint
from claimledger.kb.notes import Note, parse_text, read_note, write_note
from claimledger.kb.obsidian import obsidian_check
from claimledger.kb.queries import (
    MAX_QUERY_BYTES,
    ClaimNote,
    IndexedNote,
    all_notes,
    claim_notes,
    find_note,
    query_note,
    search_notes,
    show_note,
)
from claimledger.kb.rename import rename_note
from claimledger.kb.review import ReviewItem, accept, merge, reject, retire, review_queue
from claimledger.kb.titles import check_title, new_claim, title_problem

__all__ = [
    "MAX_QUERY_BYTES",
    "ClaimNote",
    "Finding",
    "IndexStats",
    "IndexedNote",
    "Link",
    "Note",
    "ReviewItem",
    "accept",
    "all_notes",
    "build_graph",
    "check_title",
    "claim_notes",
    "export_graph",
    "find_note",
    "lint",
    "merge",
    "neighbourhood",
    "new_claim",
    "normalize_key",
    "obsidian_check",
    "open_index",
    "parse_text",
    "query_note",
    "read_note",
    "refresh_index",
    "reject",
    "rename_note",
    "retire",
    "review_queue",
    "scan_body",
    "search_notes",
    "show_note",
    "summarize",
    "title_problem",
    "write_note",
]
