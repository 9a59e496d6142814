"""Damaged SQLite caches are rebuilt from the files, and `index` leaves no orphan workers.

The caches are built and read by the real CLI in subprocesses, then damaged as a disk or a
crash does it: garbage over one page, a truncated file, a garbage header.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import AUTORESEARCH

CLI = [sys.executable, "-c", "from claimledger.cli import main; main()"]
TSV = AUTORESEARCH / "h100-mar8-results.tsv"
SHOWN_TITLE = "AdamW with a short linear warmup is a stable default for training small GPT models"


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run claimledger in a subprocess (which inherits PYTHONPATH) on a workspace."""
    command = [*CLI, "-C", str(ws), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def checkpointed(db: Path) -> Path:
    """The database with its WAL folded in, so that damage to the file is damage to the data."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def page_size(db: Path) -> int:
    size = int.from_bytes(db.read_bytes()[16:18], "big")
    return 65536 if size == 1 else size


def page_count(db: Path) -> int:
    return db.stat().st_size // page_size(db)


def overwrite_page(db: Path, page: int) -> None:
    """Garbage over one whole page (numbered from 1), as a bad sector or a torn write leaves."""
    size = page_size(checkpointed(db))
    with open(db, "r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(random.Random(page).randbytes(size))


def overwrite_middle_page(db: Path) -> None:
    overwrite_page(db, page_count(db) // 2 + 1)


def truncate_half(db: Path) -> None:
    """Cut the file after half of its pages, as a copy or a crash that stopped midway leaves."""
    os.truncate(checkpointed(db), page_count(db) // 2 * page_size(db))


def garbage_header(db: Path) -> None:
    with open(checkpointed(db), "r+b") as handle:
        handle.write(random.Random(0).randbytes(100))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "middle page": overwrite_middle_page,
    "truncated": truncate_half,
    "header": garbage_header,
}


def root_page(db: Path, name: str) -> int:
    """The root page of a table or index: every query that reads it reads that page."""
    with closing(sqlite3.connect(db)) as conn:
        sql = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        return conn.execute(sql, (name,)).fetchone()[0]


def healthy(db: Path) -> bool:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def count_rows(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def assert_repaired(done: subprocess.CompletedProcess[str], db: Path) -> None:
    """No traceback, a warning that names the damaged file, and a sound file afterwards."""
    assert "Traceback" not in done.stderr, done.stderr
    assert f"{db} is damaged" in done.stderr
    assert healthy(db)


# ---------------------------------------------------------------- the kb index


@pytest.fixture
def kb_ws(workspace: Path) -> Path:
    """The embedded workspace with its kb index built by `claimledger index`."""
    done = cli(workspace, "index")
    assert done.returncode == 0, done.stderr
    return workspace


def kb_db(ws: Path) -> Path:
    return ws / ".claimledger" / "index.sqlite"


@pytest.mark.parametrize("rebuild", [False, True], ids=["index", "index --rebuild"])
@pytest.mark.parametrize("damage", DAMAGES)
def test_index_command_rebuilds_a_damaged_kb_index(kb_ws: Path, damage: str, rebuild: bool) -> None:
    db = kb_db(kb_ws)
    notes = count_rows(db, "notes")
    DAMAGES[damage](db)
    done = cli(kb_ws, "index", *(["--rebuild"] if rebuild else []))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{notes} notes: {notes} added")
    assert "full rebuild" in done.stdout
    assert_repaired(done, db)
    assert count_rows(db, "notes") == notes


# Commands, and a table each reads whatever it is asked.
KB_READS = {
    "search": (["search", "warmup", "--json"], "notes_fts_data"),
    "show": (["show", SHOWN_TITLE, "--json"], "keys"),
    "lint": (["lint", "--json"], "links"),
}


@pytest.mark.parametrize("command", KB_READS)
def test_kb_commands_read_past_a_damaged_page(kb_ws: Path, command: str) -> None:
    args, table = KB_READS[command]
    db = kb_db(kb_ws)
    before = cli(kb_ws, *args)
    overwrite_page(db, root_page(db, table))
    after = cli(kb_ws, *args)
    # lint exits 1 on findings, and the embedded vault has some: the same as before.
    assert (after.returncode, after.stdout) == (before.returncode, before.stdout), after.stderr
    assert_repaired(after, db)


@pytest.mark.parametrize("damage", ["truncated", "header"])
def test_kb_commands_rebuild_an_index_damaged_at_rest(kb_ws: Path, damage: str) -> None:
    db = kb_db(kb_ws)
    before = cli(kb_ws, "search", "learning rate", "--json")
    DAMAGES[damage](db)
    after = cli(kb_ws, "search", "learning rate", "--json")
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    assert_repaired(after, db)


# ---------------------------------------------------------------- the ledger index


@pytest.fixture
def ledger_ws(workspace: Path) -> Path:
    """The embedded workspace with 126 imported runs, indexed by the import."""
    if not TSV.exists():
        pytest.skip(f"{TSV} is absent")
    args = ["--branch", "autoresearch/mar8", "--platform", "cuda-H100-300s"]
    done = cli(workspace, "ledger", "import", str(TSV), *args)
    assert done.returncode == 0, done.stderr
    return workspace


def ledger_db(ws: Path) -> Path:
    return ws / ".claimledger" / "ledger.sqlite"


@pytest.mark.parametrize("rebuild", [False, True], ids=["index", "index --rebuild"])
@pytest.mark.parametrize("damage", DAMAGES)
def test_ledger_index_command_rebuilds_a_damaged_index(
    ledger_ws: Path, damage: str, rebuild: bool
) -> None:
    db = ledger_db(ledger_ws)
    records = count_rows(db, "records")
    DAMAGES[damage](db)
    done = cli(ledger_ws, "ledger", "index", "--json", *(["--rebuild"] if rebuild else []))
    assert done.returncode == 0, done.stderr
    assert_repaired(done, db)
    assert count_rows(db, "records") == records


LEDGER_READS = {
    "best": ["ledger", "best", "--json"],
    "log": ["ledger", "log", "--all", "--json"],
    "branches": ["ledger", "branches", "--json"],
}


@pytest.mark.parametrize("command", LEDGER_READS)
def test_ledger_commands_read_past_a_damaged_page(ledger_ws: Path, command: str) -> None:
    db = ledger_db(ledger_ws)
    before = cli(ledger_ws, *LEDGER_READS[command])
    assert before.returncode == 0, before.stderr
    overwrite_page(db, root_page(db, "records"))
    after = cli(ledger_ws, *LEDGER_READS[command])
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    assert_repaired(after, db)


@pytest.mark.parametrize("damage", ["truncated", "header"])
def test_ledger_commands_rebuild_an_index_damaged_at_rest(ledger_ws: Path, damage: str) -> None:
    db = ledger_db(ledger_ws)
    before = cli(ledger_ws, *LEDGER_READS["log"])
    DAMAGES[damage](db)
    after = cli(ledger_ws, *LEDGER_READS["log"])
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    assert_repaired(after, db)


# ---------------------------------------------------------------- the inbox dedup cache


class FakeModel:
    """Stands in for the sentence-transformers model: a fixed vector per text."""

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        rows = [np.random.default_rng(zlib.crc32(t.encode())).random(384) for t in texts]
        matrix = np.array(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.mark.parametrize("damage", DAMAGES)
def test_embedding_cache_is_rebuilt_when_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    from claimledger.inbox import dedup

    monkeypatch.setattr(dedup, "_sentence_model", FakeModel)
    db = tmp_path / "embeddings.sqlite"
    texts = [f"Claim {i}: a wider MLP lowers val_bpb at depth {i}" for i in range(300)]
    expected = dedup.EmbeddingBackend(db).encode(texts)
    DAMAGES[damage](db)
    with caplog.at_level(logging.WARNING):
        vectors = dedup.EmbeddingBackend(db).encode(texts)
    np.testing.assert_array_equal(vectors, expected)
    assert f"{db} is damaged" in caplog.text
    assert healthy(db)
    assert count_rows(db, "vectors") == len(texts)


# ---------------------------------------------------------------- index workers


def write_vault(root: Path, notes: int) -> None:
    """A workspace of many small linked claims: enough for `index` to run for seconds."""
    folder = root / "kb" / "optimizer"
    folder.mkdir(parents=True)
    (root / "ledger").mkdir()
    for i in range(notes):
        (folder / f"Claim number {i} holds.md").write_text(
            f"---\ntype: claim\ndomain: optimizer\ndescription: note {i}\nconfidence: likely\n"
            f"source: test\ncreated: 2026-01-01\n---\nSee [[Claim number {i + 1} holds]].\n"
        )


def children(pid: int) -> set[int]:
    """The processes whose parent is pid, from /proc/*/stat."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_index_workers_die_with_a_killed_index(tmp_path: Path) -> None:
    from claimledger.kb.batches import worker_count

    if worker_count() < 2:
        pytest.skip("one CPU: the index runs without worker processes")
    write_vault(tmp_path, 20_000)
    index = subprocess.Popen([*CLI, "-C", str(tmp_path), "index"], stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        assert wait_for(lambda: bool(children(index.pid)), 60)
        time.sleep(0.3)  # the pool starts its workers together: let every one be seen
        workers = children(index.pid)
        assert index.poll() is None, "the index ended before it could be killed"
        index.send_signal(signal.SIGKILL)
        index.wait()
        assert wait_for(lambda: not any(alive(pid) for pid in workers), 5)
    finally:
        for pid in [index.pid, *workers]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
