"""Markdown notes with YAML frontmatter: a tolerant reader and a byte-preserving writer.

A note is kept as four exact pieces of its text (opening fence, YAML, closing fence, body), so
writing an unchanged note reproduces it byte for byte, and changing a field rewrites only that
field's lines. Broken YAML is reported with its line and read again field by field, so a
note with a bad frontmatter is still indexed by title, body and links, and loses only the
fields that are broken.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from claimledger import files
from claimledger.errors import NoteError

# Obsidian recognises frontmatter only when `---` is the very first line.
OPENING = re.compile(r"\A---[ \t]*\r?\n")
# The closing line, searched for from the newline that ends the opening one: a search for a
# literal "\n" runs four times as fast as one for a line start (re.MULTILINE's "^").
CLOSING = re.compile(r"\n((?:---|\.\.\.)[ \t]*(?:\r?\n|\Z))")
TOP_LEVEL_KEY = re.compile(r"^([^\s#'\"\-][^:\n]*?|'[^'\n]*'|\"[^\"\n]*\"):(?=[ \t]|\r?$)")
LINE_FIELD = re.compile(r"^([A-Za-z_][\w-]*):[ \t]*(.*?)\s*$")
BaseSafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
MAP_TAG, SEQ_TAG, STR_TAG = (f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str"))
SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "timestamp")} | {
    "tag:yaml.org,2002:binary"
}
UNICODE_BREAKS = ("\x85", "\u2028", "\u2029")
# Untrusted collaborators push notes: no note is read past this size (a larger one is indexed
# by its file name only, and lint names it), and aliases may add at most this many nodes to a
# frontmatter's YAML (a 470-byte "billion laughs" otherwise expands to 10^9 of them).
MAX_NOTE_BYTES = 1 << 20
MAX_ALIAS_NODES = 10_000


@dataclass(frozen=True)
class Problem:
    """Something wrong with a note, at a 1-based line of the file (0 = whole file)."""

    code: str
    message: str
    line: int = 0
    # True when every field was still read with its type (an impossible date such as
    # 2018-03-00 is kept as text): the note may be edited field by field all the same.
    editable: bool = False


def blocking_problems(note: Note) -> list[Problem]:
    """The problems that make a note unsafe to edit field by field."""
    return [p for p in note.problems if not p.editable]


@dataclass
class Note:
    """A parsed note: its exact text pieces plus the metadata read from the YAML."""

    head: str  # the opening `---` line, or "" when the note has no frontmatter
    yaml_text: str  # the frontmatter between the fences, as written
    tail: str  # the closing fence line
    body: str  # everything after the closing fence, byte for byte
    metadata: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The note's full text; equal to the input when nothing was changed."""
        return self.head + self.yaml_text + self.tail + self.body

    @property
    def body_line(self) -> int:
        """The 1-based line number of the body's first line in the file."""
        return (self.head + self.yaml_text + self.tail).count("\n") + 1

    @property
    def has_frontmatter(self) -> bool:
        return bool(self.head)

    def field_lines(self) -> dict[str, int]:
        """The 1-based file line of each top-level frontmatter field."""
        lines = {}
        for number, line in enumerate(self.yaml_text.splitlines(), start=self.head.count("\n") + 1):
            match = TOP_LEVEL_KEY.match(line)
            if match:
                lines.setdefault(match.group(1).strip("'\""), number)
        return lines

    def set_fields(self, updates: dict[str, Any], remove: tuple[str, ...] = ()) -> None:
        """Change, add or remove top-level fields, leaving every other line as it was."""
        yaml_text = self.yaml_text
        for key in remove:
            yaml_text = _replace_block(yaml_text, key, "")
        for key, value in updates.items():
            yaml_text = _replace_block(yaml_text, key, dump_field(key, value))
        if not self.head:
            self.head, self.tail = "---\n", "---\n"
        self.yaml_text = yaml_text
        self.metadata = {k: v for k, v in self.metadata.items() if k not in remove}
        self.metadata.update(updates)


def parse_text(text: str) -> Note:
    """Split a note into its pieces and read its frontmatter, never raising on bad YAML."""
    note = split_text(text)
    if note.head:
        note.metadata, note.problems = load_yaml(note.yaml_text, first_line=2)
    return note


