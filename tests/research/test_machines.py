"""Several machines: two loops, each in its own clone of one workspace, sharing a bare git
remote. Leases travel with the ledger: no experiment is trained twice, and the ledgers
converge to the same records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from claimledger.ledger import (
    active_leases,
    experiment_key,
    known_record_ids,
    lease_holder,
    runs,
    sync,
    take_lease,
    verify,
)
from claimledger.research.loop import configured_remote, lease_shared, scratch_workspace
from claimledger.workspace import Workspace
from tests.ledger.test_sync import GIT_ENV, git

CLAIMLEDGER = Path(sys.executable).parent / "claimledger"
PLATFORM = "cpu-2core-tok4K"  # one step of the default model: a run is mostly start-up
CONFIG = '[inbox]\nsimilarity = "lexical"\n\n[loop]\nsync = "origin"\n'


@pytest.fixture
def machines(
    tmp_path: Path, workspace: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """Two clones of one workspace (with its corpus and `[loop] sync`) and a bare remote."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user-level git config leaks in
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    shutil.copytree(corpus, workspace / "corpus")
    (workspace / "claimledger.toml").write_text(CONFIG)
    (workspace / ".gitignore").write_text(".claimledger/\n")
    git(workspace, "init", "--quiet", "-b", "main")
    git(workspace, "add", ".")
    git(workspace, "commit", "--quiet", "-m", "workspace")
    git(workspace, "remote", "add", "origin", str(remote))
    git(workspace, "push", "--quiet", "-u", "origin", "main")
    other = tmp_path / "machine-b"
    git(tmp_path, "clone", "--quiet", str(remote), str(other))
    return workspace, other


def loop(root: Path, agent: str, iterations: int) -> subprocess.Popen[str]:
    """`claimledger loop` on one machine, as its user would start it."""
    command = [str(CLAIMLEDGER), "-C", str(root), "loop", "--iterations", str(iterations),
               "--seeds", "1", "--platform", PLATFORM, "--data", str(root / "corpus"),
               "--threads", "1", "--agent", agent, "--json"]  # fmt: skip
    env = {**os.environ, "CLAIMLEDGER_AGENT": agent}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def finish(procs: list[subprocess.Popen[str]]) -> list[dict]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out))
    return results


@pytest.mark.slow
def test_two_loops_on_two_machines_never_train_one_experiment_twice(
    machines: tuple[Path, Path],
) -> None:
    a_root, b_root = machines
    # Two rounds, the loops running at the same time in each: they race for the baseline and
    # for the same first proposals (the planner is deterministic and both ledgers are equal).
    for _ in range(2):
        finish([loop(a_root, "alice@machine-a", 2), loop(b_root, "bob@machine-b", 2)])
    a, b = Workspace.open(a_root), Workspace.open(b_root)
    sync(a)  # b's last push came after a's last sync
    sync(b)

    assert known_record_ids(a) == known_record_ids(b)  # converged
    recorded = runs(a)
    assert sorted(r["id"] for r in runs(b)) == sorted(r["id"] for r in recorded)
    ids = [r["id"] for r in recorded]
    assert len(ids) == len(set(ids))
    # Every run is an experiment (the baseline, or a proposal under any of its ids) and a seed
    # trained once: the same config and seed never twice.
    pairs = Counter((experiment_key(r.get("proposal") or "baseline"), r["seed"]) for r in recorded)
    assert all(n == 1 for n in pairs.values()), pairs
    configs = Counter((json.dumps(r["config"], sort_keys=True), r["seed"]) for r in recorded)
    assert all(n == 1 for n in configs.values()), configs
    by_agent = Counter(r["agent"] for r in recorded)
    assert by_agent["alice@machine-a"] >= 1 and by_agent["bob@machine-b"] >= 1, by_agent
    assert len(recorded) >= 5  # a baseline and at least one proposal per loop and round
    for ws in (a, b):
        assert active_leases(ws) == [] and verify(ws) == []
        assert "ledger/records" not in git(ws.root, "status", "--porcelain")


def test_of_two_machines_that_leased_at_once_the_later_push_yields(
    machines: tuple[Path, Path],
) -> None:
    a, b = (Workspace.open(root) for root in machines)
    pid = "20260301-0123abcd"
    take_lease(
        b, pid, "bob", timedelta(hours=1)
    )  # bob leases first (earliest `since`) but has not pushed yet
    assert lease_shared(a, pid, "alice", "origin") is None  # alice pushes first: hers
    assert lease_shared(b, pid, "bob", "origin") == "alice"  # bob's push sees hers: he yields
    # the same experiment planned on bob's machine on another day is still alice's
    assert lease_shared(b, "20260302-0123abcd", "bob", "origin") == "alice"
    sync(a)
    for ws in (a, b):
        assert lease_holder(ws, pid)["agent"] == "alice"
    assert lease_shared(a, "20260301-ffff0000", "alice", None) is None  # no remote: local only


@pytest.mark.parametrize(
    ("setting", "remote"),
    [('sync = "upstream"', "upstream"), ("sync = true", "origin"), ("", None)],
)
def test_the_loop_syncs_with_the_remote_of_claimledger_toml(
    workspace: Path, setting: str, remote: str | None
) -> None:
    (workspace / "claimledger.toml").write_text(f"[loop]\n{setting}\n")
    assert configured_remote(Workspace.open(workspace)) == remote


def test_a_scratch_copy_of_the_workspace_never_syncs(workspace: Path) -> None:
    (workspace / "claimledger.toml").write_text('[loop]\nsync = "origin"\n')
    copy = scratch_workspace(Workspace.open(workspace))
    assert configured_remote(copy) is None
