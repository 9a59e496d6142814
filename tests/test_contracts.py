"""The contracts as schemas: effect, review-flag and run-report, bundled into the claim schema,
checked where they are written and where they are read."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import frontmatter
import pytest
from click.testing import CliRunner

from claimledger.cli import main
from claimledger.errors import ConfigError, SchemaError
from claimledger.kb.index import open_index
from claimledger.kb.notes import json_safe, read_note
from claimledger.kb.review import review_queue
from claimledger.planner.claims import effect_claims
from claimledger.planner.updates import flag_dependents
from claimledger.research.experiment import ExperimentResult, _write_report
from claimledger.research.runreport import SeedRun
from claimledger.schemas import check, load_schema, schemas_fingerprint, validation_errors
from claimledger.trainer.corpus import Corpus
from claimledger.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "schemas"
SEED_CLAIMS = sorted((REPO / "kb").rglob("*.md"))
RUN_A, RUN_B, BASE = "a" * 64, "b" * 64, "c" * 64
DEPENDED_ON = "QK-norm lets a small GPT train stably at a learning rate twice as high"


def seed_effects() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in SEED_CLAIMS:
        effect = frontmatter.load(path).metadata.get("effect")
        if effect is not None:
            found.append((path.stem, json_safe(effect)))
    return found


def experiment(**changes: Any) -> ExperimentResult:
    fields: dict[str, Any] = {
        "platform": "cpu-2core-tok1M",
        "branch": "research/lr",
        "commit": "1d8d8fa",
        "config_diff": {"lr": [0.01, 0.02]},
        "baseline": {"run": BASE, "val_bpb": 2.31},
        "status": "keep",
        "runs": [
            SeedRun(0, RUN_A, "keep", 2.3, None, 12.0),
            SeedRun(1, RUN_B, "crash", None, "out of memory", 3.0),
        ],
        "corpus": Corpus("stdlib", "0123456789abcdef", bundled=True),
    }
    fields.update(changes)
    return ExperimentResult(**fields)


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    return Workspace.open(workspace)


def write_claim(ws: Workspace, title: str, extra: str) -> Path:
    path = ws.claims_dir / "optimizer" / f"{title}.md"
    path.write_text(
        "---\ntype: claim\ndomain: optimizer\ndescription: d\nconfidence: experimental\n"
        f"source: s\ncreated: 2026-11-22\n{extra}---\n\n# {title}\n",
        encoding="utf-8",
    )
    return path


# --- the schemas themselves --------------------------------------------------------------


def test_the_claim_schema_takes_effect_and_review_flags_from_their_own_files() -> None:
    raw = json.loads((EMBEDDED / "claim.schema.json").read_text())
    assert raw["properties"]["effect"]["$ref"] == "effect.schema.json"
    assert raw["properties"]["review"]["items"] == {"$ref": "review-flag.schema.json"}
    bundled = load_schema(EMBEDDED, "claim")
    effect = json.loads((EMBEDDED / "effect.schema.json").read_text())
    assert bundled["properties"]["effect"]["properties"].keys() == effect["properties"].keys()
    # the referring description wins over the file's own
    assert (
        bundled["properties"]["effect"]["description"] == raw["properties"]["effect"]["description"]
    )
    assert "effect.scalar" in bundled["$defs"]


@pytest.mark.parametrize(("title", "effect"), seed_effects(), ids=lambda v: str(v)[:40])
def test_every_seed_effect_meets_the_effect_schema(title: str, effect: dict[str, Any]) -> None:
    assert validation_errors(EMBEDDED, "effect", effect) == [], title


def test_the_seed_has_claims_with_effects() -> None:
    assert len(seed_effects()) >= 5


def test_check_names_the_schema_and_the_field(ws: Workspace) -> None:
    with pytest.raises(SchemaError) as caught:
        check(ws.schemas_dir, "effect", {"param": "lr", "metric": "val_bpb", "n": -1})
    assert "effect.schema.json" in caught.value.problem and "n: " in caught.value.problem
    check(ws.schemas_dir, "review-flag", {"reason": "other", "date": "2026-11-22"})


def test_changing_a_referenced_schema_changes_the_fingerprint(ws: Workspace) -> None:
    before = schemas_fingerprint(ws.schemas_dir, ("claim", "source"))
    path = ws.schemas_dir / "effect.schema.json"
    schema = json.loads(path.read_text())
    schema["required"] = ["param", "metric", "delta"]
    path.write_text(json.dumps(schema, indent=2))
    assert schemas_fingerprint(ws.schemas_dir, ("claim", "source")) != before
    assert load_schema(ws.schemas_dir, "claim")["properties"]["effect"]["required"][-1] == "delta"


def test_a_workspace_without_the_referenced_file_uses_the_packaged_one(ws: Workspace) -> None:
    (ws.schemas_dir / "effect.schema.json").unlink()
    claim = {"type": "claim", "domain": "d", "description": "d", "confidence": "likely"}
    claim |= {"source": "s", "created": "2026-11-22", "effect": {"param": "lr"}}
    assert validation_errors(ws.schemas_dir, "claim", claim) == [
        ("effect", "'metric' is a required property")
    ]


def test_schemas_that_refer_to_each_other_in_a_cycle_are_refused(ws: Workspace) -> None:
    path = ws.schemas_dir / "effect.schema.json"
    schema = json.loads(path.read_text())
    schema["properties"]["param"] = {"$ref": "claim.schema.json"}
    path.write_text(json.dumps(schema))
    chain = "cycle: claim.schema.json -> effect.schema.json -> claim.schema.json"
    with pytest.raises(ConfigError, match=re.escape(chain)):
        load_schema(ws.schemas_dir, "claim")


# --- run reports -------------------------------------------------------------------------


def test_the_real_writer_writes_a_report_that_meets_the_run_report_schema(
    ws: Workspace,
) -> None:
    path = _write_report(ws, experiment(), "tester", ["[[Some claim]]"])
    meta = json_safe(read_note(path).metadata)
    assert validation_errors(ws.schemas_dir, "run-report", meta) == []
    assert meta["results"] == {
        "val_bpb": [2.3],
        "mean_val_bpb": 2.3,
        "status": "keep",
        "crashes": ["seed 1: out of memory"],
    }
    assert meta["corpus"] == {"name": "stdlib", "hash": "0123456789abcdef"}


def test_the_writer_refuses_an_invalid_report_before_writing_anything(ws: Workspace) -> None:
    before = sorted(ws.inbox_dir.iterdir())
    bad = experiment(baseline={"run": "not-a-run-id", "val_bpb": 2.31})
    with pytest.raises(SchemaError) as caught:
        _write_report(ws, bad, "tester", [])
    assert "run-report.schema.json" in caught.value.problem
    assert "baseline/run" in caught.value.problem
    assert sorted(ws.inbox_dir.iterdir()) == before


# --- effects and review flags where they are read and written -----------------------------


def test_lint_reports_an_invalid_effect_through_the_bundled_ref(ws: Workspace) -> None:
    write_claim(ws, "Bad effect", "effect:\n  param: lr\n  metric: val_bpb\n  n: many\n")
    result = CliRunner().invoke(main, ["-C", str(ws.root), "lint", "--json"])
    assert result.exit_code == 1
    findings = [f for f in json.loads(result.output)["findings"] if "Bad effect" in f["path"]]
    assert [(f["code"], f["message"]) for f in findings] == [
        ("schema", "effect/n: 'many' is not of type 'integer'")
    ]


def test_the_planner_skips_an_invalid_effect_naming_the_note(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    good = len(effect_claims(ws))
    write_claim(ws, "Bad effect", "effect:\n  param: lr\n  from: 1\n  to: 2\n  surprise: 1\n")
    with caplog.at_level(logging.WARNING):
        assert len(effect_claims(ws)) == good
    assert "Bad effect.md" in caplog.text and "effect.schema.json" in caplog.text


def test_flags_written_by_the_planner_meet_the_review_flag_schema(ws: Workspace) -> None:
    flagged = flag_dependents(ws, DEPENDED_ON, "cpu-2core-tok1M", "2026-11-23")
    assert flagged
    for title in flagged:
        path = next(ws.claims_dir.rglob(f"{title}.md"))
        flags = json_safe(read_note(path).metadata)["review"]
        assert [validation_errors(ws.schemas_dir, "review-flag", f) for f in flags] == [[]]


def test_the_review_queue_names_an_invalid_flag_instead_of_crashing(
    ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    write_claim(ws, "Odd flag", "review:\n- reason: bored\n  date: 2026-11-23\n")
    with caplog.at_level(logging.WARNING), open_index(ws) as conn:
        items = [i for i in review_queue(ws, conn, with_lint=False) if i.title == "Odd flag"]
    assert [i.reason for i in items] == ["other"]
    assert "review-flag.schema.json" in items[0].detail and "reason" in items[0].detail
    assert "Odd flag.md" in caplog.text
