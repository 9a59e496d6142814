"""The offline extractor: a learned ranker picks a source's claim-like statements.

Deterministic and without network. Candidate statements (statements.py) get features and a
score from a linear model (ranker.py): the workspace's own, fitted on its history
(history.py, `claimledger extractor train`), or the packaged default. How many become claims
follows the scores; titles are propositions in the vault's style. `split_sentences` and
`score_sentence` are the earlier regex heuristic, kept for callers that want it.
"""

from __future__ import annotations

from typing import Any

from claimledger.inbox.extractors.base import Candidate, Context, Extraction, SourceDoc
from claimledger.inbox.extractors.statements import (
    ASSERTIVE,
    BLOCK_BREAK,
    CODE_BLOCK,
    HEDGES,
    LABEL_AT_START,
    LINK,
    MARKDOWN_NOISE,
    NUMBER,
    SENTENCE_END,
    WEAK_START,
)

NAME = "offline"
MIN_WORDS, MAX_WORDS = 7, 40


class OfflineExtractor:
    """Ranks a source's candidate statements with a learned linear model; no network.

    The model is the workspace's own (`claimledger extractor train`, refitted when the
    history of processed sources changed) or the packaged default; features come from the
    configured similarity backend. Identical input gives identical output."""

    name = NAME
    concurrency = 1

    def __init__(self, auto_train: bool = True) -> None:
        self.auto_train = auto_train
        self._models: dict[str, Any] = {}
        self._style: tuple[int, bool] = (-1, False)

    def model(self, context: Context) -> Any:
        """The ranker for the context's backend: the workspace's, else the packaged one."""
        from claimledger.inbox.extractors import history, ranker

        backend = context.claims.backend.name
        if backend not in self._models:
            data = ranker.load_models()
            default = ranker.model_for(data, backend) or ranker.model_for(
                data, ranker.FALLBACK_BACKEND
            )
            model = default
            if self.auto_train:
                model = history.current_model(context.ws, context.claims.backend, default)
            self._models[backend] = model
        return self._models[backend]

    def lowercase(self, context: Context) -> bool:
        """Whether the vault's titles are lower case prose (teleo) or sentences (ours)."""
        from claimledger.inbox.extractors.statements import lowercase_style

        count = len(context.claims.entries)
        if self._style[0] != count:
            titles = [e.title for e in context.claims.entries if not e.sources]
            self._style = (count, lowercase_style(titles))
        return self._style[1]

    def extract(self, source: SourceDoc, context: Context) -> Extraction:
        from claimledger.inbox.extractors import ranker
        from claimledger.inbox.extractors.statements import make_title, statements

        found = statements(source.body)
        if not found:
            return Extraction([], notes="no statement found")
        backend = context.claims.backend
        vectors = backend.encode([s.text for s in found])
        title = backend.encode([source.title])[0]
        claims, style = _claim_vectors(context, source)
        src = ranker.SourceVectors(found, vectors, title, claims, style)
        model = self.model(context)
        probabilities = model.probabilities(ranker.features(src))
        chosen = ranker.select(probabilities, vectors, model, context.settings.max_claims)
        lowercase = self.lowercase(context)
        domain = context.domain_for(source)
        candidates: list[Candidate] = []
        titles: set[str] = set()
        for i in chosen:
            made = make_title(found[i], lowercase)
            if made and made.lower() not in titles:
                titles.add(made.lower())
                candidates.append(_candidate(found[i], made, domain, source, context))
        if not candidates:
            best = float(probabilities.max()) if len(probabilities) else 0.0
            return Extraction(
                [],
                notes=f"offline: nothing claim-like in {len(found)} statements "
                f"(best score {best:.2f} < {model.threshold:.2f})",
            )
        return Extraction(candidates, notes=f"offline: {len(candidates)} of {len(found)}")


def _claim_vectors(context: Context, source: SourceDoc) -> tuple[Any, Any]:
    """Vectors of the claims a source is compared with, and their centroid: those not drawn
    from any inbox source, so that what the worker writes (this run, a crashed run, another
    worker) never changes what a source yields."""
    import numpy as np

    matrix = context.claims.matrix
    if matrix is None or not len(matrix):
        return None, None
    drawn = [i for i, e in enumerate(context.claims.entries) if e.sources]
    if drawn:
        matrix = np.delete(matrix, drawn, axis=0)
    if not len(matrix):
        return None, None
    centroid = matrix.mean(axis=0)
    return matrix, centroid / max(float(np.linalg.norm(centroid)), 1e-9)


def split_sentences(body: str) -> list[str]:
    """The prose sentences of a markdown body: paragraphs and list items split into
    sentences, with headings, code, emphasis and link syntax removed."""
    text = LINK.sub(lambda m: m.group(1) or m.group(2), CODE_BLOCK.sub("\n\n", body))
    sentences: dict[str, None] = {}  # ordered, and a repeated sentence counts once
    for block in BLOCK_BREAK.split(text):
        flat = " ".join(MARKDOWN_NOISE.sub(" ", block).split())
        for sentence in SENTENCE_END.split(flat):
            sentence = LABEL_AT_START.sub("", sentence.strip())
            if sentence:
                sentences.setdefault(sentence)
    return list(sentences)


def score_sentence(sentence: str) -> float:
    """How much a sentence reads like a checkable claim; 0 when it does not qualify."""
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS or sentence.endswith("?"):
        return 0.0
    if not sentence[0].isupper() or HEDGES.search(sentence) or WEAK_START.match(sentence):
        return 0.0
    assertive = len(ASSERTIVE.findall(sentence))
    if not assertive:
        return 0.0
    specific = 1.0 if NUMBER.search(sentence) else 0.0
    # Mid-length sentences make the best titles.
    return assertive + 1.5 * specific - abs(len(words) - 18) / 30


def _candidate(
    statement: Any, title: str, domain: str, source: SourceDoc, context: Context
) -> Candidate:
    sentence = statement.text
    neighbour = statement.following
    description = neighbour if neighbour and not neighbour.endswith("?") else sentence
    related = [
        m.title
        for m in context.similar(title, source)
        if m.score >= context.settings.link_threshold
    ]
    return Candidate(
        title=title,
        domain=domain,
        description=description,
        body=f"> {sentence}",
        related=related[:3],
        evidence=sentence,
    )
