"""The note JSON Schemas (claim, source and the contracts they are built from: effect,
review-flag, run-report): valid, identical in both places, and met by the seed notes."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import frontmatter
import pytest
from jsonschema import Draft202012Validator

from claimledger.schemas import is_valid, load_schema, validation_errors

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "src" / "claimledger" / "data" / "schemas"
EMBEDDED = REPO / "schemas"
NAMES = ("claim", "source", "effect", "review-flag", "run-report")
SEED_CLAIMS = sorted((REPO / "kb").rglob("*.md"))
SEED_SOURCES = sorted((REPO / "inbox").glob("*.md"))


def validator(name: str) -> Draft202012Validator:
    """A validator for the packaged schema `name` (bundled: file refs inlined) that also
    checks formats."""
    schema = load_schema(PACKAGED, name)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def iso_dates(value: Any) -> Any:
    """YAML dates become ISO strings, as the note loader does before validating."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: iso_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [iso_dates(item) for item in value]
    return value


def metadata(path: Path) -> dict[str, Any]:
    """The frontmatter of a note, ready for validation."""
    return iso_dates(frontmatter.load(path).metadata)


def error_messages(name: str, instance: dict[str, Any]) -> list[str]:
    """Every validation error message for `instance`."""
    return [error.message for error in validator(name).iter_errors(instance)]


@pytest.fixture
def good_claim() -> dict[str, Any]:
    """A valid claim with every optional block filled in."""
    return {
        "type": "claim",
        "domain": "optimizer",
        "description": "One sentence that adds to the title.",
        "confidence": "experimental",
        "source": "Loshchilov & Hutter 2019",
        "created": "2026-11-22",
        "depends_on": ["[[Another claim]]", "A plain title"],
        "provenance": {"runs": ["a" * 64], "commits": ["1d8d8fa"], "sources": ["inbox/x.md"]},
        "effect": {"param": "lr", "from": 0.003, "to": 0.006, "metric": "val_bpb", "n": 0},
        "attribution": {"extra": "fields are allowed at the top level"},
    }


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = json.loads((PACKAGED / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", NAMES)
def test_the_bundled_schema_is_valid_and_self_contained(name: str) -> None:
    schema = load_schema(PACKAGED, name)
    Draft202012Validator.check_schema(schema)
    assert all(ref.startswith("#/$defs/") for ref in refs(schema))
    assert all(ref.removeprefix("#/$defs/") in schema["$defs"] for ref in refs(schema))


def refs(node: Any) -> list[str]:
    """Every `$ref` in a schema."""
    if isinstance(node, list):
        return [ref for item in node for ref in refs(item)]
    if not isinstance(node, dict):
        return []
    found = [node["$ref"]] if "$ref" in node else []
    return found + [ref for value in node.values() for ref in refs(value)]


def test_packaged_and_embedded_schemas_are_byte_identical() -> None:
    packaged = {path.name: path.read_bytes() for path in PACKAGED.glob("*.schema.json")}
    embedded = {path.name: path.read_bytes() for path in EMBEDDED.glob("*.schema.json")}
    assert packaged == embedded


@pytest.mark.parametrize("name", NAMES)
def test_every_schema_property_has_a_description(name: str) -> None:
    schema = json.loads((PACKAGED / f"{name}.schema.json").read_text(encoding="utf-8"))
    blocks = [schema["properties"]]
    blocks += [prop["properties"] for prop in schema["properties"].values() if "properties" in prop]
    missing = [key for block in blocks for key, prop in block.items() if "description" not in prop]
    assert missing == []


def test_seed_has_enough_claims_and_sources() -> None:
    assert 20 <= len(SEED_CLAIMS) <= 30
    assert len(SEED_SOURCES) >= 4


@pytest.mark.parametrize("path", SEED_CLAIMS, ids=lambda path: path.stem[:40])
def test_seed_claim_validates(path: Path) -> None:
    assert error_messages("claim", metadata(path)) == []


@pytest.mark.parametrize("path", SEED_SOURCES, ids=lambda path: path.stem)
def test_seed_source_validates(path: Path) -> None:
    assert error_messages("source", metadata(path)) == []


def test_full_claim_with_extra_top_level_fields_validates(good_claim: dict[str, Any]) -> None:
    assert error_messages("claim", good_claim) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (("confidence",), "certain"),
        (("provenance", "runs"), ["xyz"]),
        (("provenance", "commits"), ["abc"]),
        (("effect", "n"), -1),
        (("status",), "done"),
        (("domain",), ""),
    ],
)
def test_claim_with_bad_value_is_rejected(
    good_claim: dict[str, Any], field: tuple[str, ...], value: Any
) -> None:
    claim = copy.deepcopy(good_claim)
    target = claim
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    assert error_messages("claim", claim) != []


