"""The SQLite index: incremental updates, rebuild from files, damage recovery."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from claimledger.kb import index as kb_index
from claimledger.kb import open_index, refresh_index, search_notes, show_note
from claimledger.kb.links import key_hash
from claimledger.workspace import VaultFiles, Workspace


def count(ws: Workspace, table: str) -> int:
    with open_index(ws, refresh=False) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def update_with_failing_writer(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, rebuild: bool = False
) -> None:
    """refresh_index with the writer failing at its first batch, as on a full disk."""

    def fail(*_: object) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(kb_index, "_reconcile", fail)
        with pytest.raises(OSError, match="disk full"):
            refresh_index(ws, rebuild=rebuild)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_every_seed_note_is_indexed_and_a_second_run_reads_nothing(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    first = refresh_index(ws)
    notes = len(list((workspace / "kb").rglob("*.md"))) + len(
        list((workspace / "inbox").rglob("*.md"))
    )
    assert first.added == notes and first.rebuilt
    second = refresh_index(ws)
    assert second.unchanged == notes and second.added == second.updated == 0


def test_changed_added_and_removed_files_are_picked_up(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    refresh_index(ws)
    victim = next((workspace / "kb").rglob("*.md"))
    victim.write_text(victim.read_text() + "\nNew words: zyzzyva.\n")
    os.utime(victim, ns=(victim.stat().st_atime_ns, victim.stat().st_mtime_ns + 10**9))
    write(workspace / "kb" / "data" / "Fresh claim.md", "---\ntype: claim\n---\n[[Nowhere]]\n")
    removed = next((workspace / "inbox").glob("*.md"))
    removed.unlink()
    stats = refresh_index(ws)
    assert (stats.updated, stats.added, stats.removed) == (1, 1, 1)
    with open_index(ws, refresh=False) as conn:
        assert search_notes(conn, "zyzzyva")[0]["path"] == ws.relative(victim)


def test_touched_file_with_same_bytes_is_only_restamped(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    refresh_index(ws)
    note = next((workspace / "kb").rglob("*.md"))
    os.utime(note, ns=(note.stat().st_atime_ns, note.stat().st_mtime_ns + 10**9))
    stats = refresh_index(ws)
    assert stats.touched == 1 and stats.updated == 0


def test_deleting_the_cache_loses_nothing(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    refresh_index(ws)
    before = count(ws, "links"), count(ws, "notes")
    for path in (workspace / ".claimledger").iterdir():
        path.unlink()
    refresh_index(ws)
    assert (count(ws, "links"), count(ws, "notes")) == before


def test_a_damaged_database_is_rebuilt(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    refresh_index(ws)
    db = workspace / ".claimledger" / "index.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    stats = refresh_index(ws)
    assert stats.rebuilt and count(ws, "notes") == stats.files
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_show_gives_links_and_backlinks(workspace: Path) -> None:
    write(
        workspace / "kb" / "data" / "Alpha claim.md",
        "---\ntype: claim\n---\n# Alpha claim\n\nsee [[beta CLAIM|b]]\n",
    )
    write(
        workspace / "kb" / "data" / "Beta claim.md",
        "---\ntype: claim\ndepends_on: ['[[Alpha claim]]']\n---\nback to [[Alpha claim#Top]]\n",
    )
    ws = Workspace.open(workspace)
    with open_index(ws) as conn:
        alpha = show_note(ws, conn, "alpha claim")
    assert alpha["links"][0]["path"] == "kb/data/Beta claim.md"
    kinds = sorted(b["kind"] for b in alpha["backlinks"])
    assert kinds == ["depends_on", "link"]
    assert alpha["body"].startswith("# Alpha claim")


def test_backlinks_tell_apart_keys_that_share_a_hash(workspace: Path) -> None:
    """Links are looked up by a 32-bit hash of their key; these two keys share one."""
    assert key_hash("note 29685295") == key_hash("note 32060020")
    for name in ["note 29685295", "note 32060020"]:
        write(workspace / "kb" / "data" / f"{name}.md", f"# {name}\n")
    write(workspace / "kb" / "data" / "Hub.md", "[[Note 29685295]] and [[note 32060020|x]]\n")
    write(workspace / "kb" / "data" / "Other.md", "only [[NOTE 32060020]]\n")
    ws = Workspace.open(workspace)
    with open_index(ws) as conn:
        first = show_note(ws, conn, "note 29685295")["backlinks"]
        second = show_note(ws, conn, "note 32060020")["backlinks"]
    assert [b["path"] for b in first] == ["kb/data/Hub.md"]
    assert [b["path"] for b in second] == ["kb/data/Hub.md", "kb/data/Other.md"]


def test_search_survives_fts_syntax_in_queries(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    with open_index(ws) as conn:
        for query in ['"unbalanced', "AND OR NOT", "lr-warmup*", "()", ""]:
            search_notes(conn, query)
        assert search_notes(conn, "learning rate warmup", note_type="claim")


def test_a_failed_rebuild_keeps_the_old_index(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.open(workspace)
    refresh_index(ws)
    before = count(ws, "notes"), count(ws, "links")
    update_with_failing_writer(ws, monkeypatch, rebuild=True)
    assert (count(ws, "notes"), count(ws, "links")) == before


def test_a_first_build_clears_leftovers_and_a_failed_one_leaves_no_file(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.open(workspace)
    cache = workspace / ".claimledger"
    cache.mkdir(exist_ok=True)
    (cache / "index.sqlite.4242.tmp").write_bytes(b"left by a build that was killed")
    update_with_failing_writer(ws, monkeypatch)
    assert not (cache / "index.sqlite").exists() and not list(cache.glob("*.tmp"))
    stats = refresh_index(ws)
    assert stats.rebuilt and count(ws, "notes") == stats.added == stats.files


def test_a_reader_keeps_its_view_while_the_index_is_rebuilt(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    refresh_index(ws)
    before = count(ws, "notes")
    write(workspace / "kb" / "data" / "Late claim.md", "---\ntype: claim\n---\nLate.\n")
    with open_index(ws, refresh=False) as reader:
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == before
        stats = refresh_index(ws, rebuild=True)
        assert reader.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == before
    assert stats.rebuilt and count(ws, "notes") == before + 1
    db = workspace / ".claimledger" / "index.sqlite"
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_undecodable_and_vanished_files_are_reported_not_fatal(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ws = Workspace.open(workspace)
    (workspace / "kb" / "data" / "Latin one.md").write_bytes(b"---\ntype: claim\n---\ncaf\xe9\n")
    listed = ws.vault_files()
    with_gone = VaultFiles({**listed.notes, "kb/data/Gone.md": "claim"}, listed.attachments)
    monkeypatch.setattr(Workspace, "vault_files", lambda self, refused=None: with_gone)
    stats = refresh_index(ws)
    assert stats.added == len(listed.notes) and "kb/data/Gone.md: cannot read" in caplog.text
    with open_index(ws, refresh=False) as conn:
        problems = kb_index.stored_problems(conn)
    assert ("kb/data/Latin one.md", "encoding") in {(path, p.code) for path, p in problems}


def test_a_parallel_build_that_fails_leaves_nothing_behind(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(450):  # above the threshold where worker processes take over
        write(
            workspace / "kb" / "data" / f"Bulk claim {i}.md",
            f"---\ntype: claim\n---\n[[Bulk claim {i + 1}]]\n",
        )
    ws = Workspace.open(workspace)
    update_with_failing_writer(ws, monkeypatch)
    assert sorted(p.name for p in (workspace / ".claimledger").iterdir()) == [
        ".gitignore",
        "index.lock",
    ]
    stats = refresh_index(ws)
    assert stats.added == stats.files > 450 and count(ws, "links") >= 450


def search_built(ws: Workspace) -> bool:
    with open_index(ws, refresh=False) as conn:
        return conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[
            0
        ] == len(kb_index.SEARCH_TRIGGERS)


def test_search_is_built_by_the_first_search_with_merging_back_on(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    for rebuild in (False, True):  # a first build, then a rebuild in place
        refresh_index(ws, rebuild=rebuild)
        assert not search_built(ws) and count(ws, "notes_fts_docsize") == 0
        with open_index(ws, refresh=False) as conn:
            assert search_notes(conn, "warmup")
            settings = dict(conn.execute("SELECT k, v FROM notes_fts_config WHERE k LIKE '%merge'"))
            assert settings == kb_index.FTS_MERGING_DEFAULT
        assert search_built(ws) and count(ws, "notes_fts_docsize") == count(ws, "notes")


def test_the_texts_are_read_from_the_files_when_search_is_first_built(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    edited, gone, broken = sorted((workspace / "kb").rglob("*.md"))[:3]
    refresh_index(ws)
    assert count(ws, "texts") == 0  # a cold index holds no bodies
    # Changed after indexing, before the first search: searched as they are now.
    edited.write_text(edited.read_text() + "\nLate words: zyzzyva.\n")
    gone.unlink()
    broken.write_bytes(b"---\ntitle: [unclosed\n---\nBytes \xff here: quokka.\n")
    with open_index(ws, refresh=False) as conn:
        assert [h["path"] for h in search_notes(conn, "zyzzyva")] == [ws.relative(edited)]
        assert [h["path"] for h in search_notes(conn, "quokka")] == [ws.relative(broken)]
        assert count(ws, "texts") == count(ws, "notes")
    with open_index(ws) as conn:  # the refresh indexes the changes, the search follows
        assert [h["path"] for h in search_notes(conn, "zyzzyva")] == [ws.relative(edited)]
        assert count(ws, "texts") == count(ws, "notes")


def test_a_built_search_follows_edits_and_removals(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    victim, gone = sorted((workspace / "kb").rglob("*.md"))[:2]
    write(gone, gone.read_text() + "\nOnly here: quokka.\n")
    with open_index(ws) as conn:
        assert [h["path"] for h in search_notes(conn, "quokka")] == [ws.relative(gone)]
    victim.write_text(victim.read_text() + "\nNew words: zyzzyva.\n")
    gone.unlink()
    with open_index(ws) as conn:
        assert [h["path"] for h in search_notes(conn, "zyzzyva")] == [ws.relative(victim)]
        assert search_notes(conn, "quokka") == []
        check = conn.execute(
            "INSERT INTO notes_fts (notes_fts, rank) VALUES ('integrity-check', 1)"
        )
        assert check.rowcount == 1  # FTS5 raises when its index disagrees with the texts


def test_a_new_index_file_is_flushed_while_it_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[int] = []
    monkeypatch.setattr(kb_index, "FDATASYNC", flushed.append)
    path = tmp_path / "file"
    path.write_bytes(b"x")
    with open(path, "rb+") as handle, kb_index.flushing_as_written(handle.fileno(), 0.01):
        fd = handle.fileno()
        deadline = time.monotonic() + 5
        while len(flushed) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    done = len(flushed)
    time.sleep(0.05)
    assert done >= 2 and set(flushed) == {fd}
    assert len(flushed) == done  # the flusher stops with the block
