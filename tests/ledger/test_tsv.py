"""results.tsv import: the real autoresearch logs, crashes never best, re-imports add nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimledger.errors import RecordError
from claimledger.ledger import best_run, import_tsv, runs, verify
from claimledger.workspace import Workspace

from .conftest import FIXTURES

H100 = FIXTURES / "h100-mar8-results.tsv"
M2PRO = FIXTURES / "m2pro-results.tsv"
needs_fixtures = pytest.mark.skipif(not H100.exists(), reason="../shared/fixtures is absent")


def expected_best(path: Path) -> tuple[str, float]:
    """The lowest val_bpb of a kept row, read straight from the file."""
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    kept = [(float(r[1]), r[0]) for r in rows if r[3] == "keep"]
    value, commit = min(kept)
    return commit, value


@needs_fixtures
def test_the_h100_log_imports_with_the_right_best_and_its_crash(ws: Workspace) -> None:
    result = import_tsv(ws, H100, "exp/H100/mar8", "cuda-H100-300s")
    assert (result.rows, len(result.added), result.existing, result.problems) == (126, 126, 0, [])
    commit, value = expected_best(H100)
    assert (result.best["commit"], result.best["metrics"]["val_bpb"]) == (commit, value)
    assert best_run(ws, "cuda-H100-300s")["commit"] == commit
    (crash,) = runs(ws, status="crash")
    assert crash["commit"] == "e05a87d" and "val_bpb" not in crash["metrics"]
    assert "not divisible" in crash["crash_reason"]
    assert crash["time_budget"] == 300 and crash["source_row"] == 17
    assert verify(ws) == []


@needs_fixtures
def test_parents_follow_the_chain_of_kept_commits(ws: Workspace) -> None:
    import_tsv(ws, H100, "exp/H100/mar8", "cuda-H100-300s")
    by_row = {r["source_row"]: r for r in runs(ws)}
    assert "parent_commit" not in by_row[2]  # the baseline
    assert by_row[3]["parent_commit"] == "baseline"
    assert by_row[4]["parent_commit"] == "bea057b"
    assert by_row[6]["parent_commit"] == by_row[5]["parent_commit"] == "7f2a65c"  # 5 discarded


@needs_fixtures
def test_importing_again_adds_nothing(ws: Workspace) -> None:
    import_tsv(ws, M2PRO, "m2pro", "mps-M2Pro-300s")
    again = import_tsv(ws, M2PRO, "m2pro", "mps-M2Pro-300s")
    assert (len(again.added), again.existing) == (0, 25)
    assert len(runs(ws)) == 25
    assert again.best["commit"] == expected_best(M2PRO)[0]


@needs_fixtures
def test_a_longer_version_of_the_log_adds_only_the_new_rows(ws: Workspace, tmp_path: Path) -> None:
    lines = H100.read_text(encoding="utf-8").splitlines(keepends=True)
    partial = tmp_path / "results.tsv"
    partial.write_text("".join(lines[:60]), encoding="utf-8")
    assert len(import_tsv(ws, partial, "b", "cuda-H100-300s").added) == 59
    partial.write_text("".join(lines), encoding="utf-8")
    grown = import_tsv(ws, partial, "b", "cuda-H100-300s")
    assert (len(grown.added), grown.existing) == (67, 59)


@needs_fixtures
def test_the_same_log_on_two_platforms_is_two_sets_of_runs(ws: Workspace) -> None:
    import_tsv(ws, M2PRO, "m2pro", "mps-M2Pro-300s")
    import_tsv(ws, M2PRO, "m2pro", "mps-M2Pro-600s")
    assert len(runs(ws, platform="mps-M2Pro-600s")) == 25
    assert runs(ws, platform="mps-M2Pro-600s")[0]["time_budget"] == 600


def test_bad_rows_are_reported_and_the_rest_imported(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "results.tsv"
    path.write_text(
        "commit\tval_bpb\tmemory_gb\tstatus\tmfu\tdescription\n"
        "aaa\t1.10\t4.0\tkeep\t12.5\tbaseline\n"
        "\n"
        "bbb\tnan-ish\t4.0\tkeep\t1\tbroken number\n"
        "ccc\t0.000000\t0.0\tkeep\t1\tzero but kept\n"
        "ddd\t1.05\t4.0\tmaybe\t1\tbad status\n"
        "eee\t0.000000\t0.0\tcrash\t\t\n"
        "fff\t1.00\t4.0\tdiscard\t\ta tab\tinside\n",
        encoding="utf-8",
    )
    result = import_tsv(ws, path, "b", "cpu-2core-60s")
    assert [p["line"] for p in result.problems] == [4, 5, 6]
    assert len(result.added) == 3
    crash = runs(ws, status="crash")[0]
    assert crash["crash_reason"] == "crashed (no reason logged)" and crash["metrics"] == {}
    assert runs(ws)[0]["metrics"] == {"val_bpb": 1.1, "memory_gb": 4.0, "mfu": 12.5}
    assert runs(ws, status="discard")[0]["description"] == "a tab\tinside"


def test_a_file_without_the_columns_is_refused(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "other.tsv"
    path.write_text("name\tscore\nx\t1\n", encoding="utf-8")
    with pytest.raises(RecordError, match="no column commit, val_bpb, status"):
        import_tsv(ws, path, "b", "cpu-2core-60s")