def split_text(text: str) -> Note:
    """Split a note into its pieces without reading the YAML (its metadata left empty)."""
    opening = OPENING.match(text)
    closing = CLOSING.search(text, opening.end() - 1) if opening else None
    if not opening or not closing:
        note = Note(head="", yaml_text="", tail="", body=text)
        if opening:  # Obsidian shows it as text too, but a claim would silently lose its fields
            message = "frontmatter opened by `---` on line 1 has no closing `---`"
            note.problems.append(Problem("unclosed-frontmatter", message, 1))
        return note
    return Note(
        head=text[: opening.end()],
        yaml_text=text[opening.end() : closing.start(1)],
        tail=closing.group(1),
        body=text[closing.end(1) :],
    )


class _NotPlain(Exception):
    """A node that the plain constructor leaves to PyYAML's own."""


class PlainSafeLoader(BaseSafeLoader):
    """The safe loader, with a direct constructor for the plain documents most notes have.

    Mappings, lists and scalars are built in one recursive pass; anything else (aliases,
    merge keys, sets, unhashable keys, unknown tags) is left to SafeConstructor, so results
    and errors are exactly the safe loader's, in about two thirds of the time."""

    # Tags resolved so far: notes repeat the same field names and many values. The resolver
    # reads only class-level tables, so the tag depends on these arguments alone.
    _resolved: ClassVar[dict[tuple[Any, Any, Any], str]] = {}
    # The composer calls these two around every node for path resolvers, which no loader here
    # has (PyYAML's methods return at once then). Built-ins that take the same arguments and
    # change nothing cost a third as much: slice(parent, index) is made and dropped, and
    # tuple() is the empty tuple.
    descend_resolver = staticmethod(slice)
    ascend_resolver = staticmethod(tuple)

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        # A quoted scalar, or a plain one whose first character starts no implicit type (most
        # text), is a string, as in PyYAML's resolve when no resolver applies to all values.
        if kind is yaml.ScalarNode and (
            not implicit[0] or value[:1] not in self.yaml_implicit_resolvers
        ):
            return STR_TAG
        key = (kind, value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            if len(self._resolved) > 20_000:  # bounded: values are mostly unique
                self._resolved.clear()
            tag = self._resolved[key] = super().resolve(kind, value, implicit)
        return tag

    def construct_document(self, node: yaml.Node) -> Any:
        try:
            return self._plain(node, set())
        except _NotPlain:
            return super().construct_document(node)

    def _plain(self, node: yaml.Node, seen: set[int]) -> Any:
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):  # scalars are immutable: aliases to them are fine
            if tag == STR_TAG:
                return node.value
            if tag in SCALAR_TAGS:
                try:
                    return self.yaml_constructors[tag](self, node)
                except Exception as exc:  # PyYAML's own pass fails first elsewhere, or here
                    raise _NotPlain from exc
            raise _NotPlain  # an unknown tag
        if id(node) in seen:  # an alias to a collection, which may even contain itself
            raise _NotPlain
        seen.add(id(node))
        if tag == SEQ_TAG and isinstance(node, yaml.SequenceNode):
            return [self._plain(item, seen) for item in node.value]
        if tag == MAP_TAG and isinstance(node, yaml.MappingNode):
            mapping = {}
            for key_node, value_node in node.value:
                # SafeConstructor reads merge keys before the rest: leave any odd key to it.
                if not _is_plain_key(key_node):
                    raise _NotPlain
                key = key_node.value if key_node.tag == STR_TAG else self._plain(key_node, seen)
                if value_node.tag == STR_TAG and isinstance(value_node, yaml.ScalarNode):
                    mapping[key] = value_node.value  # most values: no call
                else:
                    mapping[key] = self._plain(value_node, seen)
            return mapping
        raise _NotPlain  # "=" keys, sets, ordered maps, unknown tags


