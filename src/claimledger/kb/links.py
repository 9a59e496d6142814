"""Obsidian links, parsed with markdown-it-py: wiki-links by an inline rule, markdown links by
markdown-it's own rules.

Forms: [[T]], [[T|alias]], [[T#Heading]], [[T#^block]], [[folder/T]], [[./rel/T]], same-note
[[#Heading]] and [[#^block]], embeds ![[T]], the escaped pipe of tables [[T\\|alias]], and
markdown links [text](T.md) and images ![alt](pic.png) to files of the vault (a URL with a
scheme is not a link). Code spans and fenced or indented code hold no links, because
markdown-it never runs inline rules inside them. Targets match file names case-insensitively,
as in Obsidian (see resolve.py).

Most real notes never reach the parser: scan_body reads wiki-links, plain markdown links and
H1s with regular expressions that find exactly what markdown-it finds (a property test and
every note of the sample vault check it), about 20x faster, and hands the rest to the parser.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll
from markdown_it.rules_inline import StateInline

# Inline rules that cannot produce or hide a wiki-link are switched off for speed.
UNUSED_INLINE = ["linkify", "strikethrough", "emphasis", "autolink", "entity"]
UNUSED_CORE = ["linkify", "replacements", "smartquotes", "text_join"]
FRONTMATTER_LINK = re.compile(r"\[\[([^\[\]\n]+)\]\]")
# A link destination with a scheme (https:, mailto:, obsidian:) or a network path is no file.
EXTERNAL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:|//")
# A body with none of these can only hold wiki-links, markdown links and H1s that the fast path
# finds exactly as markdown-it does: code (fences, indented blocks that could hide a link or a
# heading, also inside containers), HTML tags, escapes of the characters that open or close
# links and code, link reference definitions, setext headings, headings inside containers,
# characters that markdown-it normalises before parsing, and blank-looking lines of Unicode
# spaces (markdown-it starts a paragraph there, then strips it, shifting its line numbers).
# A "<" before anything but a letter, "/", "!" or "?" opens no HTML, and an escape of other
# characters changes no link: real notes have many of both ("p < 0.05", "\-").
# tests/kb/test_links.py proves the equality on generated bodies and on real notes.
CONTAINER = r"[ >*+\-\d.)]*"  # what may stand before a line's content: indents, quotes, markers
# Opening with a character class alone lets the regex engine scan for it quickly.
NEEDS_PARSER_CHARS = re.compile(r"[<\\\t\r\0](?:(?<=[\t\r\0])|(?<=<)[A-Za-z/!?]|(?<=\\)[\[\]`!\\])")
PARSER_CHAR_HINTS = "<\\\t\r\0"  # found by `in` (memchr) before the regex runs
# Matched against "\n" + body: a literal "\n" first lets the regex engine skip ahead fast.
# An indented line with no bracket, backtick or "#" reads the same as code or as text.
# A line that opens a "~~~" fence (after any indent or container marks) needs the parser.
NEEDS_PARSER_LINES = re.compile(
    rf"\n(?: {{4}}[^\n]*[\[\]`#]|{CONTAINER}(?:=|\[[^\]]*\]:|[^\S\n]*[^\S \n][^\S\n]*$)"
    rf"|{CONTAINER}[>*+\-\d.)](?: {{0,4}}#| {{5}})|{CONTAINER}~~~)",
    re.M,
)
# Scanned left to right as markdown-it's inline rules do: a wiki-link ends at the first "]]" and
# fails when its inner text holds "[["; a code span runs from a backtick run to the next run of
# the same length. A run with no partner on its line may pair across lines: the parser decides.
# A markdown link [text](dest "title") is read here only in its plain form, on one line: text
# with no brackets, backticks, escapes or "<"; dest with no space, bracket or escape, and
# parentheses nested one deep at most; a title with no escape. Any other "](" may start or end
# a link that only the parser reads right.
DEST_CHAR = r"[^\s()<>\\\[\]`\x00-\x1f\x7f]"
PLAIN_LINK = (
    rf"[^\[\]\n`\\<]*+\]\( *((?:{DEST_CHAR}|\({DEST_CHAR}*\))++)"
    r"""(?: +(?:"[^"\\\n]*"|'[^'\\\n]*'|\([^()\\\n]*\)))? *\)"""
)
# The pattern opens with a character class so that the engine skips quickly to those
# characters. Groups: 1 wiki-link text, 2 markdown link destination, 3 the backtick run less
# its first backtick, 4 a "](" of no plain link.
BODY_TOKEN = re.compile(
    r"[\[`\]](?:(?<=\[)\[([^\[\]\n]*+(?:(?:\[(?!\[)|\](?!\]))[^\[\]\n]*+)*+)\]\]"
    rf"|(?<=\[){PLAIN_LINK}"
    r"|(?<=`)(?<!``)(`*+)(?:[^\n]*?(?<!`)`\3(?!`))?"
    r"|(?<=\])(\())"
)
# Matched against "\n" + body, as above.
ATX_H1 = re.compile(r"\n {0,3}#(?: [^\n]*)?$", re.M)
# What makes a heading's text more than plain text for the inline rules that are switched on.
H1_MARKUP = re.compile(r"[\\\[`<]")


