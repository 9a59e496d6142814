"""Offline extractor quality on ../shared/fixtures/teleo-sample: recall and precision.

For each processed source of the fixture, the claims its human/agent curators actually
extracted (`claims_extracted`) are the reference. The offline extractor runs on the source's
body (nothing is written); a reference claim is recovered when some extracted title is within
`--match` cosine similarity of it (all-MiniLM-L6-v2), and an extracted title is correct when it
matches some reference claim.

    .venv/bin/python bench/inbox_quality.py [--match 0.6]

Prints `name: value` lines (one per source, then the totals), then one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

from claimledger.inbox.dedup import ClaimIndex, EmbeddingBackend, LexicalBackend
from claimledger.inbox.extractors import Context, SourceDoc
from claimledger.inbox.extractors.offline import OfflineExtractor
from claimledger.inbox.settings import Settings
from claimledger.kb.notes import read_note
from claimledger.workspace import Workspace, config_from_dict

TELEO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "teleo-sample"
CONFIG = """\
[layout]
claims = ["domains/**/*.md", "core/**/*.md", "foundations/**/*.md"]
sources = ["inbox/archive/**/*.md"]
claims_dir = "domains"
inbox_dir = "inbox/archive"
"""


def processed_sources(ws: Workspace) -> list[SourceDoc]:
    """The fixture's sources that list the claims extracted from them."""
    docs = []
    for rel in ws.source_files():
        note = read_note(ws.root / rel)
        if note.metadata.get("claims_extracted"):
            docs.append(SourceDoc(ws.root / rel, rel, note.metadata, note.body))
    return docs


def score_source(
    doc: SourceDoc, context: Context, backend: EmbeddingBackend, match: float
) -> dict[str, Any]:
    """Recovered reference claims and correct extracted titles for one source."""
    reference = [str(t) for t in doc.metadata["claims_extracted"]]
    extracted = [c.title for c in OfflineExtractor().extract(doc, context).candidates]
    if not extracted:
        return {"reference": len(reference), "extracted": 0, "recovered": 0, "correct": 0}
    similarity = backend.encode(reference) @ backend.encode(extracted).T
    return {
        "reference": len(reference),
        "extracted": len(extracted),
        "recovered": int((similarity.max(axis=1) >= match).sum()),
        "correct": int((similarity.max(axis=0) >= match).sum()),
    }


def main() -> None:
    """Score every processed source and print recall and precision."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--match", type=float, default=0.6)
    args = parser.parse_args()
    ws = Workspace(root=TELEO, config=config_from_dict(tomllib.loads(CONFIG)))
    settings = Settings()
    context = Context(ws, settings, ClaimIndex(backend=LexicalBackend()), dt.date.today())
    backend = EmbeddingBackend(Path("/tmp") / "claimledger-quality-embeddings.sqlite")
    totals = {"reference": 0, "extracted": 0, "recovered": 0, "correct": 0}
    results: dict[str, Any] = {}
    for doc in processed_sources(ws):
        scores = score_source(doc, context, backend, args.match)
        print(f"{doc.path.name}: {scores}")
        for key in totals:
            totals[key] += scores[key]
    results["sources"] = len(processed_sources(ws))
    results.update(totals)
    results["recall"] = round(totals["recovered"] / max(totals["reference"], 1), 3)
    results["precision"] = round(totals["correct"] / max(totals["extracted"], 1), 3)
    results["match_threshold"] = args.match
    for name, value in results.items():
        print(f"{name}: {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
