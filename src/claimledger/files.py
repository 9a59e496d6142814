"""Writing a file atomically: readers see the old bytes or the new, never half of them.

Every part writes through `write_atomic`, so every file gets the same permissions: a rewritten
file keeps its mode, and a new one gets the process umask's (not mkstemp's private 0600, which
left notes unreadable to the group that shares a vault).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMP_SUFFIX = ".tmp"
NEW_FILE_MODE = 0o666  # narrowed by the umask, as open() and every editor do


def temp_path(path: Path) -> Path:
    """A unique hidden name next to `path` (`.name.<pid>-<random>.tmp`): on the same file
    system, so the rename is atomic, and skipped by every listing of notes and records."""
    return path.parent / f".{path.name[:40]}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"


def write_atomic(
    path: Path, data: bytes | str, *, exclusive: bool = False, durable: bool = True
) -> None:
    """Write `data` (str as UTF-8) to `path` through a temporary file and a rename.

    With exclusive=True an existing file is never replaced (FileExistsError instead); with
    durable=False the bytes are not synced to disk first. Raises OSError."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
    try:
        try:
            _keep_mode(fd, path, exclusive)
            _write_all(fd, payload)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(temp, path)  # atomic, and fails when the name is taken
        else:
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _keep_mode(fd: int, path: Path, exclusive: bool) -> None:
    """Give the new file the permission bits of the one it replaces, if there is one."""
    if exclusive:
        return
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return
    os.fchmod(fd, mode)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
