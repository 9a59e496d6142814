"""Sync through a bare git remote: clones converge to the same records in any order."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from claimledger.errors import SyncError
from claimledger.ledger import append_records, build_run, known_record_ids, record_path, sync
from claimledger.workspace import Workspace

from .conftest import PLATFORM

GIT_ENV = {
    "GIT_AUTHOR_NAME": "tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def clones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Workspace, Workspace]:
    """Two clones of one workspace repository, sharing a bare remote."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user-level git config leaks in
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    first = tmp_path / "a"
    for folder in ("kb", "ledger/records"):
        (first / folder).mkdir(parents=True)
    (first / "kb" / "README.md").write_text("claims live here\n")
    (first / ".gitignore").write_text(".claimledger/\n")
    (first / "claimledger.toml").write_text("# a workspace\n")
    git(first, "init", "--quiet", "-b", "main")
    git(first, "add", ".")
    git(first, "commit", "--quiet", "-m", "workspace")
    git(first, "remote", "add", "origin", str(remote))
    git(first, "push", "--quiet", "-u", "origin", "main")
    git(tmp_path, "clone", "--quiet", str(remote), str(tmp_path / "b"))
    return Workspace.open(first), Workspace.open(tmp_path / "b")


def add(ws: Workspace, agent: str, count: int, start: int = 0) -> set[str]:
    """Write `count` distinct runs of one agent; return their ids."""
    records = [
        build_run(branch=f"{agent}/b{i % 5}", commit=f"{agent}{i}", platform=PLATFORM,
                  status="keep", metrics={"val_bpb": 1 + i / 1e4}, agent=agent,
                  started=f"2026-11-22T10:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(start, start + count)
    ]  # fmt: skip
    return set(append_records(ws, records, durable=False))


@pytest.mark.parametrize("order", ["a-then-b", "b-then-a"])
def test_two_clones_converge_in_either_order(
    clones: tuple[Workspace, Workspace], order: str
) -> None:
    a, b = clones if order == "a-then-b" else clones[::-1]
    expected = add(a, "alice", 500) | add(b, "bob", 500)
    assert sync(a).committed == 500
    result = sync(b)
    assert (result.committed, result.received) == (500, 500)
    assert sync(a).received == 500
    assert known_record_ids(a) == known_record_ids(b) == expected


@pytest.mark.slow
def test_interleaved_adds_and_syncs_converge(clones: tuple[Workspace, Workspace]) -> None:
    a, b = clones
    expected = add(a, "alice", 250) | add(b, "bob", 250)
    expected |= add(a, "both", 5) | add(b, "both", 5)  # the same records in both clones
    sync(a)
    expected |= add(b, "bob", 250, start=250)
    sync(b)
    expected |= add(a, "alice", 250, start=250)
    sync(a)
    sync(b)
    sync(a)
    assert len(expected) == 1005
    assert known_record_ids(a) == known_record_ids(b) == expected
    for ws in clones:
        assert "ledger/records" not in git(ws.root, "status", "--porcelain")


@pytest.mark.slow
def test_simultaneous_syncs_converge(clones: tuple[Workspace, Workspace]) -> None:
    a, b = clones
    expected = add(a, "alice", 500) | add(b, "bob", 500)
    cli = [str(Path(sys.executable).parent / "claimledger"), "-C"]
    procs = [
        subprocess.Popen([*cli, str(ws.root), "ledger", "sync", "--json"], stdout=subprocess.PIPE)
        for ws in clones
    ]
    for proc in procs:
        proc.communicate(timeout=300)
        assert proc.returncode == 0
    sync(a)
    sync(b)
    assert known_record_ids(a) == known_record_ids(b) == expected


def test_a_push_rejected_because_another_agent_pushed_first_is_retried(
    clones: tuple[Workspace, Workspace], tmp_path: Path
) -> None:
    a, b = clones
    expected = add(a, "alice", 20) | add(b, "bob", 20)
    # A pre-push hook in b makes a push from a land between b's pull and b's push, once.
    hook = b.root / ".git" / "hooks" / "pre-push"
    claimledger = Path(sys.executable).parent / "claimledger"
    hook.write_text(
        f"#!/bin/sh\n[ -e {tmp_path}/raced ] && exit 0\ntouch {tmp_path}/raced\n"
        f"{claimledger} -C {a.root} ledger sync >/dev/null\n"
    )
    hook.chmod(0o755)
    result = sync(b)
    assert result.attempts == 2 and result.received == 20
    sync(a)
    assert known_record_ids(a) == known_record_ids(b) == expected


def test_unsound_record_files_are_never_pushed(clones: tuple[Workspace, Workspace]) -> None:
    a, b = clones
    ids = sorted(add(a, "alice", 3))
    sync(a)
    record_path(a, ids[0]).write_bytes(b"edited after commit")
    record_path(a, ids[1]).unlink()
    (record_path(a, ids[2]).parent / "junk.json").write_text("{}")
    result = sync(a)
    assert sorted(s["problem"][:12] for s in result.skipped) == [
        "changed afte",
        "deleted afte",
        "not a record",
    ]
    sync(b)
    assert len(known_record_ids(b)) == 3
    assert b"edited" not in record_path(b, ids[0]).read_bytes()


def test_sync_outside_git_or_without_a_remote_is_a_clear_error(
    ws: Workspace, tmp_path: Path
) -> None:
    lone = tmp_path / "lone"
    shutil.copytree(ws.root, lone)
    with pytest.raises(SyncError, match="not in a git repository"):
        sync(Workspace.open(lone))
    git(lone, "init", "--quiet", "-b", "main")
    with pytest.raises(SyncError, match="no git remote 'origin'"):
        sync(Workspace.open(lone))


def test_the_first_sync_of_a_new_repository_creates_the_remote_branch(
    clones: tuple[Workspace, Workspace], tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh"
    for folder in ("kb", "ledger"):
        (fresh / folder).mkdir(parents=True)
    git(fresh, "init", "--quiet", "-b", "trunk")  # no commit yet
    git(fresh, "remote", "add", "origin", str(tmp_path / "remote.git"))
    ws = Workspace.open(fresh)
    ids = add(ws, "carol", 3)
    assert sync(ws).committed == 3
    listing = git(tmp_path, "--git-dir", str(tmp_path / "remote.git"), "ls-tree", "-r",
                  "--name-only", "trunk")  # fmt: skip
    assert {Path(name).stem for name in listing.split()} == ids
