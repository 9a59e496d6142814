"""A run report becomes a claim only on a paired effect beyond the noise floor (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimledger.inbox.worker import Worker
from claimledger.kb.notes import read_note
from claimledger.research.experiment import measured_context, paired_baseline
from claimledger.research.runreport import SeedRun, context_label
from claimledger.trainer import trainer_defaults
from claimledger.workspace import Workspace
from tests.inbox.conftest import CONFIG
from tests.inbox.test_runreport import RUN_A, report
from tests.planner.conftest import PLATFORM, add_seed_run

BASE_RUNS = ["f" * 64, "e" * 64]


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    (workspace / "claimledger.toml").write_text(CONFIG)
    return Workspace.open(workspace)


def paired(delta: float, floor: float, n: int = 2) -> dict:
    return {
        "n": n,
        "baseline_runs": BASE_RUNS[:n],
        "deltas": [delta] * n,
        "delta": delta,
        "noise_floor": floor,
    }


def test_a_paired_effect_within_the_noise_floor_is_not_a_claim(ws: Workspace) -> None:
    rel = report(ws, RUN_A, paired=paired(-0.01, 0.02))
    Worker(ws).run_once()
    meta = read_note(ws.root / rel).metadata
    assert meta["status"] == "null-result" and "within the noise floor" in meta["notes"]


def test_a_paired_effect_beyond_the_floor_is_a_claim_with_the_paired_delta(
    ws: Workspace,
) -> None:
    # the best single run would say -0.02 (2.29 against 2.31); the paired seeds say -0.05
    rel = report(ws, RUN_A, paired=paired(-0.05, 0.02))
    result = {r.path: r for r in Worker(ws).run_once().results}[rel]
    (title,) = result.claims
    meta = read_note(ws.claims_dir / "optimizer" / f"{title}.md").metadata
    assert meta["effect"]["delta"] == -0.05 and meta["effect"]["n"] == 2
    assert set(BASE_RUNS) <= set(meta["provenance"]["runs"])  # the baseline runs it rests on


def test_no_paired_baseline_is_a_null_result(ws: Workspace) -> None:
    rel = report(ws, RUN_A, paired={"n": 0, "baseline_runs": [], "deltas": [], "noise_floor": 0.02})
    Worker(ws).run_once()
    meta = read_note(ws.root / rel).metadata
    assert meta["status"] == "null-result" and "same seeds" in meta["notes"]


def test_paired_baseline_pairs_by_seed_against_the_baseline_config(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    add_seed_run(ws, 0, 3.40, "keep")
    add_seed_run(ws, 1, 3.44, "keep")
    add_seed_run(ws, 0, 3.20, "discard", batch_size=8)  # another config: not the baseline
    config = trainer_defaults()
    runs = [
        SeedRun(0, "x" * 64, "keep", 3.35, None, 1.0),
        SeedRun(1, "y" * 64, "keep", 3.40, None, 1.0),
    ]
    got = paired_baseline(ws, PLATFORM, config, runs)
    assert got["n"] == 2 and got["deltas"] == [-0.05, -0.04]
    assert got["delta"] == pytest.approx(-0.045)


def test_a_report_states_the_context_its_change_was_measured_in() -> None:
    config = {**trainer_defaults(), "batch_size": 8}
    context = measured_context(config, {"lr": [0.01, 0.02]})
    assert context == {k: v for k, v in config.items() if k != "lr"}
    assert context_label(context) == "batch_size 8"
    assert context_label(measured_context(trainer_defaults(), ["lr"])) == ""


def context_paired(delta: float, **knobs: object) -> dict:
    """A report's fields: a paired effect measured with these knobs set, every other one at the
    trainer default."""
    context = {k: v for k, v in trainer_defaults().items() if k != "lr"} | knobs
    label = ", ".join(f"{k} {v}" for k, v in sorted(knobs.items()))
    return {"paired": paired(delta, 0.02), "context": context, "context_label": label}


def claim_effects(ws: Workspace) -> dict[str, dict]:
    metas = {p.stem: read_note(p).metadata for p in (ws.claims_dir / "optimizer").glob("*.md")}
    return {title: meta["effect"] for title, meta in metas.items() if "effect" in meta}


def test_a_claim_states_the_context_of_its_paired_effect_and_names_it(ws: Workspace) -> None:
    block = context_paired(-0.05, batch_size=8, width=96)
    rel = report(ws, RUN_A, **block)
    (title,) = {r.path: r for r in Worker(ws).run_once().results}[rel].claims
    assert title.endswith("on cpu-2core-tok1M with batch_size 8, width 96")
    assert claim_effects(ws)[title]["context"] == block["context"]


def test_the_same_move_in_another_context_is_another_claim_not_evidence(ws: Workspace) -> None:
    report(ws, RUN_A, **context_paired(-0.05, batch_size=8))
    Worker(ws).run_once()
    other = report(ws, "d" * 64, **context_paired(0.04, batch_size=32))
    (second,) = Worker(ws).run_once().results
    assert second.path == other and second.enrichments == [] and len(second.claims) == 1
    again = report(ws, "e" * 64, **context_paired(-0.06, batch_size=8))
    (third,) = Worker(ws).run_once().results
    assert third.path == again and third.claims == [] and len(third.enrichments) == 1
    contexts = [e["context"]["batch_size"] for e in claim_effects(ws).values() if "context" in e]
    assert sorted(contexts) == [8, 32]
