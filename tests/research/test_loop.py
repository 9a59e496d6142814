"""The research loop end to end on CPU: two iterations with a tiny model, real subprocesses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from claimledger.ledger import active_leases, runs, verify
from claimledger.planner import list_proposals
from claimledger.research import run_loop
from claimledger.trainer import TrainerOptions
from claimledger.workspace import Workspace
from tests.trainer.conftest import TINY

PLATFORM = f"cpu-{os.cpu_count()}core-tok4K"


@pytest.mark.slow
def test_loop_runs_two_iterations_end_to_end(workspace: Path, corpus: Path) -> None:
    (workspace / "claimledger.toml").write_text('[inbox]\nsimilarity = "lexical"\n')
    ws = Workspace.open(workspace)
    data = shutil.copytree(corpus, workspace / "corpus")  # runs train only inside the workspace
    overrides = dict(setting.split("=") for setting in TINY)
    options = TrainerOptions(data=data, device="cpu", threads=1, overrides=overrides)
    events: list[str] = []
    result = run_loop(ws, 2, 1, options=options, platform=PLATFORM, on_event=events.append)

    assert len(result.iterations) == 2 and result.platform.startswith(f"{PLATFORM}-corpus")
    assert events[0].startswith("[baseline]") and any(e.startswith("[2/2]") for e in events)
    recorded = runs(ws, platform=result.platform)
    assert len(recorded) == 3  # the baseline, then one seed per iteration
    answered = list_proposals(ws, status="answered")
    assert {p.id for p in answered} == {it.proposal for it in result.iterations}
    assert all(p.answered_by for p in answered) and active_leases(ws) == []
    reports = [it.report for it in result.iterations]
    assert all(r and Path(r).exists() for r in reports)
    assert verify(ws) == []
