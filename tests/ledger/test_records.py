"""Records: canonical JSON, ids, timestamps, platforms, and the ledger schemas."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from claimledger.errors import RecordError
from claimledger.ledger import build_run, canonical_bytes, platform_budget, platform_id, record_id
from claimledger.ledger.records import decode_record, record_problems, schemas_version, to_utc_iso

REPO = Path(__file__).resolve().parents[2]
KINDS = ("run", "adopt", "lease", "retract")


def test_canonical_json_is_sorted_compact_utf8_and_the_id_is_its_sha256() -> None:
    record = {"b": "é", "a": [1, 2.5, None], "c": {"z": True, "y": "x"}}
    data = canonical_bytes(record)
    assert data == '{"a":[1,2.5,null],"b":"é","c":{"y":"x","z":true}}'.encode()
    assert record_id(record) == hashlib.sha256(data).hexdigest()
    assert record_id({**record, "id": "ignored"}) == record_id(record)


def test_canonical_json_refuses_nan_and_non_json_values() -> None:
    with pytest.raises(RecordError, match="not plain JSON"):
        canonical_bytes({"x": float("nan")})
    with pytest.raises(RecordError):
        canonical_bytes({"x": {1, 2}})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00.000000Z"),
        ("2026-11-22T12:00:00+02:00", "2026-11-22T10:00:00.000000Z"),
        ("2026-11-22 10:00:00.5", "2026-11-22T10:00:00.500000Z"),
    ],
)
def test_times_become_utc_with_microseconds_so_text_order_is_time_order(
    text: str, expected: str
) -> None:
    assert to_utc_iso(text) == expected


def test_a_bad_time_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="ISO 8601"):
        to_utc_iso("yesterday")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("cuda", "NVIDIA H100 80GB HBM3", 300, None), "cuda-H100-300s"),
        (("cuda", "NVIDIA GeForce RTX 4090", 300.0, None), "cuda-RTX4090-300s"),
        (("cuda", "NVIDIA A100-SXM4-80GB", 90.5, None), "cuda-A100-90.5s"),
        (("mps", "Apple M2 Pro", 300, None), "mps-M2Pro-300s"),
        (("cpu", "2core", None, 2_000_000), "cpu-2core-tok2M"),
        (("cpu", "2core", 60, 1_500_000), "cpu-2core-60s-tok1.5M"),
    ],
)
def test_platform_id_names_comparable_hardware_and_budget(args: tuple, expected: str) -> None:
    assert platform_id(*args) == expected


def test_platform_id_of_an_unnamed_cpu_is_its_core_count() -> None:
    import os

    assert platform_id("cpu", None, 60, None) == f"cpu-{os.cpu_count()}core-60s"


def test_platform_budget_reads_back_seconds_and_tokens() -> None:
    assert platform_budget("cuda-H100-300s") == (300.0, None)
    assert platform_budget("cpu-2core-tok2M") == (None, 2_000_000)
    assert platform_budget("cpu-2core") == (None, None)


def good_records() -> dict[str, dict[str, Any]]:
    """One valid record of each kind."""
    t = "2026-11-22T10:00:00.000000Z"
    return {
        "run": build_run(
            branch="main",
            commit="abc1234",
            platform="cpu-2core-60s",
            status="keep",
            metrics={"val_bpb": 1.01, "memory_gb": 2.5},
            agent="a",
            started=t,
            config={"lr": 0.02},
            config_diff={"lr": [0.01, 0.02]},
        ),
        "adopt": {
            "kind": "adopt",
            "schema_version": 1,
            "branch": "b",
            "from_branch": "a",
            "commit": "abc1234",
            "agent": "x",
            "created": t,
        },
        "lease": {
            "kind": "lease",
            "schema_version": 1,
            "proposal": "p-1",
            "agent": "x",
            "since": t,
            "until": t,
            "created": t,
        },
        "retract": {
            "kind": "retract",
            "schema_version": 1,
            "supersedes": "a" * 64,
            "agent": "x",
            "created": t,
            "reason": "wrong data",
        },
    }


def bad_variants() -> list[tuple[str, dict[str, Any]]]:
    """Invalid records, each broken in one way."""
    good = good_records()
    run = good["run"]
    cases = [
        ("crash without reason", {**run, "status": "crash"}),
        ("keep without val_bpb", {**run, "metrics": {"memory_gb": 1.0}}),
        ("val_bpb zero", {**run, "metrics": {"val_bpb": 0}}),
        ("val_bpb as text", {**run, "metrics": {"val_bpb": "1.0"}}),
        ("unknown field", {**run, "colour": "red"}),
        ("bad status", {**run, "status": "kept"}),
        ("platform with space", {**run, "platform": "cpu 2"}),
        ("time without Z", {**run, "started": "2026-11-22T10:00:00"}),
        ("branch padded", {**run, "branch": " main"}),
        ("boolean as number", {**run, "metrics": {"val_bpb": True}}),
        ("bad supersedes", {**run, "supersedes": "abc"}),
        ("wrong version", {**run, "schema_version": 2}),
        ("adopt without commit", {k: v for k, v in good["adopt"].items() if k != "commit"}),
        ("lease without until", {k: v for k, v in good["lease"].items() if k != "until"}),
        ("retract without reason", {k: v for k, v in good["retract"].items() if k != "reason"}),
    ]
    return cases


@pytest.mark.parametrize("kind", KINDS)
def test_schemas_are_valid_2020_12_and_identical_in_package_and_workspace(kind: str) -> None:
    packaged = REPO / "src" / "claimledger" / "data" / "schemas" / f"{kind}.schema.json"
    embedded = REPO / "schemas" / f"{kind}.schema.json"
    assert packaged.read_bytes() == embedded.read_bytes()
    Draft202012Validator.check_schema(json.loads(packaged.read_text()))


@pytest.mark.parametrize("kind", KINDS)
def test_a_good_record_of_each_kind_is_valid(kind: str) -> None:
    assert record_problems(good_records()[kind], REPO / "schemas") == []


@pytest.mark.parametrize(("case", "record"), bad_variants(), ids=[c for c, _ in bad_variants()])
def test_the_fast_validator_agrees_with_jsonschema(case: str, record: dict[str, Any]) -> None:
    schema = json.loads((REPO / "schemas" / f"{record['kind']}.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(record)), case
    problems = record_problems(copy.deepcopy(record), REPO / "schemas")
    assert problems, case


def test_unknown_kind_is_named() -> None:
    assert "unknown record kind 'note'" in record_problems({"kind": "note"}, REPO / "schemas")[0]


def test_decode_record_names_each_way_a_file_can_be_unsound() -> None:
    schemas = REPO / "schemas"
    fp = schemas_version(schemas)
    good = good_records()["run"]
    data = canonical_bytes(good)
    rid = hashlib.sha256(data).hexdigest()
    assert decode_record(rid, data, schemas, fp) == (good, None)
    assert "does not match its name" in decode_record("0" * 64, data, schemas, fp)[1]
    spaced = json.dumps(good, sort_keys=True).encode()
    assert (
        "not canonical" in decode_record(hashlib.sha256(spaced).hexdigest(), spaced, schemas, fp)[1]
    )
    broken = b'{"kind": '
    assert (
        "not valid UTF-8 JSON"
        in decode_record(hashlib.sha256(broken).hexdigest(), broken, schemas, fp)[1]
    )
    invalid = canonical_bytes({**good, "status": "kept"})
    assert "invalid" in decode_record(hashlib.sha256(invalid).hexdigest(), invalid, schemas, fp)[1]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text().filter(lambda key: key != "id"), json_values, max_size=6))
def test_canonical_json_is_a_fixed_point_so_our_own_writes_always_verify(record: dict) -> None:
    data = canonical_bytes(record)
    assert canonical_bytes(json.loads(data.decode("utf-8"))) == data
    assert record_id(json.loads(data)) == hashlib.sha256(data).hexdigest()
