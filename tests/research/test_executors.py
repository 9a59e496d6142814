"""Executors without Ray: N local trainer subprocesses at once, and batch-aware planning."""

from __future__ import annotations

import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from claimledger.ledger import runs, take_lease, verify
from claimledger.planner import plan
from claimledger.planner.plan import plan_state
from claimledger.research import LocalExecutor, make_executor, run
from claimledger.research.executors import Job, run_all, split_threads
from claimledger.trainer import TrainerOptions
from claimledger.workspace import Workspace
from tests.trainer.conftest import TINY

PLATFORM = "cpu-2core-tok4K"


def tiny_options(ws: Workspace, corpus: Path, **kw: Any) -> TrainerOptions:
    data = ws.root / "corpus"
    if not data.exists():
        shutil.copytree(corpus, data)
    overrides = dict(setting.split("=") for setting in TINY)
    return TrainerOptions(data=data, device="cpu", threads=1, overrides=overrides, **kw)


def test_cli_help_does_not_import_ray() -> None:
    import subprocess

    code = "import sys, claimledger.cli; assert 'ray' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_make_executor_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    from claimledger.errors import ClaimledgerError

    with pytest.raises(ClaimledgerError, match="--address needs --executor ray"):
        make_executor("local", tmp_path, 2, "auto")
    with pytest.raises(ClaimledgerError, match="unknown executor"):
        make_executor("slurm", tmp_path)
    executor = make_executor("local", tmp_path, 3)
    assert isinstance(executor, LocalExecutor) and executor.parallel == 3
    executor.close()


def test_split_threads_shares_the_cores() -> None:
    assert split_threads(TrainerOptions(device="cpu"), 1).threads is None
    assert split_threads(TrainerOptions(device="cpu", threads=3), 4).threads == 3
    assert split_threads(TrainerOptions(device="cpu"), 64).threads == 1
    assert split_threads(TrainerOptions(device="cuda"), 4).threads is None


@pytest.mark.slow
def test_local_parallel_run_records_every_seed_once(workspace: Path, corpus: Path) -> None:
    ws = Workspace.open(workspace)
    options = tiny_options(ws, corpus, token_budget=4000)
    executor = LocalExecutor(ws.cache_dir, parallel=2)
    started = time.monotonic()
    try:
        result = run(ws, options, 2, executor=executor)
    finally:
        executor.close()
    assert [r.seed for r in result.runs] == [0, 1]
    assert all(r.status != "crash" for r in result.runs), result.runs
    recorded = runs(ws)
    assert sorted(r["seed"] for r in recorded) == [0, 1]
    # the two seeds overlapped in time: they ran at once
    (a, b) = sorted(recorded, key=lambda r: r["seed"])
    assert a["started"] < b["finished"] and b["started"] < a["finished"]
    assert verify(ws) == [] and time.monotonic() - started < 120


def test_a_crash_in_a_parallel_batch_is_one_crash_result(tmp_path: Path, corpus: Path) -> None:
    executor = LocalExecutor(tmp_path, parallel=2)
    bad = TrainerOptions(device="cpu", token_budget=4000, overrides={"width": "not-a-number"})
    try:
        done = list(run_all(executor, [Job("x", bad), Job("x", bad)]))
    finally:
        executor.close()
    assert len(done) == 2
    assert all(d.result.crash_kind == "config" and d.started and d.finished for d in done)


def test_plan_with_pending_proposes_distinct_configs(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    platform = "cpu-2core-tok200K"
    batch = plan(ws, platform, k=4)
    ids = [p.id for p in batch]
    assert len(batch) == 4 and len(set(ids)) == 4
    assert len({tuple(sorted(p.set.items())) for p in batch}) == 4
    # in flight (leased by this loop, say): the next proposal differs from all of them
    following = plan(ws, platform, k=1, seed=1, pending=batch)
    assert following and following[0].id not in ids
    state = plan_state(ws, platform, pending=batch)
    assert len(state.pending) in (0, 4)  # fantasies need an incumbent with runs
    assert all(t.run_id.startswith("pending:") for t in state.pending)


def test_leased_proposals_are_not_proposed_again(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    platform = "cpu-2core-tok200K"
    first = plan(ws, platform, k=1)[0]
    take_lease(ws, first.id, "other-agent@elsewhere", timedelta(hours=1))
    again = plan(ws, platform, k=3)
    assert first.id not in {p.id for p in again}
