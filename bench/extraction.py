"""Inbox benchmark: extraction quality, worker throughput, the embedding cache, duplicates, LLM.

- extraction quality on ../shared/fixtures/teleo-sample (skipped when absent): recall,
  precision and F1 at cosine 0.6 (all-MiniLM-L6-v2) against the claims each processed source
  lists in `claims_extracted`, for the learned offline ranker with leave-one-source-out
  cross-validation (it never sees the source it is scored on, nor the claims born of it), the
  heuristic baseline (TF-IDF centrality + cue words, top 3) and 3 random sentences, in the
  same run; claims proposed for the fixture's null-result sources; the offline extractor's
  throughput over the fixture's sources (cold embedding cache, sources per minute);
  `--train-default` refits the packaged model (src/claimledger/data/extractor-model.json) on
  every processed source of the fixture;

- offline worker over N synthetic sources (lexical similarity, then the real embedding model),
  in sources per second;
- the embedding cache: encoding every claim title cold (empty cache) against a rerun (warm);
- one duplicate check against 100,000 claims (target under 20 ms);
- the llm extractor against a local OpenAI-compatible server with a fixed latency, with
  concurrency 1 and 8 (throughput should approach concurrency / latency).

    .venv/bin/python bench/extraction.py [--sources 1000] [--embedding-sources 300]
        [--only quality|speed] [--train-default]

Prints `name: value` lines, then one JSON line. Works in a temporary folder outside the repo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from claimledger.inbox import add_source
from claimledger.inbox.dedup import ClaimEntry, ClaimIndex, EmbeddingBackend
from claimledger.inbox.settings import Settings
from claimledger.inbox.worker import Worker
from claimledger.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the local LLM server lives with the tests
from tests.inbox.llm_server import LLMServer, Reply  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))  # one teleo-sample layout for every bench
from inbox_quality import CONFIG as TELEO_CONFIG  # noqa: E402
from inbox_quality import TELEO  # noqa: E402

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
    counts = summary.counts()  # a source with nothing claim-like is a null result
    assert counts["processed"] + counts["null_result"] == count and not counts["failed"], counts
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


DEFAULT_MODEL = REPO / "src" / "claimledger" / "data" / "extractor-model.json"
MATCH = 0.6
TFIDF_CUES = re.compile(
    r"\b(?:because|therefore|shows?|finds?|found|suggests?|means?|evidence|increases?|"
    r"decreases?|reduces?|improves?|enables?|requires?|creates?|than|not|only|must|key|"
    r"critical|first|every)\b",
    re.I,
)


class Fixture(NamedTuple):
    """The fixture's processed sources (with kept claims), null results and claim titles."""

    sources: list[Any]
    nulls: list[Any]
    claims: list[str]


def load_fixture(root: Path = TELEO) -> Fixture:
    from claimledger.inbox.extractors.history import Example, reference_title
    from claimledger.kb import normalize_key
    from claimledger.kb.notes import read_note

    claims = sorted(
        reference_title(p.stem)
        for p in (root / "domains").rglob("*.md")
        if read_note(p).metadata.get("type") == "claim"
    )
    sources, nulls = [], []
    for path in sorted((root / "inbox" / "archive").glob("*.md")):
        meta, body = read_note(path).metadata, read_note(path).body
        kept = [reference_title(t) for t in meta.get("claims_extracted") or [] if t]
        example = Example(path.name, str(meta.get("title") or path.stem), body, kept, [])
        example.exclude = {normalize_key(k) for k in kept}
        if kept:
            sources.append(example)
        elif meta.get("status") == "null-result":
            nulls.append(example)
    return Fixture(sources, nulls, claims)