def test_unknown_fields_inside_provenance_and_effect_are_rejected(
    good_claim: dict[str, Any],
) -> None:
    for block in ("provenance", "effect"):
        claim = copy.deepcopy(good_claim)
        claim[block]["surprise"] = 1
        assert error_messages("claim", claim) != [], block


def test_claim_missing_required_field_is_rejected(good_claim: dict[str, Any]) -> None:
    del good_claim["source"]
    assert error_messages("claim", good_claim) == ["'source' is a required property"]


@pytest.mark.parametrize("name", ("claim", "source"))
def test_impossible_date_fails_the_format_checker(name: str, good_claim: dict[str, Any]) -> None:
    if name == "claim":
        instance = {**good_claim, "created": "2026-02-00"}
    else:
        instance = {"type": "source", "title": "T", "status": "unprocessed", "date": "2026-02-00"}
    assert error_messages(name, instance) == ["'2026-02-00' is not a 'date'"]


def test_source_with_unknown_status_is_rejected() -> None:
    source = {"type": "source", "title": "T", "status": "done", "attempts": 0}
    assert error_messages("source", source) != []


def test_the_fast_check_never_fills_in_defaults() -> None:
    claim = metadata(SEED_CLAIMS[0])
    claim.pop("status", None)  # the claim schema has a default for it
    before = copy.deepcopy(claim)
    assert is_valid(EMBEDDED, "claim", claim)
    assert claim == before


BAD_VALUES = ["", "2026-02-00", -1, 1.5, None, True, [], [""], ["ok", 3], {}, {"x": 1}, "x" * 300]


@pytest.mark.parametrize("name", ("claim", "source"))
def test_the_screened_error_listing_matches_plain_jsonschema(
    name: str, good_claim: dict[str, Any]
) -> None:
    """validation_errors skips property values that pass a fast check of their own subschema:
    across random breakages, top-level and nested, it must list exactly jsonschema's errors."""
    base = good_claim if name == "claim" else metadata(SEED_SOURCES[0])
    paths = [(key,) for key in base] + [("effect", "n"), ("provenance", "runs"), ("nope",)]
    rng = random.Random(name)
    listed = 0
    for _ in range(300):
        instance = copy.deepcopy(base)
        for path in rng.sample(paths, rng.randint(1, 4)):
            target = instance
            for key in path[:-1]:
                target = target.setdefault(key, {}) if isinstance(target, dict) else {}
            if isinstance(target, dict):
                if rng.random() < 0.2:
                    target.pop(path[-1], None)
                else:
                    target[path[-1]] = rng.choice(BAD_VALUES)
        plain = sorted(
            ("/".join(str(p) for p in error.absolute_path) or "(top)", error.message[:197])
            for error in validator(name).iter_errors(instance)
        )
        screened = [
            (where, message[:197]) for where, message in validation_errors(PACKAGED, name, instance)
        ]
        assert screened == plain, instance
        listed += bool(plain)
    assert listed > 200  # most instances were broken: the comparison was not vacuous
