"""Branches: adoption edges, the forest, and the best run of each branch."""

from __future__ import annotations

import pytest

from claimledger.errors import NotFoundError, RecordError
from claimledger.ledger import adopt, append_record, branches, forest, verify
from claimledger.workspace import Workspace

from .conftest import PLATFORM, run


def test_the_forest_shows_adoption_edges_and_each_best(ws: Workspace) -> None:
    run(ws, "a1", 1.3, branch="A")
    run(ws, "a2", 1.2, branch="A")
    run(ws, "b1", 1.1, branch="B", parent_commit="a2")
    run(ws, "c1", 1.0, branch="C")
    run(ws, "x", None, branch="B", status="crash", crash_reason="NaN loss")
    adopt(ws, "B", "A", platform=PLATFORM, agent="alice", reason="A's depth helps")
    nodes = branches(ws, PLATFORM)
    assert [(n["branch"], n["depth"]) for n in nodes] == [("A", 0), ("B", 1), ("C", 0)]
    b = nodes[1]
    assert b["parent"]["from_branch"] == "A" and b["parent"]["commit"] == "a2"
    assert (b["runs"], b["kept"], b["crashed"]) == (2, 1, 1)
    assert b["best"][PLATFORM]["commit"] == "b1"
    assert nodes[0]["children"] == ["B"]


def test_adopting_without_a_commit_takes_the_best_kept_run(ws: Workspace) -> None:
    run(ws, "a1", 1.2, branch="A")
    run(ws, "a2", 1.1, branch="A")
    run(ws, "a3", 1.0, branch="A", status="discard")
    adopt(ws, "B", "A")
    assert forest(ws).parent["B"]["commit"] == "a2"


def test_the_latest_adoption_makes_the_parent(ws: Workspace) -> None:
    run(ws, "a", 1.2, branch="A")
    run(ws, "c", 1.1, branch="C")
    adopt(ws, "B", "A")
    adopt(ws, "B", "C")
    assert forest(ws).parent["B"]["from_branch"] == "C"


def test_adoption_mistakes_are_refused(ws: Workspace) -> None:
    run(ws, "a", 1.2, branch="A")
    run(ws, "b", 1.1, branch="B")
    with pytest.raises(RecordError, match="itself"):
        adopt(ws, "A", "A")
    with pytest.raises(NotFoundError, match="no runs"):
        adopt(ws, "A", "nowhere")
    with pytest.raises(NotFoundError, match="has commit"):
        adopt(ws, "B", "A", commit="zzz")
    adopt(ws, "B", "A")
    with pytest.raises(RecordError, match="already builds on"):
        adopt(ws, "A", "B")


def test_adoption_needs_a_platform_when_a_branch_ran_on_several(ws: Workspace) -> None:
    run(ws, "a", 1.2, branch="A")
    run(ws, "g", 0.9, branch="A", platform="cuda-H100-300s")
    with pytest.raises(RecordError, match="several platforms"):
        adopt(ws, "B", "A")
    adopt(ws, "B", "A", platform="cuda-H100-300s")
    assert forest(ws).parent["B"]["commit"] == "g"


def test_a_cycle_merged_from_two_machines_is_cut_and_reported(ws: Workspace) -> None:
    run(ws, "a", 1.2, branch="A")
    run(ws, "b", 1.1, branch="B")
    for branch, source, commit, at in (("B", "A", "a", "01"), ("A", "B", "b", "02")):
        append_record(ws, {
            "kind": "adopt", "schema_version": 1, "branch": branch, "from_branch": source,
            "commit": commit, "agent": "x", "created": f"2026-11-22T10:00:{at}.000000Z",
        })  # fmt: skip
    tree = forest(ws)
    assert tree.parent["B"]["from_branch"] == "A" and "A" not in tree.parent
    assert [e["branch"] for e in tree.cyclic] == ["A"]
    assert [n["branch"] for n in branches(ws)] == ["A", "B"]
    assert any("makes a cycle" in f["problem"] for f in verify(ws))
