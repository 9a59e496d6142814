"""The JSON Schemas that are the contract of every file kind (claim, source, run, ...).

A workspace's own `schemas/` folder wins; the copies shipped in the package are the fallback
and what `claimledger init` writes into a new workspace. A contract used in several places has
one file (effect, review-flag, run-report) that others refer to with `"$ref": "x.schema.json"`;
`load_schema` bundles those into one self-contained schema, and `check` is the one call write
points make (it raises SchemaError naming the schema file and the field).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

from claimledger.errors import ConfigError, SchemaError

PACKAGE_SCHEMAS = "data/schemas"
# A `$ref` to another schema file of the same folder, inlined by load_schema.
FILE_REF = re.compile(r"(?:\./)?[A-Za-z0-9_-]+(?:[.-][A-Za-z0-9_]+)*\.schema\.json")
REF_SCAN = re.compile(rb'"\$ref"\s*:\s*"((?:\./)?[A-Za-z0-9_.-]+\.schema\.json)"')
# Keywords whose values are data, not schemas: never searched for refs.
DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
# Keywords whose values map names to schemas (a property may be called "default").
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})


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
    """A schema as one self-contained dict, with a clear error when its JSON is broken.

    A `"$ref": "effect.schema.json"` to another schema file in the same folder is inlined (the
    referring object's other keywords, such as its description, win over the file's), and that
    file's `$defs` move into this schema's `$defs` under "effect.<name>", so jsonschema and
    fastjsonschema both see one schema with only local references: one definition per
    contract, no resolver needed."""
    filename = f"{name}.schema.json"
    schema = _read_schema(schemas_dir, filename)
    hoisted: dict[str, Any] = {}
    bundled = _bundle_node(schema, schemas_dir, "", hoisted, (filename,))
    if hoisted:
        bundled["$defs"] = {**bundled.get("$defs", {}), **hoisted}
    return bundled


def _read_schema(schemas_dir: Path, filename: str) -> dict[str, Any]:
    name = filename.removesuffix(".schema.json")
    try:
        schema = json.loads(schema_bytes(schemas_dir, name))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON in schema: {exc}", schemas_dir / filename) from exc
    if not isinstance(schema, dict):
        raise ConfigError("a schema must be a JSON object", schemas_dir / filename)
    return schema


def _file_ref(ref: Any) -> str | None:
    """The schema file a `$ref` names ("effect.schema.json"), or None for any other ref."""
    if isinstance(ref, str) and FILE_REF.fullmatch(ref):
        return ref.removeprefix("./")
    return None


def _bundle_node(
    node: Any, schemas_dir: Path, prefix: str, hoisted: dict[str, Any], stack: tuple[str, ...]
) -> Any:
    """A copy of `node` with file refs inlined and local refs renamed under `prefix`."""
    if isinstance(node, list):
        return [_bundle_node(item, schemas_dir, prefix, hoisted, stack) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {
                k: _bundle_node(v, schemas_dir, prefix, hoisted, stack) for k, v in value.items()
            }
        elif key != "$ref":
            keep = key in DATA_KEYWORDS
            out[key] = value if keep else _bundle_node(value, schemas_dir, prefix, hoisted, stack)
    ref = node.get("$ref")
    target = _file_ref(ref)
    if target is not None:
        return {**_inline(target, schemas_dir, hoisted, stack), **out}
    if isinstance(ref, str):
        local = ref.startswith("#/$defs/") and prefix
        out["$ref"] = "#/$defs/" + prefix + ref.removeprefix("#/$defs/") if local else ref
    return out


def _inline(
    filename: str, schemas_dir: Path, hoisted: dict[str, Any], stack: tuple[str, ...]
) -> dict[str, Any]:
    if filename in stack:
        chain = " -> ".join((*stack, filename))
        raise ConfigError(f"schemas refer to each other in a cycle: {chain}", schemas_dir)
    name = filename.removesuffix(".schema.json")
    if schema_path(schemas_dir, name) is None and filename not in packaged_schema_files():
        raise ConfigError(f"{stack[-1]} refers to {filename}, which does not exist", schemas_dir)
    schema = _read_schema(schemas_dir, filename)
    prefix = filename.removesuffix(".schema.json") + "."
    inner = (*stack, filename)
    for key, definition in (schema.get("$defs") or {}).items():
        if prefix + key not in hoisted:
            hoisted[prefix + key] = {}  # placeholder first: a def may refer to itself
            hoisted[prefix + key] = _bundle_node(definition, schemas_dir, prefix, hoisted, inner)
    body = {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$defs")}
    return _bundle_node(body, schemas_dir, prefix, hoisted, inner)


def referenced_files(schemas_dir: Path, name: str) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every schema file `name` is built from: its own, then each file
    it refers to. A quick scan for `"$ref": "x.schema.json"` (no JSON parsing: this runs on
    every index refresh); a missing file has empty bytes, and loading it reports the problem."""
    found: dict[str, bytes] = {}
    todo = [f"{name}.schema.json"]
    while todo:
        filename = todo.pop(0)
        if filename in found:
            continue
        try:
            data = schema_bytes(schemas_dir, filename.removesuffix(".schema.json"))
        except ConfigError:
            data = b""
        found[filename] = data
        todo.extend(ref.decode().removeprefix("./") for ref in REF_SCAN.findall(data))
    return list(found.items())


