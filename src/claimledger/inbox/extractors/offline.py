"""The offline extractor: a source's assertive, specific sentences become speculative claims.

Deterministic and without network. A sentence qualifies when it asserts something checkable:
it compares, measures or names an effect (a number, "lowers", "than", "outperforms" ...), is
not hedged ("may", "might", "perhaps"), not a question, and does not lean on a pronoun for its
subject. The best few, in the order of the text, become claims titled by the sentence itself;
the sentence next to it becomes the description, and similar existing claims are linked.
"""

from __future__ import annotations

import re

from claimledger.inbox.extractors.base import Candidate, Context, Extraction, SourceDoc

NAME = "offline"
# A sentence ends at . ! ? before a capital, but not after "al." "e.g." "vs." and the like.
SENTENCE_END = re.compile(
    r"(?<!\bal\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<=[.!?])\s+(?=[A-Z\"'(])"
)
CODE_BLOCK = re.compile(r"^(`{3,}|~{3,}).*?^\1", re.M | re.S)
MARKDOWN_NOISE = re.compile(r"^#+ [^\n]*$|^\s*(?:[-*+]|\d+\.)\s+|^>\s?|`|\*\*|__", re.M)
# Paragraphs, and each list item on its own: bullets rarely end with a full stop.
BLOCK_BREAK = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*+]|\d+\.)\s)")
LINK = re.compile(r"\[\[([^\]|#]+)(?:[^\]]*)\]\]|\[([^\]]+)\]\([^)]*\)")
NUMBER = re.compile(r"\d")
ASSERTIVE = re.compile(
    r"\b(?:lowers?|raises?|reduces?|increases?|improves?|outperforms?|beats?|matches|"
    r"cuts?|doubles?|halves?|speeds? up|slows?|hurts?|helps?|costs?|saves?|scales?|"
    r"than|faster|slower|better|worse|fewer|more|less|higher|lower|stable|unstable|"
    r"optimal|dominates?|requires?|needs?|grows?|shrinks?|converges?|diverges?)\b",
    re.I,
)
# Hedged, or addressed to the reader: not a claim about the world.
HEDGES = re.compile(
    r"\b(?:may|might|could|perhaps|possibly|maybe|unclear|unknown|we think|you|your)\b", re.I
)
# "Summary: ...", "Key result: ..." -- a label in front of the statement, not part of it.
LABEL = re.compile(r"^[A-Z][\w -]{0,30}:\s+(?=\S)")
WEAK_START = re.compile(
    r"^(?:it|this|that|these|those|they|he|she|we|i|you|there|here|but|and|or|so|also)\b", re.I
)
MIN_WORDS, MAX_WORDS = 7, 40


class OfflineExtractor:
    """Picks assertive, specific statements; no model, no network."""

    name = NAME
    concurrency = 1

    def extract(self, source: SourceDoc, context: Context) -> Extraction:
        sentences = split_sentences(source.body)
        scored = [(score_sentence(s), i) for i, s in enumerate(sentences)]
        best = sorted((-score, i) for score, i in scored if score > 0)
        chosen = sorted(i for _, i in best[: context.settings.max_claims])
        if not chosen:
            return Extraction([], notes="no assertive, specific statement found")
        domain = context.domain_for(source)
        candidates = [_candidate(sentences, i, domain, source, context) for i in chosen]
        return Extraction(candidates, notes=f"offline: {len(candidates)} of {len(sentences)}")


def split_sentences(body: str) -> list[str]:
    """The prose sentences of a markdown body: paragraphs and list items split into
    sentences, with headings, code, emphasis and link syntax removed."""
    text = LINK.sub(lambda m: m.group(1) or m.group(2), CODE_BLOCK.sub("\n\n", body))
    sentences: dict[str, None] = {}  # ordered, and a repeated sentence counts once
    for block in BLOCK_BREAK.split(text):
        flat = " ".join(MARKDOWN_NOISE.sub(" ", block).split())
        for sentence in SENTENCE_END.split(flat):
            sentence = LABEL.sub("", sentence.strip())
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


def _title_of(sentence: str) -> str:
    title = sentence.rstrip(".!").strip()
    return title[:1].upper() + title[1:]


def _candidate(
    sentences: list[str], index: int, domain: str, source: SourceDoc, context: Context
) -> Candidate:
    sentence = sentences[index]
    title = _title_of(sentence)
    neighbour = sentences[index + 1] if index + 1 < len(sentences) else ""
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
