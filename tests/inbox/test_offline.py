"""The offline extractor's choice of sentences."""

from __future__ import annotations

from claimledger.inbox.extractors.offline import score_sentence, split_sentences

BODY = """\
# Heading that is not a sentence

Muon lowers val_bpb by 0.01 compared with AdamW at width 64. It may help more at scale.
Et al. 2020 is cited here, e.g. by Kaplan et al. 2020 who found loss falls as a power law.

- Warmup of 200 steps beats warmup of 50 steps on the 2-core CPU platform
- **Bold** claims about 3 runs are stripped of emphasis markers before scoring

```python
x = 1  # lowers nothing; code is not prose
```
"""


def test_sentences_come_from_prose_and_list_items_not_code_or_headings() -> None:
    sentences = split_sentences(BODY)
    assert sentences[0] == "Muon lowers val_bpb by 0.01 compared with AdamW at width 64."
    assert "Heading that is not a sentence" not in " ".join(sentences)
    assert not any("x = 1" in s for s in sentences)
    assert "Warmup of 200 steps beats warmup of 50 steps on the 2-core CPU platform" in sentences
    assert any(s.startswith("Bold claims about 3 runs") for s in sentences)
    assert any("Kaplan et al. 2020 who found" in s for s in sentences)


def test_assertive_specific_sentences_score_and_hedged_ones_do_not() -> None:
    assert score_sentence("Muon lowers val_bpb by 0.01 compared with AdamW at width 64.") > 0
    assert score_sentence("Muon may lower val_bpb by 0.01 compared with AdamW at width 64.") == 0
    assert score_sentence("It lowers val_bpb by 0.01 compared with AdamW at width 64.") == 0
    assert score_sentence("Does Muon lower val_bpb by 0.01 compared with AdamW at width 64?") == 0
    assert score_sentence("Muon is an optimizer for matrices in hidden layers.") == 0
    specific = score_sentence("Muon lowers val_bpb by 0.01 compared with AdamW at width 64.")
    vague = score_sentence("Muon lowers val_bpb compared with AdamW in small models.")
    assert specific > vague > 0


def test_labels_are_stripped_and_repeated_sentences_count_once() -> None:
    sentence = "Muon beats AdamW by 3 percent at width 64."
    body = f"Summary: {sentence}\n\n{sentence}\n"
    assert split_sentences(body) == [sentence]
    assert score_sentence("For details on the 3 runs you can read the longer report.") == 0
