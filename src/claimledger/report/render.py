"""Markdown to HTML for the report: CommonMark plus tables, with [[wiki-links]] turned into
relative links to the pages of the notes they resolve to.

Raw HTML in notes is escaped, not passed through: bodies may come from an LLM or a web page.
A link that resolves nowhere is shown as a struck-through span, so a reader sees it is broken.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from claimledger.kb.links import parse_link_text, wikilink_rule

# (normalised key, folder path or None) -> (href, title of the note it resolves to)
LinkMap = Mapping[tuple[str, str | None], tuple[str, str]]


@lru_cache(maxsize=1)
def report_parser() -> MarkdownIt:
    """CommonMark with tables and the wiki-link rule; raw HTML off."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.inline.ruler.before("backticks", "wikilink", wikilink_rule)
    md.add_render_rule("wikilink", _render_wikilink)
    return md


def _render_wikilink(
    self: Any, tokens: Sequence[Token], idx: int, options: Any, env: dict[str, Any]
) -> str:
    token = tokens[idx]
    link = parse_link_text(token.content, token.meta.get("embed", False))
    if link is None:
        return html.escape(f"[[{token.content}]]")
    label = link.alias or (f"{link.target} › {link.heading}" if link.heading else link.target)
    resolved = env.get("links", {}).get((link.key, link.folder_path)) if link.target else None
    if link.target and resolved is None:
        return f'<span class="dangling" title="no note has this title">{html.escape(label)}</span>'
    href, title = resolved if resolved else ("#", label)
    css = "wikilink embed" if link.embed else "wikilink"
    return (
        f'<a class="{css}" href="{html.escape(href)}" title="{html.escape(title)}">'
        f"{html.escape(label or title)}</a>"
    )


def render_markdown(text: str, links: LinkMap) -> str:
    """A note body as HTML, each wiki-link pointing at its target's page."""
    return report_parser().render(text, {"links": links})


def escape(value: Any) -> str:
    """HTML-escaped text of any value (None is empty)."""
    return html.escape("" if value is None else str(value))


def render_value(value: Any, link_of: Callable[[str], str | None]) -> str:
    """A frontmatter value as HTML: lists as lists, mappings as small tables, and strings
    that are [[links]] as links (link_of gives the href or None)."""
    if isinstance(value, list):
        items = "".join(f"<li>{render_value(v, link_of)}</li>" for v in value)
        return f'<ul class="plain">{items}</ul>'
    if isinstance(value, dict):
        rows = "".join(
            f"<tr><th>{escape(k)}</th><td>{render_value(v, link_of)}</td></tr>"
            for k, v in value.items()
        )
        return f'<table class="nested">{rows}</table>'
    if isinstance(value, str) and value.startswith("[[") and value.endswith("]]"):
        link = parse_link_text(value[2:-2])
        href = link_of(value) if link else None
        label = (link.alias or link.target) if link else value
        if href:
            return f'<a class="wikilink" href="{escape(href)}">{escape(label)}</a>'
        return f'<span class="dangling">{escape(label)}</span>'
    return escape(value)
