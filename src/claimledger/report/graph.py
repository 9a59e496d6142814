"""The graph page: the notes and their typed edges, drawn in the browser by the vendored
cytoscape.js (assets/), from a data file loaded by a <script> tag (file:// pages cannot
fetch JSON). A large vault is cut down to its most connected notes, which a browser can
lay out in a few seconds; every note keeps its own page.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from claimledger.report.catalog import Catalog
from claimledger.report.pages import layout
from claimledger.report.render import escape

MAX_NODES = 400


def graph_data(catalog: Catalog, max_nodes: int = MAX_NODES) -> dict[str, Any]:
    """Nodes (the most connected notes, up to max_nodes) and the edges among them."""
    degree: Counter[int] = Counter()
    edges = []
    for link, target in catalog.resolution.edges:
        source = link.source_id
        if link.kind == "provenance":  # a claim names its source: drawn source -> claim
            source, target = target, source
        if source != target:
            edges.append((source, target, "source-of" if link.kind == "provenance" else link.kind))
            degree[source] += 1
            degree[target] += 1
    ranked = sorted(catalog.row_of, key=lambda nid: (-degree[nid], catalog.row_of[nid]["path"]))
    kept = set(ranked[:max_nodes])
    nodes = [_node(nid, catalog.row_of[nid], degree[nid]) for nid in ranked[:max_nodes]]
    unique = sorted({e for e in edges if e[0] in kept and e[1] in kept})
    return {
        "nodes": nodes,
        "edges": [
            {"data": {"id": f"e{i}", "source": f"n{s}", "target": f"n{t}", "kind": k}}
            for i, (s, t, k) in enumerate(unique)
        ],
        "total_notes": len(catalog.row_of),
    }


def _node(nid: int, row: dict[str, Any], degree: int) -> dict[str, Any]:
    return {
        "data": {
            "id": f"n{nid}",
            "label": row["title"],
            "href": row["href"],
            "type": row["type"] or "note",
            "domain": row["domain"] or "",
            "confidence": row["confidence"] or "",
            "status": row["status"] or "",
            "degree": degree,
        }
    }


def write_graph_page(out: Path, catalog: Catalog) -> None:
    """graph.html and its data file graph-data.js."""
    data = graph_data(catalog)
    # "</" inside a title must not end the script element.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    (out / "graph-data.js").write_text(f"window.CLAIMLEDGER_GRAPH = {text};\n", encoding="utf-8")
    shown, total = len(data["nodes"]), data["total_notes"]
    note = f"the {shown} most connected of {total} notes" if shown < total else f"all {total} notes"
    content = (
        f'<h1>Graph</h1><p class="summary">Showing {escape(note)}. Click a note to open it; '
        'drag to move, scroll to zoom. Edges: <span class="edge-link">link</span>, '
        '<span class="edge-depends_on">depends_on</span>, '
        '<span class="edge-challenged_by">challenged_by</span>, '
        '<span class="edge-source-of">source-of</span>.</p>'
        '<p><label>Find <input id="graph-search" type="search" placeholder="title words"></label>'
        ' <span id="graph-status"></span></p><p id="graph-legend" class="legend"></p>'
        '<div id="graph" class="graph"></div>'
    )
    scripts = ["graph-data.js", "assets/cytoscape.min.js", "assets/graph.js"]
    (out / "graph.html").write_text(layout("Graph", content, scripts=scripts), encoding="utf-8")