class Link(NamedTuple):
    """One wiki-link as written: its target, optional heading/block, alias and line."""

    target: str
    heading: str | None = None
    block: str | None = None
    alias: str | None = None
    embed: bool = False
    line: int = 0

    @property
    def key(self) -> str:
        """The lookup key: the last path segment of the target, normalised."""
        return target_keys(self.target)[0]

    @property
    def folder_path(self) -> str | None:
        """For [[folder/T]], the normalised path the note's path must end with."""
        return target_keys(self.target)[1]


# Link texts, targets and keys repeat across a vault's notes (every note that cites a hub names
# it): the functions that work them out are memoised, so each is worked out once per process.
@lru_cache(maxsize=1 << 14)
def target_keys(target: str) -> tuple[str, str | None]:
    """A link target's lookup key and, for [[folder/T]], its folder path (see Link)."""
    key = normalize_key(target.rsplit("/", 1)[-1])
    return key, normalize_key(target) if "/" in target else None


def key_hash(key: str) -> int:
    """A stable hash of a normalised key, for an index far smaller than one of the keys (real
    link targets run to a hundred characters). Two keys may share a hash: whoever looks a key
    up by its hash compares the keys themselves after."""
    return zlib.crc32(key.encode())


@lru_cache(maxsize=1 << 16)
def normalize_key(text: str) -> str:
    """Case-insensitive, Unicode-normalised form of a title, stem or link target."""
    text = text.strip()
    if text.lower().endswith(".md"):
        text = text[:-3]
    if text.isascii():  # ASCII text is already NFC, and most keys are ASCII
        return text.lower()
    return unicodedata.normalize("NFC", text).casefold()


def parse_link_text(inner: str, embed: bool = False, line: int = 0) -> Link | None:
    """A Link from the text between [[ and ]]; None when it has no target. A same-note link
    ([[#Heading]]) has the empty target. In a table the pipe is written escaped: [[T\\|a]]."""
    link = _parse_link_text(inner)
    if link is None or (not embed and not line):
        return link
    return Link(link.target, link.heading, link.block, link.alias, embed, line)


@lru_cache(maxsize=1 << 14)
def _parse_link_text(inner: str) -> Link | None:
    target, _, alias = inner.replace("\\|", "|").partition("|")
    target, _, anchor = target.partition("#")
    target = target.strip()
    if not target and not anchor:
        return None
    heading = block = None
    if anchor.startswith("^"):
        block = anchor[1:].strip() or None
    elif anchor:
        heading = anchor.strip() or None
    return Link(target, heading, block, alias.strip() or None)


def wikilink_rule(state: StateInline, silent: bool) -> bool:
    """markdown-it inline rule: consume `[[...]]` or `![[...]]` on one line."""
    start = state.pos
    embed = state.src.startswith("![[", start)
    if not embed and not state.src.startswith("[[", start):
        return False
    open_end = start + (3 if embed else 2)
    close = state.src.find("]]", open_end)
    if close < 0:
        return False
    inner = state.src[open_end:close]
    if not inner.strip() or "\n" in inner or "[[" in inner:
        return False
    if not silent:
        token = state.push("wikilink", "", 0)
        token.content = inner
        token.meta = {"embed": embed, "offset": start}
    state.pos = close + 2
    return True


@lru_cache(maxsize=1)
def markdown_parser() -> MarkdownIt:
    """The shared parser: CommonMark blocks, code spans, and the wiki-link rule."""
    md = MarkdownIt("commonmark")
    md.disable(UNUSED_INLINE, ignoreInvalid=True)
    md.disable(UNUSED_CORE, ignoreInvalid=True)
    md.inline.ruler.before("backticks", "wikilink", wikilink_rule)
    return md


@dataclass(frozen=True)
class BodyScan:
    """What the index needs from a body: its links and its first level-1 heading."""

    links: list[Link]
    h1: str | None


def scan_body(body: str, first_line: int = 1) -> BodyScan:
    """Parse a note body once; line numbers are counted from `first_line`."""
    lined = "\n" + body
    links = None if needs_parser(body, lined) else _plain_links(body, first_line)
    if links is None:
        return parse_body(body, first_line)
    return BodyScan(links, _first_h1(lined))


def needs_parser(body: str, lined: str | None = None) -> bool:
    """Whether the body holds markdown that only the full parser reads right (a markdown link
    that is not plain is found by _plain_links, which then gives up).

    `lined` is "\n" + body, when the caller has it already."""
    return bool(
        (any(c in body for c in PARSER_CHAR_HINTS) and NEEDS_PARSER_CHARS.search(body))
        or NEEDS_PARSER_LINES.search(lined or "\n" + body)
    )


