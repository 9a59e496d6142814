"""Wiki-links: every Obsidian form, nothing inside code, line numbers, frontmatter fields."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from claimledger.kb.links import (
    _plain_links,
    frontmatter_links,
    needs_parser,
    normalize_key,
    parse_body,
    scan_body,
)
from claimledger.kb.notes import parse_text
from tests.conftest import TELEO
from tests.kb.test_obsidian_links import FILES as OBSIDIAN_FILES

BODY = """# The [[Title]] heading

See [[Plain]], [[Target|an alias]], [[Target#Some heading]], [[Target#^block-1]],
[[folder/Sub note]] and the embed ![[Diagram.png]].

Inline `[[not a link]]` and an escaped \\[[not either]].

```python
x = "[[fenced, not a link]]"
```

    [[indented code, not a link]]

[[Broken
over lines]] and [[]] are not links.
"""


def links_by_target() -> dict[str, object]:
    return {link.target: link for link in scan_body(BODY, first_line=10).links}


def test_all_obsidian_forms_are_found_and_code_is_skipped() -> None:
    links = links_by_target()
    assert set(links) == {"Title", "Plain", "Target", "folder/Sub note", "Diagram.png"}
    assert not any("link" in target or "either" in target for target in links)


def test_alias_heading_block_and_embed_are_parsed() -> None:
    found = [link for link in scan_body(BODY).links if link.target == "Target"]
    assert [lk.alias for lk in found] == ["an alias", None, None]
    assert [lk.heading for lk in found] == [None, "Some heading", None]
    assert [lk.block for lk in found] == [None, None, "block-1"]
    assert links_by_target()["Diagram.png"].embed


def test_line_numbers_count_from_the_body_start() -> None:
    links = links_by_target()
    assert links["Title"].line == 10
    assert links["Plain"].line == 12
    assert links["folder/Sub note"].line == 13


def test_h1_is_read_with_links_as_text() -> None:
    assert scan_body(BODY).h1 == "The Title heading"


def test_folder_links_keep_the_path_and_key_on_the_last_segment() -> None:
    link = links_by_target()["folder/Sub note"]
    assert link.key == "sub note"
    assert link.folder_path == "folder/sub note"


def test_keys_are_case_and_extension_insensitive() -> None:
    assert normalize_key("QK-Norm Helps.md") == normalize_key("qk-norm helps")
    assert normalize_key("Straße") == normalize_key("STRASSE")


def test_frontmatter_links_accept_wikilinks_plain_titles_and_file_names() -> None:
    links = frontmatter_links(["[[A claim]]", "B claim", "c-claim.md", "", 3])
    assert [link.key for link in links] == ["a claim", "b claim", "c-claim"]


# Pieces that make markdown structure around wiki-links: headings, containers, brackets, breaks.
BODY_PIECES = st.sampled_from(
    ["[[", "]]", "![[", "[", "]", "!", "#", "# ", "## ", "> ", "- ", "* ", "1. ", "|", "^", ":",
     " ", "  ", "    ", "\n", "\n\n", "=", "-", "---", "a", "Bb",
     "x/y", "T.md", "é", "\u00a0", "\u2003", "+ ", ") ", "2) ", ">", "#a",
     "`", "``", "```", "`x`", "`!`", "~", "~~~", "~~~~", "\t"]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(BODY_PIECES, max_size=40).map("".join))
def test_fast_path_finds_exactly_what_markdown_it_finds(body: str) -> None:
    assert scan_body(body, first_line=7) == parse_body(body, first_line=7)


def test_bodies_with_code_or_html_take_the_parser() -> None:
    assert scan_body("```\n[[a]]\n```").links == scan_body("`[[a]]`").links == []
    for body in [ "    [[a]]", "<b>[[a]]</b>", "[r]: [[a]]",
                 "-     [[a]]", "> # [[a]]", "T\n===", "\\[[a]]"]:  # fmt: skip
        assert needs_parser(body), body
    assert not needs_parser("# Title\n\nSee [[a]] and ![[b#^c|d]].\n- [[e]]\n> [[f]]\n")


# Markdown links, escapes, "<" and indented lines too: the fast path reads the plain forms of
# these itself and must still agree with markdown-it on every body.
LINK_PIECES = st.sampled_from(
    ["[[", "]]", "![[", "[", "]", "!", "(", ")", "](", "[a](b.md)", "![i](p.png)", "[](x)",
     "[t](<x.md>)", '[t](x "T")', "[t]( x)", "[ ]", "x.md", "#h", "#^b", "%20", "%zz", "&amp;",
     "javascript:x", "file:y", "HTTPS://e.c/x", "//h/p", "a:b", "<", "< ", "<b>", "</i>",
     "<!--", "\\", "\\-", "\\[", "\\]", "\\`", "\\!", "\\\\", "\\|", "    ", "     ", "\n",
     "\n\n", " ", "a", "é", "\u00a0", "- ", "> ", "# ", "=", ":", "|", "`", "``", "`x`", "T",
     ' "t"', '"', "'", "(c)", "[t](x (T) )", "[t](a(b)c)"]
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(LINK_PIECES, max_size=40).map("".join))
def test_fast_path_reads_markdown_links_as_markdown_it_does(body: str) -> None:
    assert scan_body(body, first_line=3) == parse_body(body, first_line=3)


def test_real_notes_read_the_same_on_both_paths_and_mostly_take_the_fast_one() -> None:
    """Every note of the teleo sample and of the Obsidian test vault: the same links and H1
    either way, and (for speed) nearly every real note on the fast path."""
    bodies = [parse_text(text).body for text in OBSIDIAN_FILES.values()]
    real = [parse_text(p.read_text(encoding="utf-8")).body for p in TELEO.rglob("*.md")]
    for body in bodies + real:
        assert scan_body(body, first_line=5) == parse_body(body, first_line=5)
    if real:  # the fixture may be absent
        parsed = [b for b in real if needs_parser(b) or _plain_links(b, 1) is None]
        assert len(parsed) <= len(real) // 20, len(parsed)
