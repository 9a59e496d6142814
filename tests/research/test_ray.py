"""The research loop on a real local Ray cluster (started here with 2 CPUs, on 127.0.0.1).

A parallel loop of four runs; a Ray worker killed mid-run (a crash record with the reason, one
record per seed); the driver killed and started again (it resumes its leased proposals from
the ledger: nothing lost, nothing twice)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claimledger.ledger import active_leases, runs, verify
from claimledger.planner import list_proposals
from claimledger.research import RayExecutor, run, run_loop
from claimledger.trainer import TrainerOptions
from claimledger.workspace import Workspace
from tests.trainer.conftest import TINY

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

PLATFORM = "cpu-2core-tok4K"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray instance of this test process; its address for other drivers."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir="/tmp/clray-test",
        _node_ip_address="127.0.0.1",
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def tiny(ws: Workspace, corpus: Path) -> TrainerOptions:
    data = ws.root / "corpus"
    if not data.exists():
        shutil.copytree(corpus, data)
    overrides = dict(setting.split("=") for setting in TINY)
    return TrainerOptions(data=data, device="cpu", threads=1, overrides=overrides)


def trainers(marker: str) -> list[tuple[int, int]]:
    """(trainer pid, --parent-pid) of the trainer processes whose command names `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in args]
        if "claimledger.trainer.train" in text and any(marker in a for a in text):
            found.append((int(entry.name), int(text[text.index("--parent-pid") + 1])))
    return found


def test_parallel_loop_of_four_runs(cluster: str, workspace: Path, corpus: Path) -> None:
    (workspace / "claimledger.toml").write_text('[inbox]\nsimilarity = "lexical"\n')
    ws = Workspace.open(workspace)
    executor = RayExecutor(ws.cache_dir, parallel=2)
    assert executor.parallel == 2 and executor.gpus == 0
    events: list[str] = []
    result = run_loop(
        ws,
        3,
        1,
        options=tiny(ws, corpus),
        platform=PLATFORM,
        on_event=events.append,
        executor=executor,
    )
    recorded = runs(ws, platform=result.platform)
    assert len(recorded) == 4, events  # the baseline, then three proposals of one seed
    proposals = [it.proposal for it in result.iterations]
    assert len(proposals) == 3 and len(set(proposals)) == 3  # three distinct experiments
    configs = {json.dumps(r["config"], sort_keys=True) for r in recorded}
    assert len(configs) == 4
    answered = {p.id for p in list_proposals(ws, status="answered")}
    assert set(proposals) <= answered and active_leases(ws) == []
    # two proposals were in flight at once: their runs overlap in time
    later = sorted(recorded[1:], key=lambda r: r["started"])
    assert any(a["finished"] > b["started"] for a, b in itertools.pairwise(later))
    assert verify(ws) == []


def test_a_ray_worker_killed_mid_run_is_a_crash_record(
    cluster: str, workspace: Path, corpus: Path
) -> None:
    ws = Workspace.open(workspace)
    options = tiny(ws, corpus)
    options = TrainerOptions(**{**options.__dict__, "token_budget": 60_000})
    marker = str(ws.root / "corpus")
    killed: list[int] = []

    def kill_the_worker() -> None:
        end = time.monotonic() + 90
        while time.monotonic() < end and not killed:
            for _, worker in trainers(marker):
                time.sleep(1.0)  # mid-run: the trainer has started
                os.kill(worker, signal.SIGKILL)  # the Ray worker process that runs the task
                killed.append(worker)
                break
            time.sleep(0.2)

    watcher = threading.Thread(target=kill_the_worker, daemon=True)
    watcher.start()
    executor = RayExecutor(ws.cache_dir, parallel=1, retries=0)
    result = run(ws, options, 1, platform=PLATFORM, executor=executor)
    watcher.join(timeout=5)
    assert killed, "no trainer process was seen"
    recorded = runs(ws)
    assert len(recorded) == 1  # one record for the one seed, never two
    assert recorded[0]["status"] == "crash"
    assert "Ray worker died" in recorded[0]["crash_reason"]
    assert result.all_crashed and verify(ws) == []
    deadline = time.monotonic() + 30  # the trainer saw its parent go and stopped
    while trainers(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not trainers(marker)


DRIVER = """
import sys
from pathlib import Path
from claimledger.research import RayExecutor, run_loop
from claimledger.trainer import TrainerOptions
from claimledger.workspace import Workspace

root, address, platform = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
overrides = dict(s.split("=") for s in sys.argv[4:])
ws = Workspace.open(root)
options = TrainerOptions(data=root / "corpus", device="cpu", threads=1, overrides=overrides)
executor = RayExecutor(ws.cache_dir, address=address, parallel=2)
result = run_loop(ws, 2, 2, options=options, platform=platform, agent="driver@test",
                  executor=executor, on_event=lambda text: print(text, flush=True))
print("DONE", len(result.iterations), flush=True)
"""


def test_a_killed_driver_resumes_from_the_ledger(
    cluster: str, workspace: Path, corpus: Path
) -> None:
    (workspace / "claimledger.toml").write_text('[inbox]\nsimilarity = "lexical"\n')
    ws = Workspace.open(workspace)
    tiny(ws, corpus)
    # the baseline first, so that the driver goes straight to leased proposals
    options = TrainerOptions(**{**tiny(ws, corpus).__dict__, "token_budget": 4000})
    run(ws, options, 1, platform=PLATFORM, agent="driver@test")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO)}
    command = [sys.executable, "-c", DRIVER, str(ws.root), cluster, PLATFORM, *TINY]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and not (active_leases(ws) and trainers(str(ws.root))):
            time.sleep(0.3)
        assert active_leases(ws), "the driver never leased a proposal"
    finally:
        first.kill()  # SIGKILL: no cleanup at all
        first.wait()
    held = {lease["proposal"] for lease in active_leases(ws)}
    assert held and all(lease["agent"] == "driver@test" for lease in active_leases(ws))
    before = len(runs(ws))

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed" in second.stdout or "DONE" in second.stdout
    answered = {p.id: p for p in list_proposals(ws, status="answered")}
    assert held <= set(answered), second.stdout  # what the dead driver held was finished
    recorded = runs(ws)
    per_proposal: dict[str, list[Any]] = {}
    for record in recorded:
        if record.get("proposal"):
            per_proposal.setdefault(record["proposal"], []).append(record["seed"])
    # nothing twice: each proposal has each of its two seeds exactly once
    assert all(sorted(seeds) == [0, 1] for seeds in per_proposal.values()), per_proposal
    assert len(recorded) >= before + 2 and active_leases(ws) == []
    assert verify(ws) == []
