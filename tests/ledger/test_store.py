"""The record files: atomic idempotent appends, and no partial record after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claimledger.errors import RecordError
from claimledger.ledger import append_record, build_run, read_record, record_path, verify
from claimledger.ledger.records import decode_record, schemas_version
from claimledger.ledger.store import records_dir
from claimledger.workspace import Workspace

from .conftest import PLATFORM

WRITER = """
import sys
from claimledger.ledger import append_record, build_run
from claimledger.workspace import Workspace
ws = Workspace.open(sys.argv[1])
big = "x" * 4_000_000  # a slow write, so that the kill lands inside one
for i in range(10_000):
    append_record(ws, build_run(branch="main", commit=f"c{i}", platform="cpu-2core-60s",
        status="keep", metrics={"val_bpb": 1.0}, agent="writer", description=big + str(i),
        started="2026-11-22T10:00:00Z"))
    print(i, flush=True)
"""


def a_run(commit: str = "abc") -> dict:
    return build_run(
        branch="main", commit=commit, platform=PLATFORM, status="keep",
        metrics={"val_bpb": 1.1}, agent="a", started="2026-11-22T10:00:00Z",
    )  # fmt: skip


def test_append_writes_canonical_bytes_named_by_their_hash(ws: Workspace) -> None:
    rid = append_record(ws, a_run())
    path = record_path(ws, rid)
    assert path.parent.name == rid[:2]
    record, problem = decode_record(
        rid, path.read_bytes(), ws.schemas_dir, schemas_version(ws.schemas_dir)
    )
    assert problem is None and record == a_run()
    assert read_record(ws, rid) == {**a_run(), "id": rid}


def test_appending_the_same_record_again_changes_nothing(ws: Workspace) -> None:
    rid = append_record(ws, a_run())
    stat = record_path(ws, rid).stat()
    assert append_record(ws, {**a_run(), "id": rid}) == rid
    assert record_path(ws, rid).stat().st_mtime_ns == stat.st_mtime_ns
    assert len(list(records_dir(ws).rglob("*.json"))) == 1


def test_a_damaged_copy_is_rewritten_by_appending_the_record_again(ws: Workspace) -> None:
    rid = append_record(ws, a_run())
    record_path(ws, rid).write_bytes(b"garbage")
    append_record(ws, a_run())
    assert verify(ws) == []


def test_an_invalid_record_is_refused_and_nothing_is_written(ws: Workspace) -> None:
    with pytest.raises(RecordError, match="crash_reason"):
        append_record(ws, {**a_run(), "status": "crash"})
    assert not records_dir(ws).exists() or not list(records_dir(ws).rglob("*.json"))


def temp_files(ws: Workspace) -> list[Path]:
    """Temporary files of writes in progress (or of killed writers)."""
    return list(records_dir(ws).rglob(".*.tmp")) if records_dir(ws).exists() else []


def kill_inside_a_write(ws: Workspace) -> None:
    """Start a writer of big records and SIGKILL it while a temporary file exists."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ws.root)], stdout=subprocess.DEVNULL
    )
    before = set(temp_files(ws))
    deadline = time.monotonic() + 60
    while not set(temp_files(ws)) - before and time.monotonic() < deadline:
        time.sleep(0.0005)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()


def test_sigkill_mid_write_leaves_no_partial_record(ws: Workspace) -> None:
    for _ in range(4):
        kill_inside_a_write(ws)
    assert temp_files(ws), "no kill landed inside a write; the test proved nothing"
    fingerprint = schemas_version(ws.schemas_dir)
    for path in records_dir(ws).rglob("*.json"):
        if not path.name.startswith("."):
            assert (
                decode_record(path.stem, path.read_bytes(), ws.schemas_dir, fingerprint)[1] is None
            )
    assert verify(ws) == []
