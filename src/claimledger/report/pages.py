"""HTML of the report's pages: the shared layout, a note's page, and note listings.

Pages are plain HTML with relative links, one stylesheet and no script except on the graph
page, so they open from the file system with no server and no network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from claimledger.kb.links import parse_link_text
from claimledger.report.render import escape, render_markdown, render_value

NAV = [
    ("index.html", "Claims"),
    ("graph.html", "Graph"),
    ("leaderboard.html", "Leaderboards"),
    ("branches.html", "Branches"),
    ("proposals.html", "Proposals"),
    ("review.html", "Review"),
]
RUN_METRICS_SHOWN = 6


@dataclass
class NotePage:
    """Everything a note's page shows; plain data, so it can go to a worker process."""

    path: str
    href: str  # relative to the site root, e.g. notes/qk-norm-1a2b3c.html
    title: str
    metadata: dict[str, Any]
    links: dict[tuple[str, str | None], tuple[str, str]] = field(default_factory=dict)
    outgoing: list[tuple[str, str, str | None]] = field(default_factory=list)  # kind, text, href
    backlinks: list[tuple[str, str, str]] = field(default_factory=list)  # kind, title, href
    runs: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)


def layout(title: str, content: str, prefix: str = "", scripts: Sequence[str] = ()) -> str:
    """A whole page: head, navigation bar, content; `prefix` leads from the page to the root."""
    nav = "".join(f'<a href="{prefix}{href}">{label}</a>' for href, label in NAV)
    tags = "".join(f'<script src="{prefix}{src}"></script>' for src in scripts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · claimledger</title>"
        f'<link rel="stylesheet" href="{prefix}assets/style.css"></head>\n'
        f'<body><nav class="top">{nav}</nav><main id="content">\n{content}\n</main>{tags}'
        "</body></html>\n"
    )


def badges(meta: dict[str, Any]) -> str:
    """Domain, confidence and status as small labels."""
    spans = []
    for key in ("type", "domain", "confidence", "status"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            spans.append(f'<span class="badge {key}-{escape(value)}">{escape(value)}</span>')
    return f'<p class="badges">{"".join(spans)}</p>'


def note_page(page: NotePage, body_text: str) -> str:
    """The HTML of one note's page (it lives in notes/, so the root is `../`)."""

    def link_of(value: str) -> str | None:
        link = parse_link_text(value[2:-2])
        found = page.links.get((link.key, link.folder_path)) if link else None
        return found[0] if found else None

    meta_rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{render_value(v, link_of)}</td></tr>"
        for k, v in page.metadata.items()
    )
    parts = [
        f'<h1 class="note-title">{escape(page.title)}</h1>',
        badges(page.metadata),
        f'<p class="description">{escape(page.metadata.get("description", ""))}</p>'
        if page.metadata.get("description")
        else "",
        f'<details class="frontmatter"><summary>Frontmatter</summary>'
        f'<table class="meta">{meta_rows}</table></details>',
        f'<article class="body">{_body_html(body_text, page)}</article>',
        _runs_section(page.runs),
        _links_section("Links", [(k, t, h) for k, t, h in page.outgoing]),
        _links_section("Backlinks", page.backlinks),
        f'<p class="path">file: <code>{escape(page.path)}</code></p>',
    ]
    return layout(page.title, "\n".join(p for p in parts if p), prefix="../")


def _body_html(body: str, page: NotePage) -> str:
    return render_markdown(_without_title(body, page.title), page.links)


def _without_title(body: str, title: str) -> str:
    """The body without a leading `# Title` line, which the page already shows."""
    stripped = body.lstrip("\n")
    first, _, rest = stripped.partition("\n")
    if first.startswith("# ") and first[2:].strip().casefold() == title.strip().casefold():
        return rest
    return body


def _links_section(heading: str, items: Iterable[tuple[str, str, str | None]]) -> str:
    rows = []
    for kind, text, href in items:
        target = (
            f'<a href="{escape(href)}">{escape(text)}</a>'
            if href
            else f'<span class="dangling">{escape(text)}</span>'
        )
        rows.append(f'<li><span class="kind">{escape(kind)}</span> {target}</li>')
    if not rows:
        return f'<section class="{heading.lower()}"><h2>{heading}</h2><p>none</p></section>'
    count = len(rows)
    return (
        f'<section class="{heading.lower()}"><h2>{heading} ({count})</h2>'
        f"<ul>{''.join(rows)}</ul></section>"
    )


def _runs_section(runs: list[tuple[str, dict[str, Any] | None]]) -> str:
    if not runs:
        return ""
    rows = [run_row(rid, run) for rid, run in runs]
    return (
        '<section class="runs"><h2>Evidence runs</h2><table class="data">'
        "<tr><th>run</th><th>branch</th><th>platform</th><th>status</th><th>commit</th>"
        f"<th>metrics</th><th>change</th></tr>{''.join(rows)}</table></section>"
    )


def run_row(rid: str, run: dict[str, Any] | None, lead: str = "") -> str:
    """One ledger run as a table row after `lead` cells (a missing id says so)."""
    if run is None:
        return f'<tr class="missing">{lead}<td><code>{escape(rid[:12])}</code></td>' + (
            '<td colspan="6">not in the ledger</td></tr>'
        )
    metrics = list((run.get("metrics") or {}).items())[:RUN_METRICS_SHOWN]
    shown = ", ".join(f"{k} {_number(v)}" for k, v in metrics)
    diff = run.get("config_diff") or {}
    change = ", ".join(f"{k}: {_pair(v)}" for k, v in diff.items()) or run.get("description", "")
    cells = [
        f"<code>{escape(rid[:12])}</code>",
        escape(run.get("branch")),
        escape(run.get("platform")),
        f'<span class="status-{escape(run.get("status"))}">{escape(run.get("status"))}</span>',
        f"<code>{escape(str(run.get('commit', ''))[:10])}</code>",
        escape(shown),
        escape(change),
    ]
    return f"<tr>{lead}" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _pair(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2:
        return f"{value[0]} → {value[1]}"
    return str(value)


def note_table(rows: Iterable[dict[str, Any]], prefix: str = "") -> str:
    """Notes as a table: title (linked), domain, confidence, status, backlinks."""
    body = "".join(
        f'<tr><td><a href="{prefix}{escape(r["href"])}">{escape(r["title"])}</a></td>'
        f"<td>{escape(r.get('domain'))}</td><td>{escape(r.get('confidence'))}</td>"
        f"<td>{escape(r.get('status'))}</td><td>{r.get('backlinks', 0)}</td></tr>"
        for r in rows
    )
    return (
        '<table class="data notes"><tr><th>title</th><th>domain</th><th>confidence</th>'
        f"<th>status</th><th>backlinks</th></tr>{body}</table>"
    )