def _plain_links(body: str, first_line: int) -> list[Link] | None:
    """The links of a body that needs no parser; None when it does after all."""
    links = []
    consumed = 0  # end of the last link or code span: a "!" before it is not an embed mark
    line, counted = first_line, 0  # the line number at offset `counted`
    for match in BODY_TOKEN.finditer(body):
        inner, dest, backticks, stray = match.groups()
        start, end = match.span()
        if backticks is not None:
            if end - start == len(backticks) + 1:
                return None  # an unpaired backtick run
        elif stray is not None:
            return None  # a "](" of a link that is not plain
        elif dest is not None or inner.strip():
            embed = start > consumed and body[start - 1] == "!"
            line += body.count("\n", counted, start)
            counted = start
            link = (
                markdown_link(_link_href(dest), embed, line)
                if dest is not None
                else parse_link_text(inner, embed, line)
            )
            if link:
                links.append(link)
        elif body.startswith("(", end):
            return None  # markdown-it reads "[[ ]](x)" as a markdown link labelled "[ ]"
        else:
            continue  # the rule fails, and no link can start inside "[[ ]]"
        consumed = end
    return links


@lru_cache(maxsize=1 << 12)
def _link_href(dest: str) -> str:
    """A plain link destination as markdown-it's link rule keeps it; "" for one that it
    refuses (javascript:, file: and the like), which makes no link."""
    md = markdown_parser()
    href = md.normalizeLink(unescapeAll(dest))
    return href if md.validateLink(href) else ""


def _first_h1(lined: str) -> str | None:
    """The first ATX level-1 heading of a body that needs no parser, as markdown-it reads it."""
    match = ATX_H1.search(lined)
    if not match:
        return None
    line = match.group(0)[1:]
    if H1_MARKUP.search(line):  # links, code or escapes in it: markdown-it reads it
        return parse_body(line).h1
    # Plain text, cut as markdown-it's heading rule cuts it: the "#", then a closing run of
    # "#"s when a space stands before it, then the spaces around.
    text = line.lstrip(" ")[1:].rstrip(" \t")
    bare = text.rstrip("#")
    if bare.endswith((" ", "\t")):
        text = bare
    return text.strip()


def parse_body(body: str, first_line: int = 1) -> BodyScan:
    """Scan a body with the full markdown-it parser."""
    tokens = markdown_parser().parse(body, {})
    links: list[Link] = []
    h1 = None
    heading_level = None
    for token in tokens:
        if token.type == "heading_open":
            heading_level = token.tag
        elif token.type == "inline":
            if heading_level == "h1" and h1 is None:
                h1 = _plain_text(token.children or [])
            heading_level = None
            links.extend(_links_of(token, first_line))
    return BodyScan(links, h1)


def _links_of(inline: Any, first_line: int) -> list[Link]:
    base = first_line + (inline.map[0] if inline.map else 0)
    found = []
    breaks = 0  # line breaks before the child: markdown links carry no offset
    for child in inline.children or []:
        kind = child.type
        if kind == "wikilink":
            line = base + inline.content.count("\n", 0, child.meta["offset"])
            link = parse_link_text(child.content, child.meta["embed"], line)
        elif kind == "link_open" or kind == "image":
            href = child.attrs.get("href" if kind == "link_open" else "src")
            link = markdown_link(str(href or ""), kind == "image", base + breaks)
        else:
            breaks += kind == "softbreak" or kind == "hardbreak"
            continue
        if link is not None:
            found.append(link)
    return found


def markdown_link(href: str, embed: bool = False, line: int = 0) -> Link | None:
    """The Link of a markdown link's destination, as Obsidian reads it: percent-decoded, with
    an optional #heading or #^block; None for a URL (a scheme or //) or no destination."""
    if not href or EXTERNAL.match(href):
        return None
    target, _, anchor = unquote(href).partition("#")
    target = target.strip()
    if not target and not anchor:
        return None
    block = anchor[1:].strip() or None if anchor.startswith("^") else None
    heading = anchor.strip() or None if anchor and block is None else None
    return Link(target, heading, block, None, embed, line)


def _plain_text(children: list[Any]) -> str:
    """A heading's text, with wiki-links shown as their alias or target."""
    parts = []
    for child in children:
        if child.type == "wikilink":
            link = parse_link_text(child.content)
            parts.append((link.alias or link.target) if link else "")
        else:
            parts.append(child.content)
    return "".join(parts).strip()


def frontmatter_links(value: Any) -> list[Link]:
    """Links named in a frontmatter field such as depends_on: "[[T]]", "T" or "T.md"."""
    items = value if isinstance(value, list) else [value]
    links = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            continue
        inners = FRONTMATTER_LINK.findall(item) or [item]
        links.extend(link for inner in inners if (link := parse_link_text(inner)))
    return links
