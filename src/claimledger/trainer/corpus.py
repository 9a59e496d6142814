"""Which text a run trains on: the bundled corpus or a folder inside the workspace, named and
hashed, so that runs on different text are never compared.

A run on a trivial corpus reaches a low val_bpb that says nothing about any other corpus. So
`claimledger run` (and the MCP run tool, and the loop) train only on the bundled corpus or on a
folder inside the workspace, by its real path (a link that leads out of the workspace is
refused, and prepare.py skips links out of the folder). Every run record names its corpus,
`{name, hash}`: the folder relative to the workspace (or `stdlib`, the bundled one) and
prepare.py's corpus hash, over every file's path and bytes. A corpus other than the bundled one
is also part of the platform (`cpu-2core-tok200K-corpus1a2b3c4d`, see ledger.with_corpus), so
its runs share no leaderboard, best run or baseline with runs on other text.

Hashing reads every file, so the hash is cached in .claimledger/ under a stamp of the files'
names, sizes, and modification and change times (no user can set a change time back). The
trainer hashes what it actually read as well, and a run whose hash differs is a crash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimledger.errors import InvalidArgumentError, TrainerError
from claimledger.files import write_atomic
from claimledger.ledger import with_corpus
from claimledger.trainer.prepare import (
    PREPARE_VERSION,
    CorpusFile,
    corpus_hash,
    corpus_root,
    iter_corpus,
    list_corpus_files,
)
from claimledger.workspace import Workspace

BUNDLED_NAME = "stdlib"
CACHE_NAME = "corpus-hashes.json"


@dataclass(frozen=True)
class Corpus:
    """A corpus as run records name it: where it is and the hash of its content."""

    name: str  # the folder relative to the workspace root, or BUNDLED_NAME
    hash: str  # prepare.corpus_hash: every file's path and bytes, and the split rule
    bundled: bool = False

    def to_record(self) -> dict[str, str]:
        """The `corpus` field of a run record."""
        return {"name": self.name, "hash": self.hash}

    def platform(self, platform: str) -> str:
        """The platform of runs on this corpus; the bundled corpus adds nothing to it."""
        return platform if self.bundled else with_corpus(platform, self.hash)


def corpus_folder(ws: Workspace, data: Path | str) -> Path:
    """The real path of the folder `data` names (relative to the current folder), refused with
    InvalidArgumentError unless it is a folder inside the workspace."""
    top = ws.root.resolve()
    try:
        folder = Path(data).resolve()
    except (OSError, RuntimeError) as exc:  # a link loop
        raise InvalidArgumentError(f"cannot resolve the corpus folder: {exc}", data) from exc
    if not folder.is_relative_to(top):
        raise InvalidArgumentError(
            f"the corpus must be a folder inside the workspace {top}, not {folder}", data
        )
    if not folder.is_dir():
        raise InvalidArgumentError("no such folder of text files", data)
    return folder


def identify_corpus(ws: Workspace, data: Path | str | None) -> tuple[Path | None, Corpus]:
    """The folder to train on (its real path; None for the bundled corpus) and its Corpus."""
    folder = None if data is None else corpus_folder(ws, data)
    if folder is None:
        return None, Corpus(BUNDLED_NAME, cached_hash(ws, None), bundled=True)
    name = folder.relative_to(ws.root.resolve()).as_posix()
    return folder, Corpus(name, cached_hash(ws, folder))


def cached_hash(ws: Workspace, folder: Path | None) -> str:
    """prepare.corpus_hash of the corpus in `folder` (None: the bundled one), from the cache
    when no file changed since it was computed."""
    root = corpus_root(folder).resolve()
    stamp = _stamp(root, folder is None)
    path = ws.cache_dir / CACHE_NAME
    cache = _read_cache(path)
    known = cache.get(str(root))
    if isinstance(known, dict) and known.get("stamp") == stamp:
        return str(known["hash"])
    digest = content_hash(folder)
    cache[str(root)] = {"stamp": stamp, "hash": digest}
    write_atomic(path, json.dumps(cache, indent=1, sort_keys=True), durable=False)
    return digest


def content_hash(folder: Path | None) -> str:
    """prepare.corpus_hash, reading one file at a time; TrainerError below two text files,
    as the trainer would crash."""
    seen = 0

    def counted() -> Iterator[CorpusFile]:
        nonlocal seen
        for corpus_file in iter_corpus(folder):
            seen += 1
            yield corpus_file

    digest = corpus_hash(counted())
    if seen < 2:
        raise TrainerError("the corpus needs at least two non-empty text files", folder)
    return digest


def _stamp(root: Path, bundled: bool) -> str:
    """A hash of every file's name, size, modification and change time."""
    h = hashlib.sha256(f"prepare v{PREPARE_VERSION}\n".encode())
    for path in list_corpus_files(root, ".py" if bundled else None):
        try:
            st = path.stat()
        except OSError:
            continue
        name = path.relative_to(root).as_posix()
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n".encode())
    return h.hexdigest()


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}
