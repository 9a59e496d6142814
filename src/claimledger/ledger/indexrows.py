"""Turning record files into index rows: read, check, extract the queried columns, insert.

Checking a file means hashing, parsing and validating it; for a large first index this runs
in worker processes (one per core) while the main process inserts the rows.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from claimledger.ledger.records import decode_record

FILE_PATTERN = re.compile(r"([0-9a-f]{64})\.json")
CHUNK = 2000
PARALLEL_FROM = 8000  # below this, starting worker processes costs more than it saves
GONE = "(removed while indexing)"  # not a problem of the ledger: such rows are skipped


class FileRow(NamedTuple):
    """A record file: its name under records/ ("ab/<id>.json"), size and time (-1 until read)."""

    name: str
    shard: str
    size: int
    mtime_ns: int


class Decoded(NamedTuple):
    """A checked file: its problem, or the record's id, kind, body and kind-specific row.

    Tuples, because big indexes send these between processes and tuples pickle fastest.
    """

    file: FileRow
    problem: str | None
    rid: str = ""
    kind: str = ""
    body: str = ""
    supersedes: str | None = None
    kind_row: tuple[Any, ...] = ()


def decode_files(
    root: Path, files: list[FileRow], schemas_dir: Path, fingerprint: str
) -> Iterator[list[Decoded]]:
    """Check files in chunks, in parallel when there are many; yield each chunk's rows."""
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    workers = min(os.cpu_count() or 1, 4)
    if len(files) < PARALLEL_FROM or workers < 2:
        for chunk in chunks:
            yield decode_chunk(root, chunk, schemas_dir, fingerprint)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(decode_chunk, root, c, schemas_dir, fingerprint) for c in chunks]
        for job in jobs:
            yield job.result()


def decode_chunk(
    root: Path, files: list[FileRow], schemas_dir: Path, fingerprint: str
) -> list[Decoded]:
    """Check each file of a chunk (runs in a worker process for big indexes)."""
    return [_decode_one(root, row, schemas_dir, fingerprint) for row in files]


def _decode_one(root: Path, row: FileRow, schemas_dir: Path, fingerprint: str) -> Decoded:
    """Read and check one file; its size and time come from the open file (one syscall)."""
    try:
        with open(os.path.join(root, row.name), "rb") as handle:
            stat = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        return Decoded(row, GONE)
    except OSError as exc:
        return Decoded(row, f"unreadable: {exc.strerror or exc}")
    row = row._replace(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    match = FILE_PATTERN.fullmatch(row.name.split("/")[-1])
    if match is None:
        return Decoded(row, "not a record file: names are <sha256 hex>.json")
    rid = match.group(1)
    if rid[:2] != row.shard:
        return Decoded(row, f"in folder {row.shard}/ but its name says {rid[:2]}/")
    record, problem = decode_record(rid, data, schemas_dir, fingerprint)
    if record is None:
        return Decoded(row, problem)
    kind, supersedes = record["kind"], record.get("supersedes")
    return Decoded(row, None, rid, kind, data.decode("utf-8"), supersedes, _kind_row(rid, record))


def _kind_row(rid: str, record: dict[str, Any]) -> tuple[Any, ...]:
    """The columns that queries filter and sort on, for the kinds that have a table."""
    get = record.get
    kind = record["kind"]
    if kind == "run":
        val_bpb = get("metrics", {}).get("val_bpb")
        return (
            rid, get("platform"), get("branch"), get("status"), val_bpb, get("commit"),
            get("parent_commit"), get("agent"), get("started"), get("source_row"), get("proposal"),
        )  # fmt: skip
    if kind == "adopt":
        return (
            rid, get("branch"), get("from_branch"), get("commit"), get("platform"), get("created"),
        )  # fmt: skip
    if kind == "lease":
        return (rid, get("proposal"), get("agent"), get("since"), get("until"), get("created"))
    return ()


KIND_INSERTS = {
    "run": "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "adopt": "INSERT OR REPLACE INTO adopts VALUES (?,?,?,?,?,?)",
    "lease": "INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?,?)",
}


def insert_rows(conn: sqlite3.Connection, decoded: list[Decoded]) -> None:
    """Insert checked files into the tables (the caller holds a transaction)."""
    bad = [d for d in decoded if d.problem and d.problem != GONE]
    conn.executemany(
        "INSERT OR REPLACE INTO bad_files VALUES (?,?,?,?)",
        [(d.file.name, d.file.size, d.file.mtime_ns, d.problem) for d in bad],
    )
    good = [d for d in decoded if d.problem is None]
    conn.executemany(
        "INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?)",
        [(d.rid, d.kind, d.body, d.supersedes, d.file.size, d.file.mtime_ns) for d in good],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO superseded VALUES (?,?)",
        [(d.supersedes, d.rid) for d in good if d.supersedes],
    )
    for kind, sql in KIND_INSERTS.items():
        rows = [d.kind_row for d in good if d.kind == kind]
        if rows:
            conn.executemany(sql, rows)
    # Run counts per branch, platform and status, kept up to date so that `branches` need
    # not count 100,000 runs on every call.
    counts = Counter(
        (row[2], row[1], row[3]) for row in (d.kind_row for d in good if d.kind == "run")
    )
    conn.executemany(
        "INSERT INTO branch_counts VALUES (?,?,?,?) ON CONFLICT (branch, platform, status) "
        "DO UPDATE SET n = n + excluded.n",
        [(*key, n) for key, n in counts.items()],
    )


def record_of(body: str, rid: str) -> dict[str, Any]:
    """The dict the API returns for an indexed record: its content plus its `id`."""
    record = json.loads(body)
    record["id"] = rid
    return record
