"""Inbox benchmark: worker throughput, the embedding cache, duplicate checks, LLM concurrency.

- offline worker over N synthetic sources (lexical similarity, then the real embedding model),
  in sources per second;
- the embedding cache: encoding every claim title cold (empty cache) against a rerun (warm);
- one duplicate check against 100,000 claims (target under 20 ms);
- the llm extractor against a local OpenAI-compatible server with a fixed latency, with
  concurrency 1 and 8 (throughput should approach concurrency / latency).

    .venv/bin/python bench/extraction.py [--sources 1000] [--embedding-sources 300]

Prints `name: value` lines, then one JSON line. Works in a temporary folder outside the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from claimledger.inbox import add_source
from claimledger.inbox.dedup import ClaimEntry, ClaimIndex, EmbeddingBackend
from claimledger.inbox.settings import Settings
from claimledger.inbox.worker import Worker
from claimledger.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the local LLM server lives with the tests
from tests.inbox.llm_server import LLMServer, Reply  # noqa: E402

KNOBS = ("warmup", "weight decay", "the batch size", "the learning rate", "depth", "width")
VERBS = ("lowers", "raises", "barely changes")
LATENCY = 0.25


def make_workspace(folder: Path, config: str) -> Workspace:
    root = folder / "ws"
    root.mkdir(parents=True)
    for name in ("kb", "schemas"):
        shutil.copytree(REPO / name, root / name)
    (root / "inbox").mkdir()
    (root / "ledger").mkdir()
    (root / "claimledger.toml").write_text(config)
    return Workspace.open(root)


def add_sources(ws: Workspace, count: int) -> None:
    for i in range(count):
        knob, verb = KNOBS[i % 6], VERBS[i % 3]
        body = (
            f"Setting {knob} to {i * 7 + 3} {verb} val_bpb by {i / 1000:.3f} in batch {i}.\n\n"
            f"A model of {i + 2} layers trains {i % 4 + 2} times faster than one of {i + 40}.\n"
        )
        add_source(ws, title=f"Synthetic report {i}", body=body, fields={"domain": "optimizer"})


def worker_rate(folder: Path, count: int, similarity: str) -> dict[str, float]:
    ws = make_workspace(folder / similarity, f'[inbox]\nsimilarity = "{similarity}"\n')
    add_sources(ws, count)
    worker = Worker(ws)
    worker.context()  # the model and the claim index load once per process: not per source
    start = time.perf_counter()
    summary = worker.run_once()
    seconds = time.perf_counter() - start
    assert summary.counts()["processed"] == count, summary.counts()
    return {"sources_per_s": count / seconds, "claims": summary.counts()["claims"]}


def embedding_cache(folder: Path, titles: list[str]) -> dict[str, float]:
    backend = EmbeddingBackend(folder / "embeddings.sqlite")
    EmbeddingBackend(folder / "warmup.sqlite").encode(["load the model outside the timing"])
    start = time.perf_counter()
    backend.encode(titles)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    backend.encode(titles)
    warm = time.perf_counter() - start
    return {"cold_s": cold, "warm_s": warm, "speedup": cold / warm}


class FixedBackend:
    """Vectors from a seeded generator: the index cost without model cost."""

    name = "fixed"

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.rng.standard_normal((len(texts), 384)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def duplicate_check(count: int) -> float:
    """Median ms of one nearest-claims query over `count` claims (model time excluded)."""
    index = ClaimIndex(backend=FixedBackend())
    index.add_many(ClaimEntry(f"Claim {i}", f"kb/x/Claim {i}.md") for i in range(count))
    times = []
    for i in range(30):
        start = time.perf_counter()
        index.nearest(f"query {i}", k=5)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def llm_rate(folder: Path, count: int, concurrency: int) -> float:
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with LLMServer() as server:
        server.play(Reply(json.dumps({"claims": []}), delay=LATENCY))
        config = (
            f'[inbox]\nsimilarity = "lexical"\nextractor = "llm"\nmodel = "openai/bench"\n'
            f'api_base = "{server.url}"\nconcurrency = {concurrency}\n'
        )
        ws = make_workspace(folder / f"llm{concurrency}", config)
        add_sources(ws, count)
        worker = Worker(ws, Settings.from_workspace(ws))
        import litellm  # noqa: F401  (its import takes seconds: not part of the rate)

        start = time.perf_counter()
        worker.run_once()
        return count / (time.perf_counter() - start)


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--embedding-sources", type=int, default=300)
    parser.add_argument("--claims", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lexical = worker_rate(folder, args.sources, "lexical")
        results["offline_lexical_sources_per_s"] = round(lexical["sources_per_s"], 1)
        embedded = worker_rate(folder, args.embedding_sources, "embedding")
        results["offline_embedding_sources_per_s"] = round(embedded["sources_per_s"], 1)
        titles = [f"Setting knob {i} to {i * 3} lowers val_bpb in batch {i}" for i in range(500)]
        cache = embedding_cache(folder, titles)
        results["embedding_cold_500_titles_s"] = round(cache["cold_s"], 3)
        results["embedding_warm_500_titles_s"] = round(cache["warm_s"], 3)
        results["embedding_cache_speedup"] = round(cache["speedup"], 1)
        results[f"duplicate_check_{args.claims}_claims_ms"] = round(duplicate_check(args.claims), 2)
        rate1 = llm_rate(folder, 16, 1)
        rate8 = llm_rate(folder, 32, 8)
        results["llm_latency_s"] = LATENCY
        results["llm_concurrency_1_sources_per_s"] = round(rate1, 2)
        results["llm_concurrency_8_sources_per_s"] = round(rate8, 2)
        results["llm_concurrency_8_vs_1"] = round(rate8 / rate1, 2)
    for name, value in results.items():
        print(f"{name}: {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
