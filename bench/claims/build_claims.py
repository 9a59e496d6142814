"""Write the pre-registered claims arms of the planner benchmark and their sha256 manifest.

Run once, before the table holds any result (it refuses to overwrite the manifest once
bench/data/planner_cache.json exists, unless --force):

    .venv/bin/python bench/claims/build_claims.py

- `blind.json` is hand-written (general priors; see its `written_by`), not generated;
- `literature.json`: the real offline extractor's sentence selection (split_sentences,
  score_sentence) over every source in inbox/, each chosen sentence read by a fixed keyword
  rule into a knob move and a sign (magnitude 0.01, speculative); sentences naming no knob of
  the space are dropped;
- `placebo.json`: the blind arm's moves and magnitudes with signs drawn at random (seed 18);
- `MANIFEST.json`: the sha256 of the three files; bench/planner.py refuses to score an arm
  whose file no longer matches it.
Oracle and adversarial claims are functions of the table (true deltas, and true deltas with
the sign flipped), so bench/planner.py derives them; they are the ceiling and the floor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = REPO / "bench" / "data" / "planner_cache.json"
ARMS = ("blind", "literature", "placebo")

# keyword rules: (knob, pattern) and the move a sentence about it is read as
KNOBS: list[tuple[str, re.Pattern[str], Any, Any, Any]] = [
    # knob, pattern, from, "up" value, "down" value
    ("batch_size", re.compile(r"\bbatch", re.I), 16, 32, 8),
    ("warmdown_frac", re.compile(r"warmdown|cooldown|cool-down|decay phase", re.I), 0.3, 0.6, 0.1),
    ("warmup_frac", re.compile(r"warm-?up", re.I), 0.05, 0.2, 0.0),
    (
        "embed_lr",
        re.compile(r"embedding[^.]*learning rate|learning rate[^.]*embedding", re.I),
        0.03,
        0.1,
        0.01,
    ),
    (
        "muon_lr",
        re.compile(r"muon[^.]*learning rate|learning rate[^.]*muon", re.I),
        0.03,
        0.06,
        0.015,
    ),
    ("weight_decay", re.compile(r"weight decay", re.I), 0.1, 0.3, 0.0),
    ("width", re.compile(r"\bwid(?:th|er)\b|\bnarrow", re.I), 64, 96, 32),
    ("tie_embeddings", re.compile(r"\bti(?:e|ed|ing) (?:the )?embedding", re.I), False, True, True),
    ("logit_softcap", re.compile(r"soft-?cap", re.I), 15.0, 30.0, 0.0),
]
UP = re.compile(r"\b(?:higher|longer|larger|more|increas\w*|doubl\w*|wider|raise[sd]?)\b", re.I)
DOWN = re.compile(
    r"\b(?:lower|shorter|smaller|fewer|less|decreas\w*|halv\w*|narrower|without)\b", re.I
)
GOOD = re.compile(
    r"\b(?:improves?|better|beats?|outperforms?|faster|"
    r"lowers? (?:the )?(?:loss|val)|helps?|optimal|matches)\b",
    re.I,
)
BAD = re.compile(
    r"\b(?:hurts?|worse|slower|costs?|unstable|diverges?|raises? (?:the )?loss)\b", re.I
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def literature() -> dict[str, Any]:
    """Claims read from the inbox by the offline extractor's sentence selection."""
    import frontmatter

    from claimledger.inbox.extractors.offline import score_sentence, split_sentences

    claims = []
    for path in sorted((REPO / "inbox").glob("*.md")):
        body = frontmatter.load(path).content
        for sentence in split_sentences(body):
            if score_sentence(sentence) <= 0:
                continue
            for knob, pattern, old, up, down in KNOBS:
                if not pattern.search(sentence):
                    continue
                good, bad = bool(GOOD.search(sentence)), bool(BAD.search(sentence))
                if good == bad:
                    continue
                new = up if UP.search(sentence) or not DOWN.search(sentence) else down
                if knob == "tie_embeddings":
                    new = True
                claims.append(
                    {
                        "title": sentence[:200],
                        "source": f"inbox/{path.name}",
                        "param": knob,
                        "from": old,
                        "to": new,
                        "delta": -0.01 if good else 0.01,
                        "confidence": "speculative",
                    }
                )
                break
    return {
        "arm": "literature",
        "written_by": "bench/claims/build_claims.py: offline extractor over inbox/, keyword rule",
        "claims": claims,
    }


def placebo(blind: dict[str, Any], seed: int = 18) -> dict[str, Any]:
    rng = random.Random(seed)
    claims = []
    for claim in blind["claims"]:
        size = abs(claim["delta"]) or 0.01
        delta = size if rng.random() < 0.5 else -size
        claims.append({**claim, "title": f"placebo: {claim['title']}", "delta": delta})
    return {"arm": "placebo", "written_by": f"random signs, seed {seed}", "claims": claims}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    manifest_path = HERE / "MANIFEST.json"
    if CACHE.exists() and manifest_path.exists() and not args.force:
        print(f"refusing: {CACHE} exists, the arms are already registered", file=sys.stderr)
        return 1
    blind = json.loads((HERE / "blind.json").read_text())
    for name, arm in (("literature", literature()), ("placebo", placebo(blind))):
        (HERE / f"{name}.json").write_text(json.dumps(arm, indent=1) + "\n")
    manifest = {
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sha256": {arm: sha256(HERE / f"{arm}.json") for arm in ARMS},
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    for arm in ARMS:
        n = len(json.loads((HERE / f"{arm}.json").read_text())["claims"])
        print(f"{arm}: {n} claims, sha256 {manifest['sha256'][arm][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