def schemas_fingerprint(schemas_dir: Path, names: tuple[str, ...]) -> str:
    """A hash of the named schemas and of every schema file they refer to, so that caches
    know when to re-validate."""
    digest = hashlib.sha256()
    for name in names:
        for filename, data in referenced_files(schemas_dir, name):
            digest.update(f"{filename}:{len(data)}:".encode())
            digest.update(data)
    return digest.hexdigest()


@lru_cache(maxsize=16)
def validator(schemas_dir: Path, name: str) -> Any:
    """A Draft 2020-12 validator that also checks formats such as `date`. Cached as
    fast_validator is: one instance resolves its references once, for every note it checks.

    It lists errors only of instances the fast check failed, and most of their properties are
    valid: it skips each property value that passes a fast check of its own subschema, which
    halves the cost of listing a note's errors."""
    from jsonschema import Draft202012Validator, validators

    schema = load_schema(schemas_dir, name)
    keywords = {"properties": _screened_properties(schema.get("$defs", {}))}
    screened = validators.extend(Draft202012Validator, keywords)
    return screened(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _screened_properties(defs: dict[str, Any]) -> Callable[..., Iterator[Any]]:
    """jsonschema's `properties` keyword, descending only into the values that fail a fast
    check of their subschema (compiled on first use, with the root's `$defs` for its refs)."""
    checks: dict[int, tuple[Any, Callable[[Any], bool] | None]] = {}

    def check_for(subschema: Any) -> Callable[[Any], bool] | None:
        if id(subschema) not in checks:  # the subschema is kept alive, so its id stays its own
            check = (
                _fast_check({**subschema, "$defs": defs}) if isinstance(subschema, dict) else None
            )
            checks[id(subschema)] = (subschema, check)
        return checks[id(subschema)][1]

    def properties(validator: Any, properties: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        for prop, subschema in properties.items():
            if prop not in instance:
                continue
            check = check_for(subschema)
            if check is None or not check(instance[prop]):
                yield from validator.descend(instance[prop], subschema, path=prop, schema_path=prop)

    return properties


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
    del fingerprint
    return _compile_fast(load_schema(schemas_dir, name))


def _compile_fast(schema: dict[str, Any]) -> Callable[[Any], Any]:
    import fastjsonschema

    # use_default=False: validating must never fill in defaults (it would change the data).
    return fastjsonschema.compile(schema, formats={"date": _is_calendar_date}, use_default=False)


def _fast_check(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """schema compiled to a function that says whether an instance satisfies it."""
    return partial(_passes, _compile_fast(schema))


def _passes(validate: Callable[[Any], Any], instance: Any) -> bool:
    import fastjsonschema

    try:
        validate(instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def is_valid(schemas_dir: Path, name: str, instance: Any) -> bool:
    """Whether `instance` satisfies the schema: the fast check used on bulk data."""
    return _passes(fast_validator(schemas_dir, name), instance)


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


def problems(schemas_dir: Path, name: str, instance: Any) -> list[str]:
    """Every way `instance` breaks schema `name`, as "field: message" lines; [] when valid."""
    return [
        f"{where}: {message}" for where, message in validation_errors(schemas_dir, name, instance)
    ]


def check(schemas_dir: Path, name: str, instance: Any, path: str | Path | None = None) -> None:
    """Raise SchemaError naming the schema file and every bad field when `instance` breaks
    schema `name` ("review-flag", "effect", "run-report", ...): the one check at write points."""
    found = problems(schemas_dir, name, instance)
    if found:
        raise SchemaError(f"invalid {name} ({name}.schema.json): " + "; ".join(found), path)
