"""The file watcher: a real `claimledger watch` process, and refreshes that read only what it
journals, checked against a full rebuild of the same files after every kind of change."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from claimledger.errors import ClaimledgerError
from claimledger.kb import open_index, refresh_index
from claimledger.kb.watch import (
    JOURNAL_NAME,
    Changes,
    Journal,
    changes_since,
    run_watcher,
    watch_folder,
    watcher_running,
)
from claimledger.workspace import Workspace

CLI = [sys.executable, "-c", "from claimledger.cli import main; main()"]


def start_watcher(root: Path) -> subprocess.Popen[str]:
    """A watcher process, returned once it says that it is watching."""
    process = subprocess.Popen(
        [*CLI, "-C", str(root), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("watching"), (line, process.stderr.read() if process.stderr else "")
    return process


def stop_watcher(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


@pytest.fixture
def watched(workspace: Path) -> Iterator[tuple[Workspace, subprocess.Popen[str]]]:
    ws = Workspace.open(workspace)
    refresh_index(ws)
    process = start_watcher(workspace)
    yield ws, process
    if process.poll() is None:
        stop_watcher(process)


def index_dump(ws: Workspace) -> dict[str, object]:
    """The index's content by path (row ids differ between builds), without a refresh."""
    with open_index(ws, refresh=False) as conn:

        def rows(sql: str) -> list[tuple[object, ...]]:
            return sorted(tuple(row) for row in conn.execute(sql))

        return {
            "notes": rows("SELECT path, role, sha256, size, mtime_ns, title, h1 FROM notes"),
            "keys": rows(
                "SELECT n.path, k.key, k.kind FROM keys k JOIN notes n ON n.id = k.note_id"
            ),
            "links": rows(
                "SELECT n.path, l.kind, l.target, l.key, l.line FROM links l"
                " JOIN notes n ON n.id = l.note_id"
            ),
            "problems": rows(
                "SELECT n.path, p.code, p.line FROM problems p JOIN notes n ON n.id = p.note_id"
            ),
            "attachments": rows("SELECT path, name FROM attachments"),
        }


def assert_same_as_rebuild(ws: Workspace) -> None:
    watched_view = index_dump(ws)
    refresh_index(ws, rebuild=True)
    assert index_dump(ws) == watched_view


def note_paths(ws: Workspace) -> list[str]:
    return sorted(ws.vault_files().notes)


def edit(ws: Workspace, rng: random.Random) -> str:
    rel = rng.choice(note_paths(ws))
    with open(ws.root / rel, "a", encoding="utf-8") as handle:
        handle.write(f"\nSee [[{Path(rng.choice(note_paths(ws))).stem}]].\n")
    return "edit"


def create(ws: Workspace, rng: random.Random) -> str:
    (ws.root / "kb" / f"New claim {rng.randrange(10**6)}.md").write_text(
        "---\ntype: claim\n---\nA new note linking [[Missing target]].\n", encoding="utf-8"
    )
    return "create"


def delete(ws: Workspace, rng: random.Random) -> str:
    (ws.root / rng.choice(note_paths(ws))).unlink()
    return "delete"


def rename(ws: Workspace, rng: random.Random) -> str:
    rel = rng.choice(note_paths(ws))
    os.replace(ws.root / rel, (ws.root / rel).with_name(f"Renamed {rng.randrange(10**6)}.md"))
    return "rename"


def touch_only(ws: Workspace, rng: random.Random) -> str:
    path = ws.root / rng.choice(note_paths(ws))
    stamp = path.stat().st_mtime + 5
    os.utime(path, (stamp, stamp))
    return "touch"


def attach(ws: Workspace, rng: random.Random) -> str:
    (ws.root / "kb" / f"figure-{rng.randrange(10**6)}.png").write_bytes(b"\x89PNG")
    return "attach"


def detach(ws: Workspace, rng: random.Random) -> str:
    figures = sorted((ws.root / "kb").glob("figure-*.png"))
    if figures:
        rng.choice(figures).unlink()
    return "detach"


def hidden(ws: Workspace, rng: random.Random) -> str:
    (ws.root / "kb" / f".draft-{rng.randrange(10**6)}.md").write_text("hidden\n")
    return "hidden"


CHANGES: list[Callable[[Workspace, random.Random], str]] = [
    edit,
    create,
    delete,
    rename,
    touch_only,
    attach,
    detach,
    hidden,
]


def test_refreshes_read_only_what_the_watcher_journals_and_match_a_rebuild(
    watched: tuple[Workspace, subprocess.Popen[str]],
) -> None:
    ws, _ = watched
    rng = random.Random(7)
    first = refresh_index(ws)
    assert not first.watched  # the index predates this watcher's journal: one full scan
    assert refresh_index(ws).watched
    for step in range(24):
        done = [rng.choice(CHANGES)(ws, rng) for _ in range(rng.randint(1, 3))]
        stats = refresh_index(ws)
        assert stats.watched, (step, done)
        assert stats.files == len(note_paths(ws)), (step, done)
        if step % 6 == 5:
            assert_same_as_rebuild(ws)
            assert refresh_index(ws).watched  # a rebuild stores the journal position too
    assert_same_as_rebuild(ws)


