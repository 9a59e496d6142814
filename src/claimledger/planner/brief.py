"""The brief: what an agent reads before its next run, within a token budget.

Sections: the best run and config on the platform (and its noise floor), the most relevant
active claims (ranked by graph centrality x relevance x confidence), open challenges, claims
under review, proposals leased by other agents and open ones. Every item has a usefulness
rank; the brief takes items by rank until the budget is spent, so truncation always drops the
least useful first, then prints the kept items in section order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claimledger.planner.claims import claim_notes
from claimledger.planner.evidence import noise_floor, observations
from claimledger.planner.strategies import CONFIDENCE_WEIGHT
from claimledger.sqlite_cache import retrying
from claimledger.workspace import Workspace

SECTIONS = (
    "Best run",
    "Claims",
    "Open challenges",
    "Under review",
    "Leased proposals",
    "Open proposals",
)
TOP_CLAIMS = 5  # these outrank everything but the best run
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Item:
    """One line of the brief: its section, its usefulness rank (lower is kept first)."""

    section: str
    rank: float
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def tokens(text: str) -> int:
    """A rough token count: four characters a token."""
    return len(text) // CHARS_PER_TOKEN + 1


def _best_items(ws: Workspace, platform: str) -> list[Item]:
    from claimledger.ledger import best_run
    from claimledger.trainer.params import trainer_defaults

    best = best_run(ws, platform)
    floor = noise_floor(observations(ws, platform))
    where = "measured" if floor.measured else "assumed, no repeated runs yet"
    items = [Item("Best run", 0, f"noise floor {floor.value:.4f} bpb ({where})")]
    if best is None:
        return [
            Item("Best run", 0, f"no kept run on {platform} yet: start from the defaults"),
            *items,
        ]
    defaults = trainer_defaults()
    changes = {k: v for k, v in (best.get("config") or {}).items() if defaults.get(k) != v}
    text = (
        f"{best['metrics']['val_bpb']:.6f} by run {best['id'][:12]} on {best['branch']} "
        f"(commit {best['commit']}); config = defaults + {changes or 'nothing'}"
    )
    return [Item("Best run", 0, text, {"run": best["id"], "set": changes}), *items]


@retrying
def _centrality(ws: Workspace) -> dict[str, float]:
    from claimledger.kb import build_graph, open_index
    from claimledger.kb.graph import centrality

    with open_index(ws) as conn:
        return centrality(build_graph(conn))


def _claim_items(ws: Workspace, platform: str, topic: str | None) -> list[Item]:
    ranks = _centrality(ws)
    scored = []
    for rel, meta in claim_notes(ws):
        if meta.get("status", "active") not in ("active", "proposed"):
            continue
        text = " ".join(str(meta.get(k, "")) for k in ("description", "domain")) + rel
        relevance = 1.0 + (3.0 if topic and topic.lower() in text.lower() else 0.0)
        effect = meta.get("effect") if isinstance(meta.get("effect"), dict) else {}
        relevance += 2.0 if effect.get("platform") == platform else 0.0
        weight = CONFIDENCE_WEIGHT.get(str(meta.get("confidence")), 1.0)
        score = (0.01 + ranks.get(rel, 0.0)) * relevance * weight
        scored.append((score, rel, meta, effect))
    scored.sort(key=lambda s: (-s[0], s[1]))
    items = []
    for i, (score, rel, meta, effect) in enumerate(scored):
        title = rel.rsplit("/", 1)[-1].removesuffix(".md")
        line = f"[[{title}]] ({meta.get('confidence', '?')})"
        if effect:
            line += f" effect {effect.get('param')} {effect.get('from')} -> {effect.get('to')}: "
            line += f"{effect.get('delta')} on {effect.get('platform')} (n={effect.get('n', 0)})"
        rank = 1 + i / 100 if i < TOP_CLAIMS else 5 + i
        items.append(Item("Claims", rank, line, {"title": title, "score": round(score, 6)}))
    return items


def _review_items(ws: Workspace) -> list[Item]:
    items = []
    for rel, meta in claim_notes(ws):
        title = rel.rsplit("/", 1)[-1].removesuffix(".md")
        if meta.get("status") == "under_review":
            reasons = ", ".join(str(f.get("reason")) for f in meta.get("review") or []) or "?"
            items.append(Item("Under review", 3, f"[[{title}]] ({reasons})"))
        for challenger in meta.get("challenged_by") or []:
            other = str(challenger).strip("[]").split("|")[0]
            items.append(Item("Open challenges", 4, f"[[{title}]] challenged by [[{other}]]"))
    return items


def _proposal_items(ws: Workspace, platform: str) -> list[Item]:
    from claimledger.ledger import active_leases
    from claimledger.planner.proposals import list_proposals

    leases = {lease["proposal"]: lease for lease in active_leases(ws)}
    items = []
    for proposal in list_proposals(ws, status="open"):
        if proposal.platform != platform:
            continue
        change = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in proposal.config_diff.items())
        lease = leases.get(proposal.id)
        if lease:
            text = f"{proposal.id}: {change} (leased by {lease['agent']} until {lease['until']})"
            items.append(Item("Leased proposals", 2, text))
        else:
            items.append(Item("Open proposals", 6, f"{proposal.id}: {change} ({proposal.why})"))
    return items


def build_brief(
    ws: Workspace, platform: str | None = None, topic: str | None = None, max_tokens: int = 1500
) -> dict[str, Any]:
    """The brief as {platform, sections: {name: [lines]}, tokens, dropped}, within max_tokens."""
    from claimledger.planner.plan import default_platform

    platform = platform or default_platform(ws)
    items = [
        *_best_items(ws, platform),
        *_claim_items(ws, platform, topic),
        *_review_items(ws),
        *_proposal_items(ws, platform),
    ]
    kept, used = [], tokens(f"# Brief for {platform}\n")
    for item in sorted(items, key=lambda i: i.rank):
        cost = tokens(item.text) + 1
        if used + cost > max_tokens:
            continue
        kept.append(item)
        used += cost
    sections = {name: [i.text for i in kept if i.section == name] for name in SECTIONS}
    return {
        "platform": platform,
        "topic": topic,
        "sections": {k: v for k, v in sections.items() if v},
        "tokens": used,
        "dropped": len(items) - len(kept),
    }


def render_brief(brief: dict[str, Any]) -> str:
    """The brief as markdown text."""
    lines = [f"# Brief for {brief['platform']}"]
    for name, entries in brief["sections"].items():
        lines += ["", f"## {name}", *(f"- {entry}" for entry in entries)]
    if brief["dropped"]:
        lines += ["", f"({brief['dropped']} less useful items left out for the token budget)"]
    return "\n".join(lines) + "\n"
