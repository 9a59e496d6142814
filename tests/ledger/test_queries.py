"""Runs and queries: best within a platform, crashes and discards never best, corrections."""

from __future__ import annotations

from itertools import pairwise

import pytest

from claimledger.errors import AmbiguousError, NotFoundError, RecordError
from claimledger.ledger import (
    add_run,
    append_records,
    best_run,
    build_run,
    correct_run,
    diff_configs,
    known_branches,
    known_record_ids,
    leaderboard,
    platforms,
    read_record,
    resolve_id,
    retract,
    runs,
    verify,
)
from claimledger.workspace import Workspace

from .conftest import PLATFORM, run


def test_best_is_the_lowest_kept_val_bpb_within_one_platform(ws: Workspace) -> None:
    run(ws, "a", 1.2)
    run(ws, "b", 1.1)
    run(ws, "fast-gpu", 0.9, platform="cuda-H100-300s")
    run(ws, "lucky-discard", 1.0, status="discard")
    run(ws, "crashed", None, status="crash", crash_reason="OOM")
    assert best_run(ws, PLATFORM)["commit"] == "b"
    assert best_run(ws, "cuda-H100-300s")["commit"] == "fast-gpu"
    assert best_run(ws, "cuda-A100-300s") is None
    assert platforms(ws) == {PLATFORM: 4, "cuda-H100-300s": 1}


def test_ties_are_broken_by_id_so_every_clone_agrees(ws: Workspace) -> None:
    ids = [run(ws, c, 1.0) for c in ("x", "y", "z")]
    assert best_run(ws, PLATFORM)["id"] == min(ids)


def test_best_per_branch_and_leaderboard(ws: Workspace) -> None:
    for branch, values in {"a": [1.3, 1.2], "b": [1.25], "c": [1.4, 1.1]}.items():
        for i, value in enumerate(values):
            run(ws, f"{branch}{i}", value, branch=branch)
    board = leaderboard(ws, PLATFORM)
    assert [(r["branch"], r["metrics"]["val_bpb"]) for r in board] == [
        ("c", 1.1),
        ("a", 1.2),
        ("b", 1.25),
    ]
    assert best_run(ws, PLATFORM, "a")["commit"] == "a1"
    assert known_branches(ws) == {"a", "b", "c"}


def test_runs_filter_order_and_limit(ws: Workspace) -> None:
    for i in range(5):
        run(ws, f"c{i}", 1 + i / 10, started=f"2026-11-22T10:0{i}:00Z", branch=f"b{i % 2}")
    assert [r["commit"] for r in runs(ws)] == ["c0", "c1", "c2", "c3", "c4"]
    assert [r["commit"] for r in runs(ws, limit=2)] == ["c3", "c4"]
    assert [r["commit"] for r in runs(ws, branch="b1")] == ["c1", "c3"]
    assert runs(ws, status="crash") == []


def test_the_same_run_recorded_twice_is_one_record(ws: Workspace) -> None:
    first = run(ws, "a", 1.0, started="2026-11-22T10:00:00Z")
    assert run(ws, "a", 1.0, started="2026-11-22T10:00:00Z") == first
    assert len(runs(ws)) == 1


def test_two_agents_with_the_same_numbers_never_collide(ws: Workspace) -> None:
    at = "2026-11-22T10:00:00Z"
    assert run(ws, "a", 1.0, agent="alice", started=at) != run(
        ws, "a", 1.0, agent="bob", started=at
    )


def test_config_diff_is_computed_from_the_parent_commit(ws: Workspace) -> None:
    run(ws, "p", 1.2, config={"lr": 0.02, "opt": {"beta2": 0.95}, "depth": 4})
    rid = run(ws, "c", 1.1, parent_commit="p", config={"lr": 0.04, "opt": {"beta2": 0.95}})
    assert read_record(ws, rid)["config_diff"] == {"depth": [4, None], "lr": [0.02, 0.04]}


def test_config_diff_falls_back_to_the_branch_best(ws: Workspace) -> None:
    run(ws, "best", 1.0, config={"lr": 0.02})
    rid = run(ws, "next", 1.1, config={"lr": 0.03})
    assert read_record(ws, rid)["config_diff"] == {"lr": [0.02, 0.03]}


def test_diff_configs_tells_types_apart() -> None:
    assert diff_configs({"a": 1, "b": True}, {"a": 1.0, "b": True}) == {"a": [1, 1.0]}


def test_a_correction_supersedes_the_old_run(ws: Workspace) -> None:
    wrong = run(ws, "a", 0.5)
    run(ws, "b", 1.0)
    fixed = correct_run(ws, wrong, metrics={"val_bpb": 1.5})
    assert best_run(ws, PLATFORM)["commit"] == "b"
    assert read_record(ws, fixed)["supersedes"] == wrong
    assert [r["id"] for r in runs(ws) if r["commit"] == "a"] == [fixed]
    assert wrong in known_record_ids(ws)  # still there, only hidden
    assert verify(ws) == []


def test_a_retraction_hides_a_run_from_every_query(ws: Workspace) -> None:
    bad = run(ws, "a", 0.5)
    run(ws, "b", 1.0)
    retract(ws, bad[:10], "trained on the validation set")
    assert best_run(ws, PLATFORM)["commit"] == "b"
    assert len(runs(ws)) == 1 and len(runs(ws, include_superseded=True)) == 2


def test_ids_resolve_from_a_unique_prefix(ws: Workspace) -> None:
    rid = run(ws, "a", 1.0)
    assert resolve_id(ws, rid[:6]) == rid
    with pytest.raises(NotFoundError):
        resolve_id(ws, "zz")
    with pytest.raises(NotFoundError):
        read_record(ws, "0" * 64)
    batch = [
        build_run(branch="m", commit=f"c{i}", platform=PLATFORM, status="keep",
                  metrics={"val_bpb": 1.0}, agent="a", started="2026-11-22T10:00:00Z")
        for i in range(600)
    ]  # fmt: skip
    many = sorted(append_records(ws, batch, durable=False))
    shared = next(a[:4] for a, b in pairwise(many) if a[:4] == b[:4])
    with pytest.raises(AmbiguousError):
        resolve_id(ws, shared)


def test_add_run_checks_status_and_fields(ws: Workspace) -> None:
    with pytest.raises(RecordError, match="status"):
        add_run(ws, branch="m", commit="c", platform=PLATFORM, status="kept", metrics={})
    with pytest.raises(RecordError, match="crash_reason"):
        add_run(ws, branch="m", commit="c", platform=PLATFORM, status="crash", metrics={})
    with pytest.raises(RecordError, match="invalid platform"):
        add_run(ws, branch="m", commit="c", platform="gpu 1", status="keep", metrics={"val_bpb": 1})
