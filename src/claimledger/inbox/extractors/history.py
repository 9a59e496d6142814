"""Training the ranker: examples from processed sources and the claims accepted from them.

A source that lists `claims_extracted` is an example: each of its candidate statements is
labelled by whether the title made from it lies within MATCH cosine similarity of a claim that
was kept. What a reviewer decided counts: a claim rejected in review (retired) is a negative
reference; a claim the worker wrote itself and nobody reviewed yet (`proposed`) is not
evidence either way, so the ranker does not learn from its own output; a claim renamed or
reworded by a human is learned under its current title. A workspace model blends what the
vault taught with the packaged default, more of the vault the more examples it has, and is
kept under .claimledger/extractor/ with a fingerprint of the history it was fitted on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from claimledger.inbox.dedup import Backend
from claimledger.inbox.extractors.ranker import (
    FEATURES,
    MODEL_VERSION,
    LinearModel,
    SourceVectors,
    blend,
    features,
    fit,
)
from claimledger.inbox.extractors.statements import make_title, statements
from claimledger.kb import normalize_key
from claimledger.kb.notes import blocking_problems, read_note, write_text_atomic
from claimledger.workspace import Workspace

log = logging.getLogger("claimledger.inbox")
MATCH = 0.6  # the benchmark's match: a title this close to a kept claim recovers it
MODEL_FILE = "extractor/model.json"
OWN_WORKER = "claimledger worker"
PRIOR_EXAMPLES = 20  # kept references at which the vault and the default weigh the same
THRESHOLDS = np.round(np.arange(0.30, 0.96, 0.05), 2)
RELATIVES = (0.0, 0.5, 0.7, 0.85)


@dataclass
class Example:
    """One source with the claims a curator kept from it (and rejected)."""

    name: str
    title: str
    body: str
    kept: list[str]
    rejected: list[str] = field(default_factory=list)
    exclude: set[str] = field(default_factory=set)  # claim keys born of this source


@dataclass
class Prepared:
    """An example with vectors, features and labels, ready to fit or to score."""

    example: Example
    vectors: SourceVectors
    rows: np.ndarray
    titles: list[str]
    match: np.ndarray  # titles x kept references cosine
    labels: np.ndarray


def reference_title(raw: Any) -> str:
    """A claims_extracted entry as a title: 'a-slug-name.md' -> 'a slug name'."""
    text = str(raw).strip().removesuffix(".md")
    return text.replace("-", " ") if " " not in text else text


def prepare(
    example: Example,
    encode: Callable[[list[str]], np.ndarray],
    claims: list[str],
    claim_vectors: np.ndarray | None,
    lowercase: bool,
    label_encode: Callable[[list[str]], np.ndarray] | None = None,
) -> Prepared:
    """Features of the example's candidates against the given existing claims (those born
    of the example itself left out) and labels from its kept and rejected claims, matched by
    `label_encode` (the sentence model, whatever backend the features use), else `encode`."""
    found = statements(example.body)
    vectors = encode([s.text for s in found]) if found else np.zeros((0, 1), dtype=np.float32)
    others = None
    style = None
    if claim_vectors is not None and len(claims):
        keep = [i for i, t in enumerate(claims) if normalize_key(t) not in example.exclude]
        others = claim_vectors[keep]
        if len(others):
            centroid = others.mean(axis=0)
            style = centroid / max(float(np.linalg.norm(centroid)), 1e-9)
    title = encode([example.title])[0]
    src = SourceVectors(found, vectors, title, others, style)
    rows = features(src)
    titles = [make_title(s, lowercase) or s.text for s in found]
    labels = np.zeros(len(found))
    match = np.zeros((len(found), len(example.kept)))
    if found and example.kept:
        judge = label_encode or encode
        title_vectors = judge(titles)
        match = title_vectors @ judge(example.kept).T
        labels = (match.max(axis=1) >= MATCH).astype(float)
        if example.rejected:
            bad = (title_vectors @ judge(example.rejected).T).max(axis=1)
            labels[bad > match.max(axis=1)] = 0.0
    return Prepared(example, src, rows, titles, match, labels)


def train(prepared: list[Prepared], limit: int = 5) -> LinearModel:
    """Fit on prepared examples, then choose the stopping rule that maximises F1 on them."""
    rows = np.vstack([p.rows for p in prepared if len(p.rows)])
    labels = np.concatenate([p.labels for p in prepared if len(p.rows)])
    if labels.min() == labels.max():
        raise ValueError("training needs candidates that match a kept claim and ones that do not")
    model = fit(rows, labels)
    best = (-1.0, 0.0, 0.0)
    for threshold in THRESHOLDS:
        for relative in RELATIVES:
            model.threshold, model.relative = float(threshold), relative
            score = evaluate(model, prepared, limit)["f1"]
            if score > best[0] + 1e-9:
                best = (score, float(threshold), relative)
    model.threshold, model.relative = best[1], best[2]
    model.info = {
        "sources": len(prepared),
        "candidates": len(labels),
        "positives": int(labels.sum()),
        "references": sum(len(p.example.kept) for p in prepared),
        "train_f1": round(best[0], 3),
    }
    return model


def evaluate(model: LinearModel, prepared: list[Prepared], limit: int = 5) -> dict[str, Any]:
    """Recall, precision and F1 at MATCH over prepared examples: a kept claim is recovered
    when a chosen title is within MATCH of it; a chosen title is correct when it matches one."""
    from claimledger.inbox.extractors.ranker import select

    reference = extracted = recovered = correct = 0
    for p in prepared:
        chosen = select(model.probabilities(p.rows), p.vectors.vectors, model, limit)
        reference += len(p.example.kept)
        extracted += len(chosen)
        if chosen and p.example.kept:
            hits = p.match[chosen] >= MATCH
            recovered += int(hits.any(axis=0).sum())
            correct += int(hits.any(axis=1).sum())
    return scores(reference, extracted, recovered, correct)


def scores(reference: int, extracted: int, recovered: int, correct: int) -> dict[str, Any]:
    recall = recovered / max(reference, 1)
    precision = correct / max(extracted, 1)
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return {
        "reference": reference,
        "extracted": extracted,
        "recovered": recovered,
        "correct": correct,
        "recall": round(recall, 3),
        "precision": round(precision, 3),
        "f1": round(f1, 3),
    }


# -- a workspace's own history ---------------------------------------------------------------


def claim_statuses(ws: Workspace) -> dict[str, tuple[str, str]]:
    """Every claim by normalised title and file stem: (current title, status)."""
    from claimledger.kb import open_index
    from claimledger.kb.queries import claim_notes

    with open_index(ws) as conn:
        notes = claim_notes(conn)
    found: dict[str, tuple[str, str]] = {}
    for note in notes:
        entry = (note.stem, str(note.metadata.get("status") or "active"))
        found.setdefault(normalize_key(note.stem), entry)
        found.setdefault(normalize_key(reference_title(note.stem)), entry)
    return found


def workspace_examples(ws: Workspace) -> list[Example]:
    """The processed sources of a workspace as examples (see the module's rules)."""
    from claimledger.inbox.sources import source_paths

    statuses = claim_statuses(ws)
    examples = []
    for path in source_paths(ws):
        try:
            note = read_note(path)
        except Exception:
            continue
        meta = note.metadata
        if blocking_problems(note) or not note.body.strip():
            continue
        own = str(meta.get("processed_by") or "").startswith(OWN_WORKER)
        listed = [str(t) for t in meta.get("claims_extracted") or [] if t]
        kept, rejected, exclude = [], [], set()
        for raw in listed:
            title = reference_title(raw)
            current, status = statuses.get(
                normalize_key(title),
                statuses.get(normalize_key(str(raw).removesuffix(".md")), ("", "")),
            )
            exclude.add(normalize_key(current or title))
            if status == "retired":
                rejected.append(current)
            elif status == "proposed" and own:
                continue  # the worker's own unreviewed output teaches nothing
            elif current or not own:
                kept.append(current or title)
        if kept:
            title = str(meta.get("title") or path.stem)
            examples.append(Example(ws.relative(path), title, note.body, kept, rejected, exclude))
    return examples


def fingerprint(examples: Iterable[Example]) -> str:
    """A hash of what a workspace model learns from: changes when the history does."""
    digest = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.name):
        digest.update(json.dumps([ex.name, ex.kept, ex.rejected, len(ex.body)]).encode())
    return digest.hexdigest()[:16]


