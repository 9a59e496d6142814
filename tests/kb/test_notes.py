"""Notes: tolerant parsing, byte-exact round trips, field edits that leave the rest alone."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from claimledger.kb.notes import (
    BaseSafeLoader,
    PlainSafeLoader,
    parse_text,
    read_capped,
    read_note,
    render_note,
    write_note,
)

NOTE = """---
type: claim
# a comment the writer must keep
domain: optimizer
tags:
- lr
- warmup
created: 2026-11-22
custom_field: {nested: [1, 2]}
---

# Title

Body with [[a link]].
"""


def test_unchanged_note_is_written_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "n.md"
    path.write_bytes(NOTE.replace("\n", "\r\n").encode())
    write_note(path, read_note(path))
    assert path.read_bytes() == NOTE.replace("\n", "\r\n").encode()


def test_set_fields_changes_only_the_named_field() -> None:
    note = parse_text(NOTE)
    note.set_fields({"tags": ["schedule"], "confidence": "likely"})
    assert "# a comment the writer must keep" in note.text
    assert "custom_field: {nested: [1, 2]}" in note.text
    assert note.body == parse_text(NOTE).body
    again = parse_text(note.text)
    assert again.metadata["tags"] == ["schedule"]
    assert again.metadata["confidence"] == "likely"
    assert again.metadata["created"] == dt.date(2026, 11, 22)


def test_remove_field() -> None:
    note = parse_text(NOTE)
    note.set_fields({}, remove=("tags",))
    assert "tags" not in parse_text(note.text).metadata
    assert "- lr" not in note.text


def test_broken_yaml_is_reported_with_its_line_and_fields_still_read() -> None:
    text = "---\ntype: claim\ndomain: optimizer\nbad: [unclosed\n---\nbody [[x]]\n"
    note = parse_text(text)
    assert note.problems and note.problems[0].code == "broken-yaml"
    assert note.problems[0].line in (4, 5)
    assert note.metadata["type"] == "claim"
    assert note.body == "body [[x]]\n"


def test_a_broken_field_loses_only_itself() -> None:
    text = (
        "---\ntype: claim\ndescription: \"unterminated\ndepends_on:\n  - '[[Alpha]]'\n"
        "  - '[[Beta]]'\ntags: [lr, warmup]\ncreated: 2026-01-02\n---\nbody\n"
    )
    note = parse_text(text)
    assert [p.code for p in note.problems] == ["broken-yaml"]
    assert note.metadata == {
        "type": "claim",
        "description": "unterminated",
        "depends_on": ["[[Alpha]]", "[[Beta]]"],
        "tags": ["lr", "warmup"],
        "created": dt.date(2026, 1, 2),
    }


def test_bad_tagged_value_is_reported_not_raised() -> None:
    note = parse_text("---\ncount: !!int\ntitle: T\n---\nbody\n")
    assert [p.code for p in note.problems] == ["broken-yaml"]
    assert note.metadata["title"] == "T"


def test_impossible_date_is_reported_and_kept_as_text() -> None:
    note = parse_text("---\ntype: source\ndate: 2026-02-00\n---\n")
    assert note.problems[0].code == "broken-yaml"
    assert note.problems[0].line == 3
    assert note.metadata["date"] == "2026-02-00"
    note = parse_text("---\ntitle: T\nn: 3\nwhen: [2026-01-05, 2026-02-30]\n---\n")
    assert [(p.code, p.line, p.editable) for p in note.problems] == [("broken-yaml", 4, True)]
    assert note.metadata == {"title": "T", "n": 3, "when": [dt.date(2026, 1, 5), "2026-02-30"]}


def test_note_without_frontmatter_is_all_body() -> None:
    note = parse_text("# Just a map\n\n- [[a]]\n")
    assert not note.has_frontmatter and note.metadata == {}
    assert note.text == "# Just a map\n\n- [[a]]\n"


def test_unclosed_frontmatter_is_body() -> None:
    text = "---\ntype: claim\nno closing fence\n"
    assert parse_text(text).body == text


def test_render_note_round_trips() -> None:
    meta = {"type": "claim", "depends_on": ["[[A claim]]"], "created": dt.date(2026, 1, 2)}
    note = parse_text(render_note(meta, "\n# T\n"))
    assert note.metadata == meta and not note.problems


# Property tests: random frontmatter and markdown never crash the parser and lose no byte.
keys = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True)
scalars = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.booleans(),
    st.none(),
    st.dates(),
    st.floats(allow_nan=False),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
PIECES = [*"ab #-*`[]|!^\n\r\t:{}'\"~>é\x00", "[[", "]]", "```", "---", "\n---\n", "key: "]
markdown = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)


@settings(max_examples=2000, deadline=None)
@given(text=st.text(max_size=400))
def test_any_text_parses_and_reproduces_itself(text: str) -> None:
    assert parse_text(text).text == text


@settings(max_examples=1500, deadline=None)
@given(yaml_text=markdown, body=markdown)
def test_frontmatter_shaped_text_reproduces_itself(yaml_text: str, body: str) -> None:
    text = f"---\n{yaml_text}\n---\n{body}"
    note = parse_text(text)
    assert note.text == text
    assert isinstance(note.metadata, dict)


@settings(max_examples=600, deadline=None)
@given(
    meta=st.dictionaries(keys, values, max_size=6),
    body=markdown,
    updates=st.dictionaries(keys, values, max_size=3),
)
def test_parse_write_parse_keeps_fields_and_body(meta: dict, body: str, updates: dict) -> None:
    text = render_note(meta, body)
    note = parse_text(text)
    expected = {k: v for k, v in meta.items() if v is not None}
    assert note.metadata == expected
    assert note.body == body
    note.set_fields(updates)
    again = parse_text(note.text)
    assert not again.problems
    assert again.metadata == {**expected, **updates}
    assert again.body == body


def test_yaml_library_agrees_on_rendered_frontmatter() -> None:
    text = render_note({"title": "a: b # not a comment", "x": ["[[y]]"]}, "")
    fm = text.split("---\n")[1]
    assert yaml.safe_load(fm) == {"title": "a: b # not a comment", "x": ["[[y]]"]}


YAML_PIECES = [
    *"ab1 -:#[]{},?\n'\"&*!|>",
    "  ",
    "\n- ",
    "\n  - ",
    "key: ",
    "\nkey2: ",
    "<<: ",
    "&anchor ",
    "*anchor",
    "!!set ",
    "!!omap ",
    "!!str ",
    "!!int ",
    "!!binary ",
    "!!map ",
    "!!seq ",
    "!!float ",
    "!!bool ",
    "!!null ",
    "!!timestamp ",
    "!custom ",
    "= ",
    "2026-02-00",
    "2026-11-23",
    "0o17",
    "1e3",
    "yes",
    "~",
    ".nan",
    "[[link]]",
]


def safe_load_outcome(text: str, loader: type) -> tuple[str, object]:
    try:
        return "ok", yaml.load(text, Loader=loader)
    except Exception as exc:  # the loaders must fail alike, whatever they raise
        return type(exc).__name__, str(exc)


@settings(max_examples=3000, deadline=None)
@given(text=st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join))
def test_plain_loader_agrees_with_the_safe_loader(text: str) -> None:
    ours = safe_load_outcome(text, PlainSafeLoader)
    theirs = safe_load_outcome(text, BaseSafeLoader)
    if ours[0] == theirs[0] == "ok" and ours != theirs:  # NaN is never equal to itself
        assert repr(ours) == repr(theirs)
    else:
        assert ours == theirs


def test_the_plain_loader_has_no_resolvers_that_its_short_cuts_skip() -> None:
    """Its no-op descend/ascend_resolver are right only while no path resolver exists, and
    its short cut to strings only while no implicit resolver applies to every value."""
    assert not PlainSafeLoader.yaml_path_resolvers
    assert None not in PlainSafeLoader.yaml_implicit_resolvers
    assert PlainSafeLoader.descend_resolver(None, None) is not None  # callable, harmless
    assert PlainSafeLoader.ascend_resolver() == ()


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 70_000])
def test_read_capped_reads_whole_files(tmp_path: Path, size: int) -> None:
    path = tmp_path / "note.md"
    path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    data, stat = read_capped(str(path), limit=100_000)
    assert data == path.read_bytes() and stat.st_size == size
    if size:  # one byte over the limit: not read
        assert read_capped(str(path), limit=size - 1)[0] is None


@pytest.mark.parametrize(("grown", "limit", "whole"), [(10, 1000, True), (200_000, 150_000, False)])
def test_read_capped_reads_on_when_the_file_grew_after_its_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grown: int, limit: int, whole: bool
) -> None:
    path = tmp_path / "note.md"
    path.write_bytes(b"a" * 100 + b"b" * grown)
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:  # the size before the file grew
        values = list(real_fstat(fd))
        values[6] = 100  # st_size
        return os.stat_result(values)

    monkeypatch.setattr(os, "fstat", stale_fstat)
    data, _ = read_capped(str(path), limit=limit)
    assert data == (path.read_bytes() if whole else None)
