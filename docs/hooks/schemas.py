"""mkdocs hook: every schemas/*.schema.json as a table, where a page says <!-- schemas -->.

A `$ref` to another schema file ("effect.schema.json") shows as a link to that file's table."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
MARKER = "<!-- schemas -->"
FILE_REF = re.compile(r"(?:\./)?([A-Za-z0-9_.-]+)\.schema\.json")


def on_page_markdown(markdown: str, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    tables = [schema_section(path) for path in sorted(SCHEMAS.glob("*.schema.json"))]
    return markdown.replace(MARKER, "\n".join(tables))


def schema_section(path: Path) -> str:
    schema = json.loads(path.read_text())
    heading = f"## `{path.name}` {{#{anchor(path.name)}}}"
    lines = [heading, "", schema.get("description", schema.get("title", "")), ""]
    bases = [link(option["$ref"]) for option in schema.get("allOf", []) if is_file_ref(option)]
    if bases:
        lines += [f"Builds on {', '.join(bases)}: its fields apply too.", ""]
    lines += ["| field | type | required | meaning |", "|---|---|---|---|"]
    required = set(schema.get("required", []))
    for name, spec in schema.get("properties", {}).items():
        spec = resolve(schema, spec)
        flag = "required" if name in required else ""
        lines.append(f"| `{name}` | {type_of(schema, spec)} | {flag} | {meaning(spec)} |")
    return "\n".join(lines) + "\n"


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (`#/$defs/name`), keeping the referring spec's own description."""
    ref = spec.get("$ref", "")
    if not ref.startswith("#/$defs/"):
        return spec
    target = dict(schema["$defs"][ref.removeprefix("#/$defs/")])
    target.update({k: v for k, v in spec.items() if k != "$ref"})
    return target


def is_file_ref(spec: Any) -> bool:
    return isinstance(spec, dict) and bool(FILE_REF.fullmatch(str(spec.get("$ref", ""))))


def anchor(filename: str) -> str:
    """The heading id of a schema's table: "effect.schema.json" -> "effect-schema"."""
    return FILE_REF.fullmatch(filename).group(1).replace(".", "-") + "-schema"


def link(ref: str) -> str:
    name = ref.removeprefix("./")
    return f"[`{name}`](#{anchor(name)})"


def type_of(schema: dict[str, Any], spec: dict[str, Any]) -> str:
    if is_file_ref(spec):
        return link(spec["$ref"])
    if "enum" in spec:
        return " \\| ".join(f"`{value}`" for value in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type")
    if kind == "array" and isinstance(spec.get("items"), dict):
        return f"list of {type_of(schema, resolve(schema, spec['items']))}"
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind:
        return str(kind)
    options = spec.get("anyOf") or spec.get("oneOf") or []
    return " or ".join(type_of(schema, resolve(schema, option)) for option in options) or "any"


def meaning(spec: dict[str, Any]) -> str:
    return " ".join(str(spec.get("description", "")).split()).replace("|", "\\|")
