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
    assert muon.verdict == "inconclusive" and "not beyond the noise floor" in muon.reason


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
    assert changes[BATCH].new_confidence == "experimental"
    assert MUON not in changes  # inconclusive: nothing to change
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
    assert batch["confidence"] == "experimental" and batch["effect"]["n"] == 4
    assert len(batch["provenance"]["runs"]) == 8


def test_applying_the_same_evidence_twice_changes_nothing(ledger_ws: Workspace) -> None:
    results = assess(ledger_ws, PLATFORM)
    apply_changes(ledger_ws, plan_changes(results), results, today=DAY)
    before = {c.path: (ledger_ws.root / c.path).read_text() for c in effect_claims(ledger_ws)}
    again = assess(ledger_ws, PLATFORM)
    assert plan_changes(again) == []
    after = {c.path: (ledger_ws.root / c.path).read_text() for c in effect_claims(ledger_ws)}
    assert after == before