def heuristic_titles(body: str, k: int = 3) -> list[str]:
    """The baseline: TF-IDF centrality of each sentence plus cue words and numbers, top k."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from claimledger.inbox.extractors.offline import HEDGES, split_sentences

    sentences = [s for s in split_sentences(body) if 6 <= len(s.split()) <= 60]
    if not sentences:
        return []
    if len(sentences) == 1:
        return sentences
    matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(sentences)
    similarity = (matrix @ matrix.T).toarray()
    np.fill_diagonal(similarity, 0.0)
    centrality = similarity.sum(axis=1) / (len(sentences) - 1)
    centrality = centrality / max(float(centrality.max()), 1e-9)
    scores = []
    for i, sentence in enumerate(sentences):
        cues = min(len(TFIDF_CUES.findall(sentence)), 3) * 0.15
        number = 0.1 if re.search(r"\d", sentence) else 0.0
        hedge = 0.2 if HEDGES.search(sentence) or sentence.endswith("?") else 0.0
        length = 0.1 if 10 <= len(sentence.split()) <= 35 else 0.0
        scores.append(centrality[i] + cues + number + length - hedge)
    best = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))[:k]
    return [sentences[i].rstrip(".") for i in sorted(best)]


def random_titles(body: str, seed: int, k: int = 3) -> list[str]:
    from claimledger.inbox.extractors.offline import split_sentences

    sentences = split_sentences(body)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(sentences), size=min(k, len(sentences)), replace=False)
    return [sentences[i] for i in sorted(picked)] if len(sentences) else []


def match_counts(reference: list[str], extracted: list[str], encode: Any) -> tuple[int, int]:
    """(recovered references, correct extracted titles) at cosine MATCH."""
    if not reference or not extracted:
        return 0, 0
    hits = (encode(reference) @ encode(extracted).T) >= MATCH
    return int(hits.any(axis=1).sum()), int(hits.any(axis=0).sum())


def score_titles(fixture: Fixture, pick: Any, encode: Any) -> dict[str, Any]:
    from claimledger.inbox.extractors.history import scores

    totals = [0, 0, 0, 0]
    for example in fixture.sources:
        titles = pick(example)
        recovered, correct = match_counts(example.kept, titles, encode)
        for i, value in enumerate((len(example.kept), len(titles), recovered, correct)):
            totals[i] += value
    return scores(*totals)


def prepared_fixture(fixture: Fixture, backend: Any, judge: Any) -> dict[str, Any]:
    from claimledger.inbox.extractors.history import prepare
    from claimledger.inbox.extractors.statements import lowercase_style

    vectors = backend.encode(fixture.claims)
    lowercase = lowercase_style(fixture.claims)
    return {
        e.name: prepare(e, backend.encode, fixture.claims, vectors, lowercase, judge)
        for e in fixture.sources + fixture.nulls
    }


def cross_validated(fixture: Fixture, backend: Any, judge: Any) -> dict[str, Any]:
    """Leave one processed source out: fit on the others, score on it; summed over sources."""
    from claimledger.inbox.extractors.history import evaluate, scores, train
    from claimledger.inbox.extractors.ranker import select

    prepared = prepared_fixture(fixture, backend, judge)
    totals = [0, 0, 0, 0]
    null_claims = 0
    for held in fixture.sources:
        model = train([prepared[e.name] for e in fixture.sources if e is not held])
        result = evaluate(model, [prepared[held.name]])
        for i, key in enumerate(("reference", "extracted", "recovered", "correct")):
            totals[i] += result[key]
        for null in fixture.nulls:  # each fold's model on the null results, averaged below
            p = prepared[null.name]
            null_claims += len(select(model.probabilities(p.rows), p.vectors.vectors, model, 5))
    result = scores(*totals)
    result["null_result_claims_per_source"] = round(
        null_claims / max(len(fixture.sources) * len(fixture.nulls), 1), 2
    )
    return result


def train_default(fixture: Fixture, cache: Path) -> dict[str, Any]:
    """Fit the packaged model on every processed source of the fixture, for both backends."""
    from claimledger.inbox.dedup import EmbeddingBackend, LexicalBackend
    from claimledger.inbox.extractors.history import train
    from claimledger.inbox.extractors.ranker import FEATURES, MODEL_VERSION

    data: dict[str, Any] = {
        "version": MODEL_VERSION,
        "features": list(FEATURES),
        "trained_on": (
            "teleo-sample fixture (github.com/living-ip/teleo-codex at 8df364d): the "
            f"{len(fixture.sources)} sources that list claims_extracted "
            f"({sum(len(e.kept) for e in fixture.sources)} claims); labels: a candidate whose "
            f"title is within cosine {MATCH} of a listed claim. The held-out teleo-codex "
            "sources the issue reports on are not in the fixture and were never seen."
        ),
        "command": ".venv/bin/python bench/extraction.py --train-default",
        "backends": {},
    }
    judge = EmbeddingBackend(cache)
    for backend in (judge, LexicalBackend()):
        prepared = list(prepared_fixture(fixture, backend, judge.encode).values())
        model = train([p for p in prepared if p.example.kept])
        data["backends"][backend.name] = model.to_dict()
    DEFAULT_MODEL.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return {name: entry["info"] for name, entry in data["backends"].items()}


def offline_rate(fixture_root: Path, folder: Path) -> dict[str, float]:
    """The offline extractor over every fixture source, cold embedding cache: per minute."""
    from claimledger.inbox.extractors import Context, SourceDoc
    from claimledger.inbox.extractors.offline import OfflineExtractor
    from claimledger.kb.notes import read_note
    from claimledger.workspace import config_from_dict

    ws = Workspace(root=fixture_root, config=config_from_dict(tomllib.loads(TELEO_CONFIG)))
    EmbeddingBackend(folder / "warm.sqlite").encode(["load the model outside the timing"])
    backend = EmbeddingBackend(folder / "rate.sqlite")
    claims = ClaimIndex(backend=backend)
    claims.add_many(ClaimEntry(t, f"domains/{t}.md") for t in load_fixture(fixture_root).claims)
    context = Context(ws, Settings(), claims, dt.date(2026, 1, 1))
    extractor = OfflineExtractor(auto_train=False)
    docs = []
    for rel in ws.source_files():
        note = read_note(ws.root / rel)
        docs.append(SourceDoc(ws.root / rel, rel, note.metadata, note.body))
    start = time.perf_counter()
    outputs = [extractor.extract(doc, context) for doc in docs]
    seconds = time.perf_counter() - start
    again = [extractor.extract(doc, context) for doc in docs]
    same = [[c.title for c in o.candidates] for o in outputs] == [
        [c.title for c in o.candidates] for o in again
    ]
    return {
        "sources": len(docs),
        "sources_per_minute": 60 * len(docs) / seconds,
        "claims": sum(len(o.candidates) for o in outputs),
        "deterministic": same,
    }


def quality(folder: Path, train: bool = False) -> dict[str, Any]:
    """Every quality figure on the fixture, in one run."""
    from claimledger.inbox.dedup import EmbeddingBackend, LexicalBackend

    fixture = load_fixture()
    backend = EmbeddingBackend(folder / "quality.sqlite")
    encode = backend.encode
    results: dict[str, Any] = {"sources_with_claims": len(fixture.sources)}
    results["null_result_sources"] = len(fixture.nulls)
    results["references"] = sum(len(e.kept) for e in fixture.sources)
    results["learned_cv"] = cross_validated(fixture, backend, encode)
    results["learned_cv_lexical"] = cross_validated(fixture, LexicalBackend(), encode)
    results["heuristic"] = score_titles(fixture, lambda e: heuristic_titles(e.body), encode)
    runs = [
        score_titles(fixture, lambda e, s=s: random_titles(e.body, s), encode) for s in range(5)
    ]
    results["random3"] = {
        key: round(statistics.mean(r[key] for r in runs), 3)
        for key in ("recall", "precision", "f1")
    }
    from claimledger.inbox.extractors.offline import split_sentences

    results["all_sentences_recall"] = score_titles(
        fixture, lambda e: split_sentences(e.body), encode
    )["recall"]
    if train:
        results["trained_default"] = train_default(fixture, folder / "quality.sqlite")
    results["offline_rate"] = offline_rate(TELEO, folder)
    return results


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--embedding-sources", type=int, default=300)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--only", choices=("quality", "speed"))
    parser.add_argument("--train-default", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only != "speed" and TELEO.exists():
            results["quality"] = quality(folder, args.train_default)
        if args.only == "quality":
            for name, value in results.items():
                print(f"{name}: {value}")
            print(json.dumps(results))
            return
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
