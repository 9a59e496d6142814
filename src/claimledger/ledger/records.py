"""Ledger records: canonical JSON, content ids, UTC timestamps and validation against schemas/.

A record is a JSON object with a `kind` and a `schema_version`. Its bytes are canonical
(sorted keys, UTF-8, no insignificant whitespace) and its id is the SHA-256 hex of those
bytes, so the same content always has the same name and two writers can never collide on
different content. Records never contain their own id; the API adds an `id` key to the dicts
it returns, which the schemas forbid inside a record, so the two can never be confused.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from claimledger.errors import RecordError
from claimledger.schemas import fast_validator, schemas_fingerprint, validation_errors

SCHEMA_VERSION = 1
KINDS = ("run", "adopt", "lease", "retract")
ID_PATTERN = re.compile(r"[0-9a-f]{64}")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def canonical_bytes(record: dict[str, Any]) -> bytes:
    """The canonical JSON of a record: sorted keys, UTF-8, no spaces, no NaN."""
    try:
        text = json.dumps(
            record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise RecordError(f"record is not plain JSON: {exc}") from exc
    return text.encode("utf-8")


def record_id(record: dict[str, Any]) -> str:
    """The id of a record: SHA-256 hex of its canonical JSON (an `id` key is left out)."""
    content = {k: v for k, v in record.items() if k != "id"}
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def is_record_id(text: str) -> bool:
    """True for a full 64-hex-digit record id."""
    return bool(ID_PATTERN.fullmatch(text))


def utc_now() -> str:
    """The current instant as a record timestamp (UTC, microseconds, `Z`)."""
    return datetime.now(UTC).strftime(TIME_FORMAT)


def to_utc_iso(value: datetime | str) -> str:
    """A datetime or ISO 8601 text as a record timestamp; naive times are taken as UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError as exc:
            raise RecordError(f"not an ISO 8601 time: {value!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """A record timestamp back to an aware datetime."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def drop_none(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields that have a value: records omit optional fields instead of storing null."""
    return {k: v for k, v in fields.items() if v is not None}


def schemas_version(schemas_dir: Path) -> str:
    """A fingerprint of the record schemas: caches re-validate when it changes."""
    stamps = []
    for kind in KINDS:
        try:
            stat = (schemas_dir / f"{kind}.schema.json").stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append(None)  # the packaged schema is used
    return _fingerprint(schemas_dir, tuple(stamps))


@lru_cache(maxsize=8)
def _fingerprint(schemas_dir: Path, stamps: tuple[Any, ...]) -> str:
    """Hash the schema files only when their times or sizes changed (appends are hot)."""
    del stamps  # part of the cache key only
    return schemas_fingerprint(schemas_dir, KINDS)


def record_problems(record: Any, schemas_dir: Path, fingerprint: str | None = None) -> list[str]:
    """Every way a parsed record breaks its kind's schema; [] when it is valid."""
    if not isinstance(record, dict):
        return ["a record must be a JSON object"]
    kind = record.get("kind")
    if kind not in KINDS:
        return [f"unknown record kind {kind!r} (known: {', '.join(KINDS)})"]
    fingerprint = fingerprint or schemas_version(schemas_dir)
    import fastjsonschema

    try:
        fast_validator(schemas_dir, kind, fingerprint)(record)
        return []
    except fastjsonschema.JsonSchemaValueException as exc:
        # jsonschema lists every error with its path; the fast validator stops at the first.
        errors = validation_errors(schemas_dir, kind, record)
        return [f"{where}: {message}" for where, message in errors] or [exc.message]


def check_record(record: dict[str, Any], schemas_dir: Path, fingerprint: str | None = None) -> None:
    """Raise RecordError naming every schema problem of a record about to be written."""
    content = {k: v for k, v in record.items() if k != "id"}
    problems = record_problems(content, schemas_dir, fingerprint)
    if problems:
        kind = record.get("kind", "record") if isinstance(record, dict) else "record"
        raise RecordError(f"invalid {kind} record: " + "; ".join(problems))


def decode_record(
    expected_id: str, data: bytes, schemas_dir: Path, fingerprint: str
) -> tuple[dict[str, Any] | None, str | None]:
    """Check a record file's bytes: (record, None) when sound, else (None, the problem).

    Sound means: the SHA-256 of the bytes is the file's name, the bytes are canonical JSON
    of an object, and the object is valid against its kind's schema.
    """
    if hashlib.sha256(data).hexdigest() != expected_id:
        return None, "content does not match its name (SHA-256): corrupted or edited"
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not valid UTF-8 JSON: {exc}"
    if not isinstance(record, dict):
        return None, "a record must be a JSON object"
    try:
        canonical = canonical_bytes(record)
    except RecordError as exc:
        return None, exc.problem
    if canonical != data:
        return None, "not canonical JSON (sorted keys, no spaces, UTF-8)"
    problems = record_problems(record, schemas_dir, fingerprint)
    if problems:
        return None, "invalid: " + "; ".join(problems)
    return record, None