def train_workspace(
    ws: Workspace,
    backend: Backend,
    default: LinearModel | None,
    examples: list[Example] | None = None,
    limit: int = 5,
) -> dict[str, Any]:
    """Fit the ranker on the workspace's history and write .claimledger/extractor/model.json.

    Returns a summary; raises ValueError when the history has nothing to learn from."""
    from claimledger.inbox.dedup import read_claims
    from claimledger.inbox.extractors.statements import lowercase_style

    examples = workspace_examples(ws) if examples is None else examples
    if not examples:
        raise ValueError("no processed source lists a kept claim: nothing to learn from")
    claims = [c.title for c in read_claims(ws) if not c.sources]  # as the extractor sees them
    claim_vectors = backend.encode(claims) if claims else None
    lowercase = lowercase_style(claims)
    prepared = [prepare(e, backend.encode, claims, claim_vectors, lowercase) for e in examples]
    learned = train(prepared, limit)
    references = learned.info["references"]
    weight = references / (references + PRIOR_EXAMPLES) if default is not None else 1.0
    model = blend(default, learned, weight) if default is not None else learned
    model.info = {**learned.info, "blend_weight": round(weight, 3)}
    fitted = evaluate(model, prepared, limit)
    summary = {
        "model": str(ws.cache_dir / MODEL_FILE),
        "backend": backend.name,
        "history": fingerprint(examples),
        "sources": len(examples),
        "references": references,
        "candidates": learned.info["candidates"],
        "blend_weight": round(weight, 3),
        "fit": fitted,
        "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    save_workspace_model(ws, backend.name, model, summary)
    return summary


def save_workspace_model(
    ws: Workspace, backend: str, model: LinearModel, summary: dict[str, Any]
) -> None:
    path = ws.cache_dir / MODEL_FILE
    data: dict[str, Any] = {"version": MODEL_VERSION, "features": list(FEATURES), "backends": {}}
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("version") == MODEL_VERSION and old.get("features") == list(FEATURES):
                data = old
        except (OSError, ValueError):
            pass
    data["backends"][backend] = {**model.to_dict(), "history": summary["history"]}
    data.setdefault("trained", {})[backend] = summary
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def workspace_model(ws: Workspace, backend: str) -> tuple[LinearModel | None, str | None]:
    """The workspace's fitted model for a backend and the history it was fitted on."""
    path = ws.cache_dir / MODEL_FILE
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("version") != MODEL_VERSION or data.get("features") != list(FEATURES):
            return None, None
        entry = data["backends"][backend]
        return LinearModel.from_dict(entry), str(entry.get("history"))
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def current_model(ws: Workspace, backend: Backend, default: LinearModel | None) -> LinearModel:
    """The workspace model, refitted first when the history changed since it was fitted;
    the default when the history has nothing to learn from (or fitting fails: logged)."""
    try:
        examples = workspace_examples(ws)
    except Exception as exc:
        log.warning("extractor history unreadable, packaged model used: %s", exc)
        examples = []
    if not examples:
        if default is None:
            raise ValueError("no packaged extractor model for this backend")
        return default
    stored, history = workspace_model(ws, backend.name)
    if stored is not None and history == fingerprint(examples):
        return stored
    try:
        train_workspace(ws, backend, default, examples)
    except ValueError as exc:
        log.warning("extractor not refitted on the vault's history: %s", exc)
        if default is None:
            raise
        return default
    log.info("extractor refitted on %d processed sources", len(examples))
    fitted, _ = workspace_model(ws, backend.name)
    return fitted or default  # type: ignore[return-value]


def train_extractor(ws: Workspace) -> dict[str, Any]:
    """`claimledger extractor train`: refit the offline ranker on the vault's history with
    the configured similarity backend; raises ValueError when there is nothing to learn."""
    from claimledger.inbox.dedup import make_backend
    from claimledger.inbox.extractors import ranker
    from claimledger.inbox.settings import Settings

    settings = Settings.from_workspace(ws)
    backend = make_backend(ws, settings.similarity)
    data = ranker.load_models()
    default = ranker.model_for(data, backend.name) or ranker.model_for(
        data, ranker.FALLBACK_BACKEND
    )
    return train_workspace(ws, backend, default, limit=settings.max_claims)
