"""Proposals: written once per experiment and day, read back, listed by status, answered."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from claimledger.errors import NotFoundError, ProposalError
from claimledger.planner import (
    Proposal,
    list_proposals,
    mark_answered,
    proposal_id,
    read_proposal,
    write_proposal,
)
from claimledger.workspace import Workspace

PLATFORM = "cpu-2core-tok200K"


def proposal(diff: dict, day: dt.date = dt.date(2026, 11, 23)) -> Proposal:
    return Proposal(
        id=proposal_id(PLATFORM, diff, day),
        platform=PLATFORM,
        created=day.isoformat(),
        strategy="claims",
        why="value-of-information",
        config_diff=diff,
        set={key: new for key, (_, new) in diff.items()},
        tests=["[[Some claim]]"],
        expected={"metric": "val_bpb", "delta": -0.02},
        body="Tests [[Some claim]].",
    )


def test_proposal_round_trips_through_its_note(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    written = proposal({"embed_lr": [0.03, 0.1]})
    path = write_proposal(ws, written)
    assert path.name == f"{written.id}.md" and written.id.startswith("20261123-")
    read = read_proposal(ws, written.id)
    assert read.config_diff == {"embed_lr": [0.03, 0.1]} and read.set == {"embed_lr": 0.1}
    assert read.tests == ["[[Some claim]]"] and read.status == "open"
    assert read.body.strip() == "Tests [[Some claim]]."


def test_same_experiment_same_day_is_one_file(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    first = write_proposal(ws, proposal({"lr": [0.01, 0.02]}))
    again = proposal({"lr": [0.01, 0.02]})
    again.body = "another argument"
    assert write_proposal(ws, again) == first
    assert "another argument" not in first.read_text()


def test_answered_proposal_lists_its_runs_and_leaves_the_open_list(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    kept = proposal({"lr": [0.01, 0.02]})
    write_proposal(ws, kept)
    write_proposal(ws, proposal({"lr": [0.01, 0.005]}))
    mark_answered(ws, kept.id, ["a" * 64])
    mark_answered(ws, kept.id, ["a" * 64, "b" * 64])
    assert read_proposal(ws, kept.id).answered_by == ["a" * 64, "b" * 64]
    assert [p.id for p in list_proposals(ws, status="answered")] == [kept.id]
    assert len(list_proposals(ws, status="open")) == 1


def test_invalid_proposal_is_refused_and_missing_one_not_found(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    bad = proposal({"lr": [0.01, 0.02]})
    bad.why = "because"
    with pytest.raises(ProposalError, match="why"):
        write_proposal(ws, bad)
    with pytest.raises(NotFoundError):
        read_proposal(ws, "20261123-00000000")
