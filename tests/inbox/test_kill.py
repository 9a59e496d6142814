"""Crash safety: real worker processes killed with SIGKILL at random moments, again and again,
then one clean run; every source must end processed exactly once, with no duplicate claim and
no half-written note."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from claimledger.inbox import add_source
from claimledger.inbox.worker import Worker
from claimledger.kb import normalize_key
from claimledger.kb.notes import read_note
from claimledger.workspace import Workspace
from tests.inbox.conftest import claim_notes

KILLS = 20
SOURCES = 40
KNOBS = ["warmup", "weight decay", "the batch size", "the learning rate", "depth", "width"]
EFFECTS = ["lowers val_bpb", "raises val_bpb", "barely changes val_bpb"]
WORKER = [sys.executable, "-c", "from claimledger.cli import main; main()"]


def setting_sentence(i: int) -> str:
    knob, effect = KNOBS[i % len(KNOBS)], EFFECTS[i % len(EFFECTS)]
    return f"Setting {knob} to {i * 7 + 3} {effect} by {i / 1000:.3f} in run batch {i}."


def synthetic_body(i: int) -> str:
    """Three assertive sentences; every fifth source repeats one of source i-1's."""
    lines = [
        setting_sentence(i),
        f"A model of {i + 2} layers trains {i % 4 + 2} times faster than one of {i + 40} layers.",
        f"Experiment {i} shows that the optimizer {i * 3} is more stable than baseline {i * 5}.",
    ]
    if i % 5 == 4:
        lines[2] = setting_sentence(i - 1)
    return "\n\n".join(lines) + "\n"


def inbox_stamps(ws: Workspace) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in ws.inbox_dir.glob("*.md")}


def wait_for_progress(
    ws: Workspace, stamps: dict[Path, int], workers: list[subprocess.Popen[bytes]]
) -> None:
    """Until some source note changed (a worker took it) or every worker has exited."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and inbox_stamps(ws) == stamps:
        if all(w.poll() is not None for w in workers):
            return
        time.sleep(0.005)


def wait_for_lease(ws: Workspace, workers: list[subprocess.Popen[bytes]]) -> None:
    """Until some source is leased (a worker is inside it) or every worker has exited.

    A kill at a random moment mostly lands between sources; every other round waits for a
    lease so that some kills land inside one."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(w.poll() is not None for w in workers):
        if any("lease_owner:" in p.read_text() for p in ws.inbox_dir.glob("*.md")):
            return
        time.sleep(0.001)


def start_worker(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*WORKER, "-C", str(root), "worker", "--once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_workers_killed_at_random_points_still_process_each_source_exactly_once(
    workspace: Path,
) -> None:
    (workspace / "claimledger.toml").write_text(
        '[inbox]\nsimilarity = "lexical"\nlease_seconds = 1\nmax_attempts = 1000\n'
    )
    ws = Workspace.open(workspace)
    for i in range(SOURCES):
        add_source(
            ws,
            title=f"Synthetic report {i}",
            body=synthetic_body(i),
            fields={"domain": "optimizer"},
        )
    # Compile the modules a worker imports first: in a fresh checkout a worker killed while
    # compiling them leaves no .pyc, and every round would be killed before taking a source.
    warm = [sys.executable, "-c", "import claimledger.cli, claimledger.inbox.worker"]
    subprocess.run(warm, check=True, timeout=120)
    rng = random.Random(6)
    for round_ in range(KILLS):
        stamps = inbox_stamps(ws)
        workers = [start_worker(workspace) for _ in range(1 + (round_ % 3 == 0))]  # sometimes two
        wait_for_progress(ws, stamps, workers)  # start-up takes a second; kill while it works
        # A source takes ~10 ms: kill within a few sources' time, so the work lasts many rounds.
        if round_ % 2 == 0:
            wait_for_lease(ws, workers)
        time.sleep(rng.uniform(0.0, 0.005 if round_ % 2 == 0 else 0.05))
        for process in workers:
            process.send_signal(signal.SIGKILL)  # a no-op once it has exited
            process.wait()
    time.sleep(1.2)  # every lease has expired; stale temporary files are old enough to sweep
    final = subprocess.run([*WORKER, "-C", str(workspace), "worker", "--once"], timeout=120)
    assert final.returncode == 0
    assert Worker(ws).run_once().results == []
    check_exactly_once(ws)
    retaken = [p for p in ws.inbox_dir.glob("*.md") if read_note(p).metadata["attempts"] > 1]
    assert retaken  # some kills did land while a source was leased


def check_exactly_once(ws: Workspace) -> None:
    claims = claim_notes(ws)  # every claim note whole and valid
    extracted: Counter[str] = Counter()
    for path in sorted(ws.inbox_dir.glob("*.md")):
        meta = read_note(path).metadata
        assert meta["status"] == "processed", path
        assert "lease_owner" not in meta
        rel = ws.relative(path)
        for title in meta.get("claims_extracted", []):
            extracted[title] += 1
            assert claims[title]["provenance"]["sources"] == [rel]
        for title in meta.get("enrichments", []):
            body = read_note(next(ws.claims_dir.rglob(f"{title}.md"))).body
            assert body.count(f"evidence from `{rel}`") == 1
    assert all(count == 1 for count in extracted.values())
    new = {t for t, m in claims.items() if m.get("status") == "proposed"}
    assert new == set(extracted)  # no orphan claim from an abandoned attempt
    keys = Counter(normalize_key(t) for t in claims)
    assert max(keys.values()) == 1
    leftovers = [p for p in ws.root.rglob(".*.tmp")]
    assert leftovers == []
