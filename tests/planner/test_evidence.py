"""Evidence on constructed ledgers: true effects found, noise not, contradictions flagged."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from claimledger.kb.notes import json_safe, read_note
from claimledger.planner.claims import effect_claims
from claimledger.planner.evidence import (
    DEFAULT_NOISE_FLOOR,
    assess,
    bootstrap_interval,
    noise_floor,
    observations,
)
from claimledger.planner.updates import apply_changes, plan_changes
from claimledger.schemas import validation_errors
from claimledger.workspace import Workspace
from tests.planner.conftest import PLATFORM, add_seed_run

BATCH = (
    "Halving the batch to 8 sequences lowers val_bpb in a short CPU run because the critical "
    "batch size starts small"
)
MUON = "Doubling the Muon learning rate to 0.06 lowers val_bpb of the depth-2 GPT on CPU"
UNTIED = (
    "Untied input and output embeddings train faster than tied ones when each gets its own "
    "learning rate"
)
EMBED = "A higher learning rate for the embedding table than for the hidden matrices lowers val_bpb"
DAY = dt.date(2026, 11, 23)


def record(ws: Workspace, rng: random.Random, seed: int, base: float, **changes: Any) -> None:
    add_seed_run(ws, seed, base + rng.gauss(0, 0.01), "discard", **changes)


@pytest.fixture
def ledger_ws(workspace: Path) -> Workspace:
    """Runs with noise sd 0.01: batch 8 is 0.1 better, muon_lr 0.06 the same, tying 0.08 better."""
    ws = Workspace.open(workspace)
    rng = random.Random(7)
    for seed in range(4):
        record(ws, rng, seed, 3.40)
        record(ws, rng, seed, 3.30, batch_size=8)
        record(ws, rng, seed, 3.40, muon_lr=0.06)
        record(ws, rng, seed, 3.32, tie_embeddings=True)
    return ws


def by_title(ws: Workspace) -> dict[str, Any]:
    return {e.claim.title: e for e in assess(ws, PLATFORM)}


def test_noise_floor_is_the_pooled_seed_spread(ledger_ws: Workspace) -> None:
    floor = noise_floor(observations(ledger_ws, PLATFORM))
    assert floor.measured and floor.groups == 4 and floor.runs == 16
    assert 0.004 < floor.value < 0.02


def test_noise_floor_falls_back_without_repeated_runs(workspace: Path) -> None:
    floor = noise_floor([])
    assert not floor.measured and floor.value == DEFAULT_NOISE_FLOOR


def test_true_effect_is_found_and_noise_level_one_is_not(ledger_ws: Workspace) -> None:
    results = by_title(ledger_ws)
    batch = results[BATCH]
    assert batch.verdict == "supported" and batch.n == 4
    assert batch.delta == pytest.approx(-0.1, abs=0.02)
    assert batch.interval[1] < 0 and len(batch.runs) == 8
    muon = results[MUON]
    # no effect where the claim expects a gain: the runs lean against it, without a finding
    assert muon.verdict in ("weakened", "inconclusive") and "no finding" in muon.reason
    assert muon.interval[0] < 0 < muon.interval[1]


def test_claim_without_runs_has_no_data(ledger_ws: Workspace) -> None:
    assert by_title(ledger_ws)[EMBED].verdict == "no-data"


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean() -> None:
    diffs = [-0.1, -0.12, -0.09, -0.11]
    low, high = bootstrap_interval(diffs)
    assert low <= -0.105 <= high and bootstrap_interval(diffs) == (low, high)


def test_contradiction_puts_claim_under_review_and_flags_dependents(ledger_ws: Workspace) -> None:
    results = assess(ledger_ws, PLATFORM)
    changes = {c.title: c for c in plan_changes(results)}
    untied = changes[UNTIED]
    assert untied.verdict == "contradicted" and untied.new_status == "under_review"
    # -0.1 against a floor of about 0.01: the whole interval is beyond it, so `likely`
    assert changes[BATCH].new_confidence == "likely"
    assert MUON not in changes or changes[MUON].new_confidence == "speculative"
    apply_changes(ledger_ws, list(changes.values()), results, today=DAY)
    assert changes[UNTIED].flagged == [EMBED]

    note = read_note(ledger_ws.root / untied.path)
    meta = json_safe(note.metadata)
    assert meta["status"] == "under_review" and meta["confidence"] == "speculative"
    assert (
        meta["review"][0]["reason"] == "contradicted" and meta["review"][0]["date"] == "2026-11-23"
    )
    assert "## Evidence log" in note.body and "contradicted on cpu-2core-tok200K" in note.body
    assert validation_errors(ledger_ws.schemas_dir, "claim", meta) == []
    dependent = json_safe(read_note(ledger_ws.claims_dir / "optimizer" / f"{EMBED}.md").metadata)
    assert dependent["review"][0]["related"] == f"[[{UNTIED}]]"

    batch = json_safe(read_note(ledger_ws.root / changes[BATCH].path).metadata)
    assert batch["confidence"] == "likely" and batch["effect"]["n"] == 4
    assert len(batch["provenance"]["runs"]) == 8


def test_applying_the_same_evidence_twice_changes_nothing(ledger_ws: Workspace) -> None:
    results = assess(ledger_ws, PLATFORM)
    apply_changes(ledger_ws, plan_changes(results), results, today=DAY)
    before = {c.path: (ledger_ws.root / c.path).read_text() for c in effect_claims(ledger_ws)}
    again = assess(ledger_ws, PLATFORM)
    assert plan_changes(again) == []
    after = {c.path: (ledger_ws.root / c.path).read_text() for c in effect_claims(ledger_ws)}
    assert after == before


def claim_of(delta: float, context: dict[str, Any] | None = None, conf: str = "experimental"):
    from claimledger.planner.claims import ClaimEffect

    ctx = tuple(sorted((context or {}).items()))
    return ClaimEffect(
        "c", "kb/c.md", "batch_size", 16, 8, delta, 0, PLATFORM, conf, "active", (), ctx
    )


def obs_pairs(effect: float, n: int, rng: random.Random, sd: float = 0.01, **rest: Any):
    from claimledger.planner.evidence import Observation

    found = []
    for seed in range(n):
        shared = rng.gauss(0, 0.03)  # a seed's luck, shared by both arms
        for value, shift in ((16, 0.0), (8, effect)):
            bpb = 3.4 + shared + shift + rng.gauss(0, sd)
            found.append(Observation(f"{value}-{seed}", {"batch_size": value, **rest}, seed, bpb))
    return found


def test_confidence_falls_when_contrary_runs_arrive() -> None:
    from claimledger.planner.evidence import evaluate
    from claimledger.planner.updates import target

    rng = random.Random(3)
    claim = claim_of(-0.05, conf="likely")
    helped = evaluate(claim, PLATFORM, obs_pairs(-0.05, 4, rng), 0.02)
    assert helped.verdict == "supported" and target(helped) == ("likely", "active")
    hurt = evaluate(claim, PLATFORM, obs_pairs(+0.02, 4, rng), 0.03)
    assert hurt.verdict in ("weakened", "contradicted")
    assert target(hurt)[0] == "speculative"
    worse = evaluate(claim, PLATFORM, obs_pairs(+0.1, 4, rng), 0.02)
    assert worse.verdict == "contradicted" and target(worse) == ("speculative", "under_review")


def test_likely_needs_an_effect_beyond_the_floor_not_a_count() -> None:
    from claimledger.planner.evidence import evaluate
    from claimledger.planner.updates import target

    rng = random.Random(5)
    small = evaluate(claim_of(-0.03), PLATFORM, obs_pairs(-0.025, 12, rng, sd=0.008), 0.02)
    assert small.verdict == "supported" and not small.strong  # 12 comparisons, interval spans 0.02
    assert target(small)[0] == "experimental"


def test_support_brings_a_claim_under_review_back() -> None:
    from dataclasses import replace

    from claimledger.planner.evidence import evaluate
    from claimledger.planner.updates import target

    claim = replace(claim_of(-0.05), status="under_review", confidence="speculative")
    result = evaluate(claim, PLATFORM, obs_pairs(-0.08, 4, random.Random(1)), 0.02)
    assert result.verdict == "supported" and target(result)[1] == "active"


def test_comparisons_stay_in_the_claimed_context() -> None:
    from claimledger.planner.evidence import evaluate

    rng = random.Random(2)
    here = obs_pairs(-0.06, 3, rng, width=64)
    there = obs_pairs(+0.06, 3, rng, width=32)  # the opposite in another base config
    scoped = evaluate(claim_of(-0.05, {"width": 64}), PLATFORM, here + there, 0.02)
    assert scoped.n == 3 and scoped.delta < -0.04
    pooled = evaluate(claim_of(-0.05), PLATFORM, here + there, 0.02)
    assert pooled.n == 6 and pooled.verdict != "supported"


def test_two_differences_give_a_t_interval_not_a_bootstrap() -> None:
    from claimledger.planner.evidence import judge, t_test

    _p, (low, high) = t_test([-0.05, -0.06])
    assert high - low > 0.1  # t with one degree of freedom: wide, as it should be
    assert judge(claim_of(-0.05), [-0.05, -0.06], 0.02)[0] == "inconclusive"


def test_benjamini_hochberg_and_alpha_spending() -> None:
    from claimledger.planner.evidence import benjamini_hochberg, look_alpha

    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.5]) == pytest.approx(
        [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5]
    )
    assert sum(look_alpha(n) for n in range(2, 10_000)) < 0.05


def test_false_support_under_a_null_effect_is_rare() -> None:
    from claimledger.planner.evidence import judge

    rng = random.Random(9)
    for n in (2, 3, 6):
        hits = sum(
            judge(claim_of(-0.03), [rng.gauss(0, 0.02) for _ in range(n)], 0.03)[0] == "supported"
            for _ in range(400)
        )
        assert hits / 400 <= 0.05
