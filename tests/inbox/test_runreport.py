"""Run reports (schemas/run-report.schema.json) become experimental claims with an effect, or
evidence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from claimledger.inbox import add_source
from claimledger.inbox.extractors.runreport import effect_title
from claimledger.inbox.worker import Worker
from claimledger.kb.notes import read_note
from claimledger.workspace import Workspace

RUN_A, RUN_B = "a" * 64, "b" * 64


def report(ws: Workspace, first_run: str, **changes: Any) -> str:
    fields: dict[str, Any] = {
        "author": "claimledger run (tester)",
        "domain": "optimizer",
        "format": "run-report",
        "platform": "cpu-2core-tok1M",
        "branch": "main",
        "runs": [first_run, RUN_B],
        "seeds": [0, 1],
        "tests": ["[[Compute-optimal training uses roughly 20 tokens per parameter]]"],
        "config_diff": {"lr": [0.01, 0.02]},
        "baseline": {"run": "c" * 64, "val_bpb": 2.31},
        "results": {"val_bpb": [2.30, 2.28], "mean_val_bpb": 2.29, "status": "keep"},
    }
    fields.update(changes)
    path = add_source(
        ws,
        title="Run report: lr 0.01 -> 0.02 on cpu-2core-tok1M (2 seeds)",
        body="| seed | val_bpb |\n|---|---|\n| 0 | 2.30 |\n",
        fields=fields,
        slug=f"run-report-cpu-2core-tok1M-{first_run[:8]}",
        date=dt.date(2026, 11, 23),
    )
    return ws.relative(path)


def test_a_one_key_report_becomes_an_experimental_claim_with_an_effect(ws: Workspace) -> None:
    rel = report(ws, RUN_A)
    result = {r.path: r for r in Worker(ws).run_once().results}[rel]
    title = "Raising lr from 0.01 to 0.02 lowers val_bpb on cpu-2core-tok1M"
    assert result.extractor == "run-report" and result.claims == [title]
    meta = read_note(ws.claims_dir / "optimizer" / f"{title}.md").metadata
    assert meta["confidence"] == "experimental" and meta["status"] == "proposed"
    assert meta["effect"] == {
        "param": "lr",
        "from": 0.01,
        "to": 0.02,
        "metric": "val_bpb",
        "delta": -0.02,
        "n": 2,
        "platform": "cpu-2core-tok1M",
    }
    assert meta["provenance"] == {"runs": [RUN_A, RUN_B], "sources": [rel]}


def test_a_second_report_of_the_same_change_is_evidence_for_the_claim(ws: Workspace) -> None:
    report(ws, RUN_A)
    Worker(ws).run_once()
    results = {"val_bpb": [2.29], "mean_val_bpb": 2.29, "status": "keep"}
    second = report(ws, "d" * 64, results=results)
    result = Worker(ws).run_once().results
    assert [r.path for r in result] == [second]
    assert result[0].claims == [] and len(result[0].enrichments) == 1


def test_reports_that_cannot_be_claims_are_null_results_with_a_reason(ws: Workspace) -> None:
    two_keys = report(ws, RUN_A, config_diff={"lr": [0.01, 0.02], "depth": [2, 4]})
    crashed = report(ws, "e" * 64, results={"val_bpb": [], "status": "crash"})
    Worker(ws).run_once()
    meta = read_note(ws.root / two_keys).metadata
    assert meta["status"] == "null-result"
    assert meta["notes"] == "config_diff changes 2 keys; a claim needs exactly one"
    assert read_note(ws.root / crashed).metadata["notes"] == "no finished seed: no mean val_bpb"


def test_effect_titles_say_which_way_and_how_much() -> None:
    base = {"param": "warmdown", "metric": "val_bpb", "platform": "gpu-h100-5min"}
    assert effect_title({**base, "from": 0.5, "to": 0.3, "delta": 0.01}).startswith(
        "Lowering warmdown from 0.5 to 0.3 raises"
    )
    changed = effect_title({**base, "from": "adamw", "to": "muon", "delta": 0.0002})
    assert changed == "Changing warmdown from adamw to muon barely changes val_bpb on gpu-h100-5min"


def test_a_report_that_breaks_its_schema_is_a_null_result_naming_the_field(
    ws: Workspace,
) -> None:
    rel = report(ws, RUN_A)
    path = ws.root / rel
    text = path.read_text(encoding="utf-8").replace("mean_val_bpb: 2.29", "mean_val_bpb: fast")
    path.write_text(text, encoding="utf-8")  # as a hand edit would, past add_source's check
    result = {r.path: r for r in Worker(ws).run_once().results}[rel]
    assert result.claims == []
    meta = read_note(path).metadata
    assert meta["status"] == "null-result"
    assert meta["notes"] == (
        "invalid run report (run-report.schema.json): "
        "results/mean_val_bpb: 'fast' is not of type 'number'"
    )
