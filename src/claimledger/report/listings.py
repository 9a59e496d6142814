"""The report's listing pages: the index, a page per domain, sources, the review queue, the
open proposals and the graph page.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimledger.errors import ClaimledgerError
from claimledger.kb.links import parse_link_text, scan_body
from claimledger.kb.resolve import Resolver
from claimledger.kb.review import ReviewItem, review_queue
from claimledger.report.catalog import Catalog, page_name
from claimledger.report.graph import write_graph_page
from claimledger.report.pages import layout, note_table
from claimledger.report.render import escape, render_markdown
from claimledger.workspace import Workspace

FULL_LIST_MAX = 500  # the index lists every claim up to this many; beyond, per-domain pages
TOP = 25


@dataclass
class Extra:
    """What the listings need from the index besides the catalog."""

    queue: list[ReviewItem] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)


def collect_extra(
    ws: Workspace, conn: sqlite3.Connection, catalog: Catalog, problems: list[str]
) -> Extra:
    """The review queue and the open proposals (with their links resolved to the pages of
    the catalog)."""
    # Lint is left out: on a large vault it costs more than the rest of the report.
    extra = Extra(queue=review_queue(ws, conn, with_lint=False))
    try:
        from claimledger.planner import list_proposals
    except ImportError:
        problems.append("proposals: the planner is not installed")
        return extra
    try:
        found = list_proposals(ws, status="open")
    except ClaimledgerError as exc:
        problems.append(f"proposals: {exc}")
        return extra
    resolver = Resolver(conn)
    for proposal in found:
        fields = {k: v for k, v in vars(proposal).items() if k not in ("body", "path")}
        body = getattr(proposal, "body", "") or ""
        links = _proposal_links(resolver, catalog.href_of, body, fields.get("tests") or [])
        extra.proposals.append({"fields": fields, "body": body, "links": links})
    return extra


def _proposal_links(
    resolver: Resolver, href_of: dict[int, str], body: str, tests: list[Any]
) -> dict[tuple[str, str | None], tuple[str, str]]:
    found = list(scan_body(body).links)
    found += [link for t in tests if isinstance(t, str) if (link := parse_link_text(t.strip("[]")))]
    links = {}
    for link in found:
        ids = resolver.candidates(link.key, link.folder_path)
        if ids:
            links[(link.key, link.folder_path)] = (href_of[ids[0]], link.target)
    return links


def write_listings(ws: Workspace, out: Path, catalog: Catalog, extra: Extra) -> int:
    """Write the index, domain, sources, review, proposals and graph pages; returns how many."""
    rows = sorted(catalog.row_of.values(), key=lambda r: r["title"].casefold())
    claims = [r for r in rows if r["type"] == "claim"]
    domains = sorted({r["domain"] or "(none)" for r in claims})
    for domain in domains:
        members = [r for r in claims if (r["domain"] or "(none)") == domain]
        content = f"<h1>Domain: {escape(domain)}</h1><p>{len(members)} claims</p>"
        _write(out / f"domain-{_safe(domain)}.html", layout(domain, content + note_table(members)))
    sources = [r for r in rows if r["type"] != "claim"]
    _write(
        out / "sources.html",
        layout("Sources", "<h1>Sources and other notes</h1>" + note_table(sources)),
    )
    _write(out / "index.html", layout("Claims", _index_content(ws, claims, domains, len(sources))))
    _write(out / "review.html", layout("Review", _review_content(extra.queue, catalog)))
    _write(out / "proposals.html", layout("Proposals", _proposals_content(extra.proposals)))
    write_graph_page(out, catalog)
    return len(domains) + 5


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _safe(text: str) -> str:
    return page_name(text)[: -len(".html")]


def _index_content(
    ws: Workspace, claims: list[dict[str, Any]], domains: list[str], sources: int
) -> str:
    counts = {key: Counter(r[key] or "(none)" for r in claims) for key in ("confidence", "status")}
    summary = " · ".join(
        f"{key}: " + ", ".join(f"{n} {value}" for value, n in sorted(c.items()))
        for key, c in counts.items()
    )
    domain_links = "".join(
        f'<li><a href="domain-{_safe(d)}.html">{escape(d)}</a> '
        f"({sum((r['domain'] or '(none)') == d for r in claims)})</li>"
        for d in domains
    )
    parts = [
        f"<h1>Claims of {escape(ws.root.name)}</h1>",
        f'<p class="summary">{len(claims)} claims, <a href="sources.html">{sources} sources'
        f"</a>. {escape(summary)}</p>",
        f'<h2>Domains</h2><ul class="domains">{domain_links}</ul>',
    ]
    if len(claims) <= FULL_LIST_MAX:
        parts.append("<h2>All claims</h2>" + note_table(claims))
    else:
        linked = sorted(claims, key=lambda r: -r.get("backlinks", 0))[:TOP]
        parts.append(f"<h2>Most linked claims</h2>{note_table(linked)}")
    return "\n".join(parts)


def _review_content(queue: list[ReviewItem], catalog: Catalog) -> str:
    href = {row["path"]: row["href"] for row in catalog.row_of.values()}
    rows = "".join(
        f"<tr><td>{escape(i.reason)}</td>"
        f'<td><a href="{escape(href.get(i.path, "#"))}">{escape(i.title)}</a></td>'
        f"<td>{escape(i.related or '')}</td><td>{escape(i.detail)}</td></tr>"
        for i in queue
        if i.path in href
    )
    intro = (
        f"<h1>Review queue</h1><p>{len(queue)} items. Settle them with "
        "<code>claimledger review accept|reject|retire TITLE</code> or "
        "<code>claimledger review merge A B</code>; <code>claimledger review</code> adds the "
        "lint findings.</p>"
    )
    return intro + (
        f'<table class="data review"><tr><th>reason</th><th>note</th><th>related</th>'
        f"<th>detail</th></tr>{rows}</table>"
        if rows
        else "<p>nothing to review</p>"
    )


def _proposals_content(proposals: list[dict[str, Any]]) -> str:
    if not proposals:
        return "<h1>Open proposals</h1><p>No open proposals.</p>"
    parts = [f"<h1>Open proposals</h1><p>{len(proposals)} open</p>"]
    for item in proposals:
        fields = item["fields"]
        links = item["links"]
        tests = "".join(
            f'<li><a href="{escape(links[key][0])}">{escape(link.target)}</a></li>'
            for t in fields.get("tests") or []
            if (link := parse_link_text(str(t).strip("[]")))
            and (key := (link.key, link.folder_path)) in links
        )
        diff = ", ".join(f"{k} {_change(v)}" for k, v in (fields.get("config_diff") or {}).items())
        expected = fields.get("expected") or {}
        parts.append(
            f'<section class="proposal" id="{escape(fields.get("id"))}">'
            f"<h2>{escape(fields.get('id'))}</h2>"
            f"<p>{escape(fields.get('platform'))} · {escape(fields.get('why'))} · "
            f"{escape(fields.get('strategy'))} · change {escape(diff)} · expected "
            f"{escape(expected.get('metric', 'val_bpb'))} {escape(expected.get('delta', '?'))}</p>"
            f"{f'<p>tests:</p><ul>{tests}</ul>' if tests else ''}"
            f'<div class="body">{render_markdown(item["body"], links)}</div></section>'
        )
    return "\n".join(parts)


def _change(value: Any) -> str:
    """A config_diff entry [old, new] as `old → new`."""
    if isinstance(value, list) and len(value) == 2:
        return f"{value[0]} → {value[1]}"
    return str(value)
