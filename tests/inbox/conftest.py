"""Inbox fixtures: a workspace copy with a fast similarity backend, and helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimledger.inbox.settings import Settings
from claimledger.kb.notes import json_safe, read_note
from claimledger.schemas import validation_errors
from claimledger.workspace import Workspace

# The lexical backend needs no model; tests of the real model are in test_dedup.py.
CONFIG = """\
[inbox]
similarity = "lexical"
lease_seconds = 600
"""


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    """The embedded workspace copied to tmp_path, with the lexical similarity backend."""
    (workspace / "claimledger.toml").write_text(CONFIG)
    return Workspace.open(workspace)


@pytest.fixture
def settings(ws: Workspace) -> Settings:
    return Settings.from_workspace(ws)


def claim_notes(ws: Workspace) -> dict[str, dict]:
    """Every claim file's title -> frontmatter, checking each one is whole and valid."""
    notes = {}
    for path in sorted(ws.claims_dir.rglob("*.md")):
        note = read_note(path)
        assert not note.problems, path
        assert validation_errors(ws.schemas_dir, "claim", json_safe(note.metadata)) == [], path
        notes[path.stem] = note.metadata
    return notes


def files_outside(ws: Workspace, before: set[Path]) -> list[Path]:
    """Files that appeared anywhere in the workspace but kb/, inbox/ and the cache."""
    allowed = (ws.claims_dir, ws.inbox_dir, ws.cache_dir)
    now = {p for p in ws.root.rglob("*") if p.is_file()}
    return [p for p in now - before if not any(a in p.parents for a in allowed)]