def test_a_new_folder_or_a_symlink_makes_the_next_refresh_scan_every_file(
    watched: tuple[Workspace, subprocess.Popen[str]],
) -> None:
    ws, _ = watched
    refresh_index(ws)
    (ws.root / "kb" / "new-folder").mkdir()
    (ws.root / "kb" / "new-folder" / "Inside.md").write_text("---\ntype: claim\n---\nx\n")
    stats = refresh_index(ws)
    assert not stats.watched and stats.added == 1
    assert refresh_index(ws).watched

    target = note_paths(ws)[0]
    (ws.root / "kb" / "Link.md").symlink_to(ws.root / target)
    assert not refresh_index(ws).watched
    # While the vault holds a symlink, a change to the file it leads to is not an event of
    # the link: every refresh scans, and sees the change through the link.
    with open(ws.root / target, "a", encoding="utf-8") as handle:
        handle.write("\nchanged through the link\n")
    stats = refresh_index(ws)
    assert not stats.watched and stats.updated == 2
    (ws.root / "kb" / "Link.md").unlink()
    assert not refresh_index(ws).watched
    assert refresh_index(ws).watched
    assert_same_as_rebuild(ws)


def test_a_killed_watcher_leaves_refreshes_correct_and_a_new_one_takes_over(
    watched: tuple[Workspace, subprocess.Popen[str]],
) -> None:
    ws, process = watched
    refresh_index(ws)
    assert refresh_index(ws).watched
    process.kill()
    process.wait(timeout=20)
    assert not watcher_running(ws)
    create(ws, random.Random(1))
    started = time.perf_counter()
    stats = refresh_index(ws)
    assert not stats.watched and stats.added == 1
    assert time.perf_counter() - started < 1.5  # no wait for an answer that cannot come
    replacement = start_watcher(ws.root)
    try:
        assert not refresh_index(ws).watched  # a new journal: one full scan
        edit(ws, random.Random(2))
        stats = refresh_index(ws)
        assert stats.watched and stats.updated == 1
    finally:
        stop_watcher(replacement)
    assert not (watch_folder(ws) / JOURNAL_NAME).exists()


def test_a_second_watcher_is_refused(watched: tuple[Workspace, subprocess.Popen[str]]) -> None:
    ws, _ = watched
    done = subprocess.run(
        [*CLI, "-C", str(ws.root), "watch"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "already runs" in done.stderr


def journal_in(tmp_path: Path) -> tuple[Journal, Path]:
    folder = tmp_path / "watch"
    folder.mkdir()
    return Journal(folder), folder / JOURNAL_NAME


def read(path: Path, cookie: str, token: str | None) -> Changes | None:
    from claimledger.kb.watch import _read_journal

    return _read_journal(path, cookie, token)


def test_journal_positions_lost_events_and_foreign_tokens(tmp_path: Path) -> None:
    journal, path = journal_in(tmp_path)
    journal.add(["cookie", "c1"])
    first = read(path, "c1", None)
    assert first is not None and first.paths is None and first.token
    assert read(path, "c2", first.token) is None  # not journaled yet: keep waiting
    journal.add(["file", "kb/a.md"])
    journal.add(["file", "kb/a.md"])  # repeated: written once
    journal.add(["file", "kb/b.md", "kb/c.md"])
    journal.add(["cookie", "c2"])
    second = read(path, "c2", first.token)
    assert second is not None and second.paths == {"kb/a.md", "kb/b.md", "kb/c.md"}
    assert path.read_text().count("kb/a.md") == 1
    journal.add(["rescan", "events were lost"])
    journal.add(["cookie", "c3"])
    third = read(path, "c3", second.token)
    assert third is not None and third.paths is None and third.token
    for foreign in ("other:12", f"{second.token}9999", "no-colon", ""):
        changes = read(path, "c3", foreign)
        assert changes is not None and changes.paths is None
    journal.start()  # a new journal: old tokens name nothing in it
    journal.add(["cookie", "c4"])
    fourth = read(path, "c4", third.token)
    assert fourth is not None and fourth.paths is None
    journal.close()
    assert not path.exists()


def test_no_watcher_means_no_wait(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    started = time.perf_counter()
    assert changes_since(ws, "anything:1") == Changes(None, None)
    assert time.perf_counter() - started < 0.1
    stats = refresh_index(ws)
    assert not stats.watched and stats.added > 0


def test_too_few_inotify_watches_is_a_clear_error_that_leaves_no_watcher(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel refuses a watch (ENOSPC: fs.inotify.max_user_watches reached): the error names
    the workspace and the sysctl, and no journal or lock is left to make refreshes wait."""
    from watchdog.observers import Observer

    def refuse(self: object) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(Observer, "start", refuse)
    ws = Workspace.open(workspace)
    for _ in range(2):  # the lock was released: a second try fails the same way
        with pytest.raises(ClaimledgerError) as caught:
            run_watcher(ws)
        assert caught.value.path == str(ws.root)
        assert "fs.inotify.max_user_watches" in caught.value.problem
    assert not (watch_folder(ws) / JOURNAL_NAME).exists()
    assert not watcher_running(ws)
    assert changes_since(ws, None) == Changes(None, None)
