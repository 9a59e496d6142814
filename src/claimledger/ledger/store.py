"""The record files: atomic, idempotent appends under ledger/records/<ab>/<id>.json.

Each record is written to a temporary file in its final folder, flushed to disk and renamed
into place, so a reader (or a writer killed mid-write) never sees half a record, and many
processes can append at once without a lock: two writers of the same record write the same
bytes to the same name. Temporary files start with a dot and end in `.tmp`; listings skip them.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from claimledger import files
from claimledger.errors import RecordError
from claimledger.ledger.records import (
    canonical_bytes,
    check_record,
    is_record_id,
    schemas_version,
)
from claimledger.workspace import Workspace

RECORDS_FOLDER = "records"
TEMP_SUFFIX = files.TEMP_SUFFIX
STALE_TEMP_SECONDS = 3600


def records_dir(ws: Workspace) -> Path:
    """The folder that holds every record file."""
    return ws.ledger_dir / RECORDS_FOLDER


def record_path(ws: Workspace, rid: str) -> Path:
    """Where the record with this id lives (whether or not it exists)."""
    if not is_record_id(rid):
        raise RecordError(f"not a record id: {rid!r} (64 lowercase hex digits)")
    return records_dir(ws) / rid[:2] / f"{rid}.json"


def durable_writes(ws: Workspace) -> bool:
    """Whether appends fsync (claimledger.toml `[ledger] fsync = false` turns it off)."""
    return bool(ws.config.section("ledger").get("fsync", True))


def append_record(ws: Workspace, record: dict[str, Any]) -> str:
    """Validate and write one record; return its id. Writing it again changes nothing."""
    return append_records(ws, [record])[0]


def append_records(
    ws: Workspace, records: Iterable[dict[str, Any]], durable: bool | None = None
) -> list[str]:
    """Validate and write many records; return their ids in order.

    Every record is checked before any is written, so a batch with a bad record writes
    nothing. `durable` (default: the workspace setting) fsyncs each file and, once per
    folder, the folder itself, so that a power cut cannot lose a record already reported.
    """
    durable = durable_writes(ws) if durable is None else durable
    prepared = []
    fingerprint = schemas_version(ws.schemas_dir)
    for record in records:
        content = {k: v for k, v in record.items() if k != "id"}
        check_record(content, ws.schemas_dir, fingerprint)
        data = canonical_bytes(content)
        prepared.append((hashlib.sha256(data).hexdigest(), data))
    folders: set[Path] = set()
    for rid, data in prepared:
        path = record_path(ws, rid)
        if not _holds(path, data):
            write_atomic(path, data, durable=durable)
            folders.add(path.parent)
    if durable:
        for folder in folders:
            _fsync_folder(folder)
    return [rid for rid, _ in prepared]


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write bytes to path through a temporary file in the same folder and a rename."""
    try:
        files.write_atomic(path, data, durable=durable)
    except OSError as exc:
        raise RecordError(f"cannot write record: {exc.strerror or exc}", path) from exc


def _holds(path: Path, data: bytes) -> bool:
    """True when the file already has exactly these bytes (a damaged copy is rewritten)."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _fsync_folder(folder: Path) -> None:
    """Make the renames in a folder durable (not possible on every OS: then skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_temp_name(name: str) -> bool:
    """True for the temporary file of a write in progress (or of a killed writer)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def remove_stale_temp(entry: os.DirEntry[str], now: float | None = None) -> bool:
    """Delete a temporary file left by a killed writer, once it is an hour old."""
    now = time.time() if now is None else now
    try:
        if now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
            os.unlink(entry.path)
            return True
    except OSError:
        pass
    return False