def _is_plain_key(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and (node.tag == STR_TAG or node.tag in SCALAR_TAGS)


def check_expansion(node: yaml.Node, budget: int = MAX_ALIAS_NODES) -> None:
    """Refuse a composed document that aliases make recursive, or that they expand by more than
    `budget` nodes: the loaders share aliased objects, but whatever walks the result (JSON,
    the schema check) walks every copy. Linear in the number of distinct nodes."""
    sizes: dict[int, int | None] = {}
    if _expanded_size(node, sizes) - len(sizes) > budget:
        problem = f"aliases expand it by more than {budget} nodes"
        raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def _expanded_size(node: yaml.Node, sizes: dict[int, int | None]) -> int:
    """The number of nodes under `node` with every alias expanded; `sizes` memoises each
    distinct node (None while it is being counted, so that meeting it again is a cycle)."""
    key = id(node)
    if key in sizes:
        size = sizes[key]
        if size is None:
            problem = "an alias refers to a collection that contains it"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        return size
    if isinstance(node, yaml.ScalarNode):
        sizes[key] = 1
        return 1
    sizes[key] = None
    children = node.value if isinstance(node, yaml.SequenceNode) else sum(node.value, ())
    size = sizes[key] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return size


class NoteLoader(PlainSafeLoader):
    """The loader for frontmatter: PlainSafeLoader, which builds no alias of a collection,
    and check_expansion before SafeConstructor builds one."""

    def construct_document(self, node: yaml.Node) -> Any:
        try:
            return self._plain(node, set())
        except _NotPlain:
            check_expansion(node)
            return BaseSafeLoader.construct_document(self, node)


class LenientLoader(getattr(yaml, "CBaseLoader", yaml.BaseLoader)):  # type: ignore[misc]
    """YAML's BaseLoader (every scalar a string), bounded like NoteLoader; libyaml's when
    present, which reads a broken note's frontmatter in a twentieth of the time."""

    def construct_document(self, node: yaml.Node) -> Any:
        check_expansion(node)
        return super().construct_document(node)


def load_yaml(yaml_text: str, first_line: int = 1) -> tuple[dict[str, Any], list[Problem]]:
    """Read frontmatter YAML; on error report it and fall back to strings, then to lines.

    A timestamp that is no real date (2026-02-00) is kept as its text, with a problem: every
    other field keeps its type, so the note is still safe to edit."""
    try:
        data, bad_dates = _load_note_yaml(yaml_text) if yaml_text.strip() else ({}, [])
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc, first_line)
        return _lenient_yaml(yaml_text), [problem]
    except ValueError as exc:  # a value no constructor can build
        problem = Problem("broken-yaml", f"broken YAML: {exc}", first_line)
        return _lenient_yaml(yaml_text), [problem]
    except (TypeError, IndexError) as exc:  # PyYAML's constructors on e.g. an empty `!!int`
        problem = Problem("broken-yaml", f"broken YAML: bad tagged value ({exc})", first_line)
        return _lenient_yaml(yaml_text), [problem]
    except RecursionError:  # thousands of nested brackets; read again, each field on its own
        problem = Problem("broken-yaml", "broken YAML: nested too deeply", first_line)
        return _lenient_yaml(yaml_text), [problem]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [Problem("broken-yaml", "frontmatter is not a mapping of fields", first_line)]
    problems = [
        Problem("broken-yaml", f"broken YAML: {exc} (kept as text)", first_line + line, True)
        for exc, line in bad_dates[:1]
    ]
    return {str(k): v for k, v in data.items()}, problems


def _yaml_problem(exc: yaml.YAMLError, first_line: int) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = first_line + mark.line if mark is not None else first_line
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return Problem("broken-yaml", f"broken YAML: {reason}", line)


class DateTextLoader(NoteLoader):
    """NoteLoader, reading a timestamp that is no real date (2018-03-00) as its text, and
    listing each such date's error and line (from 0) in `bad_dates`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.bad_dates: list[tuple[ValueError, int]] = []

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            self.bad_dates.append((exc, node.start_mark.line))
            return self.construct_scalar(node)


DateTextLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", DateTextLoader.construct_yaml_timestamp
)


def _load_note_yaml(yaml_text: str) -> tuple[Any, list[tuple[ValueError, int]]]:
    """The document in `yaml_text`, and its timestamps that are no real dates."""
    loader = DateTextLoader(yaml_text)
    try:
        return loader.get_single_data(), loader.bad_dates
    finally:
        loader.dispose()


def _lenient_yaml(yaml_text: str) -> dict[str, Any]:
    """The fields of broken YAML: YAML's BaseLoader (every scalar a string) or, failing that,
    each top-level field read on its own, so that a broken field loses only itself."""
    try:
        data = yaml.load(yaml_text, Loader=LenientLoader)
        if isinstance(data, dict):
            return data
    except (yaml.YAMLError, RecursionError):
        pass
    fields: dict[str, Any] = {}
    for key, start, end in _top_level_spans(yaml_text):
        fields.setdefault(key, _field_value(yaml_text[start:end]))
    return fields


def _field_value(block: str) -> Any:
    """One field's value from its own lines; its raw text when even those are broken."""
    try:
        data = yaml.load(block, Loader=NoteLoader)
    except (yaml.YAMLError, ValueError, TypeError, IndexError, RecursionError):
        data = None
    if isinstance(data, dict) and len(data) == 1:
        return next(iter(data.values()))
    match = LINE_FIELD.match(block.splitlines()[0])
    return match.group(2).strip("'\"") if match else ""


