"""add_source (schemas/source.schema.json) and listing sources."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from claimledger.inbox import SourceError, add_source, list_sources
from claimledger.kb.notes import json_safe, read_note
from claimledger.schemas import validation_errors
from claimledger.workspace import Workspace

DAY = dt.date(2026, 11, 23)


def test_add_source_writes_a_valid_dated_note(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    path = add_source(
        ws,
        title="Run report: lr 0.01 -> 0.02",
        body="A report.\n",
        fields={"author": "claimledger run (a1)", "format": "run-report", "runs": ["ab"]},
        date=DAY,
    )
    assert path == ws.inbox_dir / "2026-11-23-run-report-lr-0-01-0-02.md"
    note = read_note(path)
    assert note.metadata["status"] == "unprocessed"
    assert note.metadata["date"] == DAY
    assert note.metadata["runs"] == ["ab"]
    assert list(note.metadata)[:3] == ["type", "title", "author"]
    assert validation_errors(ws.schemas_dir, "source", json_safe(note.metadata)) == []
    assert note.body == "\nA report.\n"


def test_add_source_twice_returns_the_same_file_and_writes_nothing(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    first = add_source(ws, title="T", body="b", slug="x", date=DAY)
    mtime = first.stat().st_mtime_ns
    assert add_source(ws, title="T", body="b", slug="x", date=DAY) == first
    assert first.stat().st_mtime_ns == mtime


def test_colliding_names_get_numbered(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    first = add_source(ws, title="Same", body="one", date=DAY)
    second = add_source(ws, title="Same", body="two", date=DAY)
    third = add_source(ws, title="Same!", body="three", date=DAY)
    assert [p.name for p in (first, second, third)] == [
        "2026-11-23-same.md",
        "2026-11-23-same-2.md",
        "2026-11-23-same-3.md",
    ]
    assert add_source(ws, title="Same", body="two", date=DAY) == second


def test_hostile_slug_stays_inside_the_inbox(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    path = add_source(ws, title="../../etc/passwd\x00", body="x", slug="../../x/..", date=DAY)
    assert path.parent == ws.inbox_dir
    assert path.name == "2026-11-23-x.md"
    assert add_source(ws, title="日本語", body="x", date=DAY).name == "2026-11-23-source.md"


def test_invalid_fields_are_refused(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    with pytest.raises(SourceError, match="invalid source"):
        add_source(ws, title="T", body="b", fields={"attempts": -1})


def test_list_sources_filters_by_status(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    assert len(list_sources(ws)) == 4
    assert len(list_sources(ws, status="unprocessed")) == 4
    assert list_sources(ws, status="processed") == []
