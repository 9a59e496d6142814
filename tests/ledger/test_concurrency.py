"""Many writers at once: 8 processes each adding 1,000 runs, while querying, lose nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from claimledger.ledger import known_record_ids, runs, verify
from claimledger.ledger.store import records_dir
from claimledger.workspace import Workspace

WORKER = """
import sys, time
from pathlib import Path
from claimledger.ledger import add_run, append_record, best_run, build_run
from claimledger.workspace import Workspace
root, k = sys.argv[1], int(sys.argv[2])
ws = Workspace.open(root)
while not (Path(root) / "go").exists():
    time.sleep(0.005)
shared = [build_run(branch="shared", commit=f"s{i}", platform="cpu-2core-60s", status="keep",
          metrics={"val_bpb": 1.5}, agent="everyone", started="2026-11-22T10:00:00Z")
          for i in range(10)]
for i in range(1000):
    add_run(ws, branch=f"b{i % 7}", commit=f"{k}-{i}", platform="cpu-2core-60s",
            status="keep" if i % 3 else "discard", metrics={"val_bpb": 1 + (i * 7919 % 1000) / 1e4},
            agent=f"agent-{k}")
    if i % 100 == 0:
        append_record(ws, shared[i // 100])  # the same record from every process at once
    if i % 250 == 0:
        best_run(ws, "cpu-2core-60s")  # index updates racing with each other and the writers
print("done")
"""


@pytest.mark.slow
def test_eight_processes_adding_a_thousand_runs_each_lose_nothing(ws: Workspace) -> None:
    # fsync off: durability against power cuts is not what this checks; atomicity is.
    (ws.root / "claimledger.toml").write_text("[ledger]\nfsync = false\n")
    ws = Workspace.open(ws.root)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(ws.root), str(k)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(8)
    ]
    time.sleep(0.5)  # let them all start, then release them together
    (ws.root / "go").touch()
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    assert len(runs(ws)) == 8010
    assert len(runs(ws, branch="shared")) == 10
    assert len(known_record_ids(ws)) == 8010
    assert verify(ws) == []
    assert not list(Path(records_dir(ws)).rglob(".*.tmp"))