def _top_level_spans(yaml_text: str) -> Iterator[tuple[str, int, int]]:
    """(key, start, end) of each top-level field: its key line and its continuation lines
    (indented, or `- item` at column 0), without the blank lines that follow them."""
    offset, span = 0, None
    for line in yaml_text.splitlines(keepends=True):
        match = TOP_LEVEL_KEY.match(line)
        if match:
            if span:
                yield span
            span = (match.group(1).strip("'\""), offset, offset + len(line))
        elif span and line.strip():
            if not _continues_block(line):
                yield span
                span = None
            else:
                span = (span[0], span[1], offset + len(line))
        offset += len(line)
    if span:
        yield span


def _block_span(yaml_text: str, key: str) -> tuple[int, int] | None:
    """Character span of a top-level key's lines (the first time the key appears)."""
    return next(((start, end) for k, start, end in _top_level_spans(yaml_text) if k == key), None)


def _continues_block(line: str) -> bool:
    return line[0] in " \t" or line.startswith("- ") or line.rstrip("\r\n") == "-"


def _replace_block(yaml_text: str, key: str, new_block: str) -> str:
    span = _block_span(yaml_text, key)
    if span is None:
        if not new_block:
            return yaml_text
        separator = "" if not yaml_text or yaml_text.endswith("\n") else "\n"
        return yaml_text + separator + new_block
    start, end = span
    return yaml_text[:start] + new_block + yaml_text[end:]


def dump_field(key: str, value: Any) -> str:
    """One field as block YAML, the way Obsidian writes properties (lists one per line)."""
    # PyYAML writes Unicode line breaks (NEL, LS, PS) raw, and they read back as spaces;
    # escaping non-ASCII for such a field keeps the value exact.
    exotic = _has_unicode_break(value)
    return yaml.safe_dump(
        {key: value},
        sort_keys=False,
        allow_unicode=not exotic,
        default_flow_style=False,
        width=math.inf,
    )


def _has_unicode_break(value: Any) -> bool:
    if isinstance(value, str):
        return any(c in value for c in UNICODE_BREAKS)
    if isinstance(value, dict):
        return any(_has_unicode_break(k) or _has_unicode_break(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_unicode_break(v) for v in value)
    return False


def render_note(metadata: dict[str, Any], body: str) -> str:
    """A new note's text from fields (in the given order) and a body."""
    yaml_text = "".join(dump_field(k, v) for k, v in metadata.items() if v is not None)
    return f"---\n{yaml_text}---\n{body}"


def json_safe(value: Any) -> Any:
    """Frontmatter values as JSON types: dates become ISO strings, keys strings."""
    if type(value) is str:  # most values: one check instead of four
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_capped(path: str, limit: int = MAX_NOTE_BYTES) -> tuple[bytes | None, os.stat_result]:
    """A file's bytes and its stat, taken from one open file; None for the bytes when the file
    has more than `limit` of them, of which at most about `limit` are read. Raises OSError.

    Every note is read through here (plain os calls: the index reads every file with it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        stat = os.fstat(fd)
        if stat.st_size > limit:
            return None, stat
        parts: list[bytes] = []
        size, wanted = 0, stat.st_size + 1
        while size <= limit:
            parts.append(os.read(fd, wanted))
            size += len(parts[-1])
            if len(parts[-1]) < wanted:  # the end: a file that did not grow needs one read
                break
            wanted = 1 << 16  # the file grew since fstat: read on, to the limit
        return (b"".join(parts) if size <= limit else None), stat
    finally:
        os.close(fd)


def too_large(limit: int = MAX_NOTE_BYTES) -> str:
    """The problem of a note that read_capped refused."""
    return f"note too large: more than {limit:,} bytes, so it is not read"


def read_note(path: Path) -> Note:
    """Read and parse a note file; an unreadable, oversized or undecodable one is an error
    naming the file."""
    try:
        data, _ = read_capped(str(path))
    except OSError as exc:
        raise NoteError(f"cannot read: {exc.strerror}", path) from exc
    if data is None:
        raise NoteError(too_large(), path)
    try:
        return parse_text(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise NoteError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from exc


def write_text_atomic(path: Path, text: str, exclusive: bool = False) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half.

    With exclusive=True an existing file is never replaced: FileExistsError instead. A
    rewritten file keeps its permissions; a new one gets the umask's."""
    files.write_atomic(path, text, exclusive=exclusive)


def write_note(path: Path, note: Note) -> None:
    """Write a note atomically, byte for byte as its pieces say."""
    write_text_atomic(path, note.text)
