"""The JSON Schemas that are the contract of every file kind (claim, source, run, ...).

A workspace's own `schemas/` folder wins; the copies shipped in the package are the fallback
and what `claimledger init` writes into a new workspace.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from claimledger.errors import ConfigError

PACKAGE_SCHEMAS = "data/schemas"


def packaged_schema_files() -> dict[str, bytes]:
    """The schema files shipped with the package, by file name."""
    folder = resources.files("claimledger").joinpath(PACKAGE_SCHEMAS)
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.name.endswith(".schema.json")
    }


def schema_path(schemas_dir: Path, name: str) -> Path | None:
    """The workspace's schema file for `name` (e.g. "claim"), if it has one."""
    path = schemas_dir / f"{name}.schema.json"
    return path if path.is_file() else None


def schema_bytes(schemas_dir: Path, name: str) -> bytes:
    """The raw bytes of a schema: the workspace's copy, else the packaged one."""
    path = schema_path(schemas_dir, name)
    if path is not None:
        return path.read_bytes()
    packaged = packaged_schema_files()
    if f"{name}.schema.json" not in packaged:
        raise ConfigError(f"no schema named {name!r}", schemas_dir)
    return packaged[f"{name}.schema.json"]


def load_schema(schemas_dir: Path, name: str) -> dict[str, Any]:
    """A schema as a dict, with a clear error when its JSON is broken."""
    try:
        return json.loads(schema_bytes(schemas_dir, name))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON in schema: {exc}", schemas_dir / name) from exc


def schemas_fingerprint(schemas_dir: Path, names: tuple[str, ...]) -> str:
    """A hash of the named schemas, so that caches know when to re-validate."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(schema_bytes(schemas_dir, name))
    return digest.hexdigest()


@lru_cache(maxsize=16)
def validator(schemas_dir: Path, name: str) -> Any:
    """A compiled Draft 2020-12 validator that also checks formats such as `date`."""
    from jsonschema import Draft202012Validator

    schema = load_schema(schemas_dir, name)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _is_calendar_date(text: str) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


@lru_cache(maxsize=16)
def fast_validator(schemas_dir: Path, name: str, fingerprint: str = "") -> Any:
    """A fastjsonschema validator (compiled to Python; ~20x faster than jsonschema), with the
    same strict calendar check for `format: date` as jsonschema's FormatChecker.

    `fingerprint` is part of the cache key only: pass a new one when the schema file changed."""
    import fastjsonschema

    del fingerprint
    schema = load_schema(schemas_dir, name)
    # use_default=False: validating must never fill in defaults (it would change the data).
    return fastjsonschema.compile(schema, formats={"date": _is_calendar_date}, use_default=False)


def is_valid(schemas_dir: Path, name: str, instance: Any) -> bool:
    """Whether `instance` satisfies the schema: the fast check used on bulk data."""
    import fastjsonschema

    try:
        fast_validator(schemas_dir, name)(instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def validation_errors(schemas_dir: Path, name: str, instance: Any) -> list[tuple[str, str]]:
    """(field path, message) for every way `instance` breaks the schema, sorted.

    Valid instances (the common case) pass the fast check; only invalid ones pay for
    jsonschema, which lists every error with a readable message."""
    if is_valid(schemas_dir, name, instance):
        return []
    errors = []
    for error in validator(schemas_dir, name).iter_errors(instance):
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        errors.append((where, _short_message(error)))
    return sorted(errors)


def _short_message(error: Any) -> str:
    """jsonschema's message, with huge instance dumps cut to a readable length."""
    message = error.message
    return message if len(message) <= 200 else message[:197] + "..."
