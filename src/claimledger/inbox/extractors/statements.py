"""Candidate statements of a source, and titles made from them in the vault's style.

A candidate is a sentence of a paragraph or a list item, with what surrounds it: the sentences
before and after, the heading it sits under, whether it is a list item and whether it was
emphasised. A title is the statement as a proposition: labels ("Key finding:"), quotes,
citations and enumerators trimmed, a pronoun subject ("It", "This") replaced by the subject of
the sentence before, the first letter cased as the vault's titles are, at most 200 bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
LABEL_AT_START = re.compile(r"^[A-Z][\w -]{0,30}:\s+(?=\S)")
WEAK_START = re.compile(
    r"^(?:it|this|that|these|those|they|he|she|we|i|you|there|here|but|and|or|so|also)\b", re.I
)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
NOISE = re.compile(r"^>\s?|`|\*\*|__", re.M)
BOLD = re.compile(r"\*\*|__")
# "Key finding: ...", "Strong claim candidate: ...": a short label in front of the statement.
LABEL = re.compile(r"^([^:.!?\"“]{1,60}?):\s+(?=\S)")
ENUMERATOR = re.compile(r"^(?:\(?\d{1,2}[.)]|\(?[a-z][.)]|[-–—•>*]+)\s+")
QUOTES = re.compile(r"[\"“”«»]|(?<!\w)['‘]|['’](?!\w)")
CITATION = re.compile(r"\s*\((?:[^()]*\d[^()]*|[^()]*et al[^()]*)\)")
PRONOUN = re.compile(r"^(?:it|this|that|they|these|those|he|she)\b\s+", re.I)
SUBJECT_END = re.compile(
    r"\s(?:is|are|was|were|has|have|had|can|could|will|would|should|does|do|did|may|might|"
    r"lowers?|raises?|reduces?|increases?|improves?|outperforms?|shows?|finds?|makes?|"
    r"creates?|enables?|requires?|remains?|becomes?|prices?|correlates?|matches|means?)\b"
)
CLAUSE_BREAK = re.compile(r",\s|;\s|\s[—–-]\s|\s(?:because|which|while|whereas)\s")
MIN_WORDS, MAX_WORDS = 5, 60
MAX_TITLE_BYTES = 200


@dataclass(frozen=True)
class Statement:
    """One candidate: its text and where it stands in the source."""

    text: str
    index: int  # order among the source's candidates
    block: int  # paragraph or list item number
    heading: str  # the nearest heading above, "" before the first
    is_item: bool  # a list item
    emphasised: bool  # bold or underlined somewhere in it
    labelled: bool  # it had a "Label:" in front
    previous: str  # the sentence before it in the same block, else the previous block's last
    following: str


def statements(body: str) -> list[Statement]:
    """The prose statements of a markdown body, in order; repeated ones count once."""
    text = LINK.sub(lambda m: m.group(1) or m.group(2), CODE_BLOCK.sub("\n\n", body))
    raw: list[tuple[str, int, str, bool, bool, bool]] = []
    heading = ""
    seen: set[str] = set()
    for number, block in enumerate(BLOCK_BREAK.split(text)):
        lines = []
        for line in block.splitlines():
            match = HEADING.match(line)
            if match:
                heading = BOLD.sub("", match.group(2)).strip()
            else:
                lines.append(line)
        chunk = "\n".join(lines)
        is_item = bool(ITEM.match(chunk))
        emphasised = bool(BOLD.search(chunk))
        flat = " ".join(NOISE.sub(" ", ITEM.sub(" ", chunk, count=1)).split())
        for sentence in SENTENCE_END.split(flat):
            sentence = sentence.strip()
            label = LABEL.match(sentence)
            labelled = bool(label and len(label.group(1).split()) <= 6)
            if labelled and label is not None:
                rest = sentence[label.end() :].strip()
                if len(rest.split()) >= 3:  # "Total Budget: $10,000" is not a statement
                    sentence = rest
            if not sentence or sentence.lower() in seen:
                continue
            seen.add(sentence.lower())
            raw.append((sentence, number, heading, is_item, emphasised, labelled))
    kept = [r for r in raw if MIN_WORDS <= len(r[0].split()) <= MAX_WORDS]
    texts = [r[0] for r in raw]
    position = {id(r): i for i, r in enumerate(raw)}
    result = []
    for index, r in enumerate(kept):
        at = position[id(r)]
        previous = texts[at - 1] if at > 0 else ""
        following = texts[at + 1] if at + 1 < len(texts) else ""
        result.append(Statement(r[0], index, r[1], r[2], r[3], r[4], r[5], previous, following))
    return result


def make_title(statement: Statement, lowercase: bool) -> str:
    """The statement as a claim title in the vault's style; "" when nothing is left."""
    text = statement.text
    for _ in range(2):  # "Key claims: (1) ..." has a label and an enumerator
        label = LABEL.match(text)
        if label and len(label.group(1).split()) <= 6 and len(text[label.end() :].split()) >= 3:
            text = text[label.end() :]
        text = ENUMERATOR.sub("", text.strip())
    text = CITATION.sub("", QUOTES.sub("", text))
    text = resolve_pronoun(text, statement.previous)
    text = " ".join(text.split()).strip(" .,;:!-–—")
    text = shorten(text, MAX_TITLE_BYTES)
    if not text:
        return ""
    return cased(text, lowercase)


def resolve_pronoun(text: str, previous: str) -> str:
    """'It lowers loss' after 'Muon is ...' -> 'Muon lowers loss'; unchanged when unsure."""
    pronoun = PRONOUN.match(text)
    if not pronoun or not previous:
        return text
    before = CITATION.sub("", QUOTES.sub("", previous))
    before = ENUMERATOR.sub("", LABEL.sub("", before.strip()))
    end = SUBJECT_END.search(before)
    if end is None:
        return text
    subject = before[: end.start()].strip(" ,")
    if not 1 <= len(subject.split()) <= 8 or PRONOUN.match(subject + " "):
        return text
    return f"{subject} {text[pronoun.end() :]}"


def shorten(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes: cut at the last clause break that keeps half, else a word."""
    if len(text.encode()) <= limit:
        return text
    head = text.encode()[:limit].decode(errors="ignore")
    breaks = [m.start() for m in CLAUSE_BREAK.finditer(head) if m.start() >= len(head) // 2]
    cut = head[: breaks[-1]] if breaks else head.rsplit(" ", 1)[0]
    return cut.strip(" .,;:!-–—")


def cased(text: str, lowercase: bool) -> str:
    """First letter lowered (teleo style) unless the first word is an acronym or a name
    with capitals inside; or raised (a sentence)."""
    first = text.split(" ", 1)[0]
    if lowercase:
        keep = sum(c.isupper() for c in first) > 1 or any(c.isdigit() for c in first)
        return text if keep else text[:1].lower() + text[1:]
    return text[:1].upper() + text[1:]


def lowercase_style(titles: list[str]) -> bool:
    """Whether a vault writes titles in lower case prose: most start with a small letter."""
    firsts = [t[:1] for t in titles if t[:1].isalpha()]
    return bool(firsts) and sum(c.islower() for c in firsts) > len(firsts) / 2
