"""The knowledge graph: notes as nodes, typed edges (link, depends_on, challenged_by,
source-of), built with networkx from the index, and the questions asked of it."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from claimledger.kb.resolve import Resolution, resolve_links

if TYPE_CHECKING:
    import networkx as nx

EDGE_KINDS = ("link", "depends_on", "challenged_by", "source-of")
NODE_FIELDS = ("title", "type", "domain", "confidence", "status", "role")


def build_graph(conn: sqlite3.Connection, resolution: Resolution | None = None) -> nx.MultiDiGraph:
    """A MultiDiGraph keyed by note path; edge attribute `kind` is one of EDGE_KINDS."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    paths = {}
    for row in conn.execute(f"SELECT id, path, {', '.join(NODE_FIELDS)} FROM notes"):
        paths[row["id"]] = row["path"]
        graph.add_node(row["path"], **{f: row[f] for f in NODE_FIELDS if row[f] is not None})
    resolution = resolution or resolve_links(conn)
    for link, target_id in resolution.edges:
        source, target = paths[link.source_id], paths[target_id]
        if link.kind == "provenance":  # a claim names its source: the edge runs source -> claim
            source, target = target, source
        kind = "source-of" if link.kind == "provenance" else link.kind
        graph.add_edge(source, target, kind=kind, line=link.line)
    return graph


def neighbourhood(graph: nx.MultiDiGraph, node: str, hops: int = 1) -> nx.MultiDiGraph:
    """The subgraph of notes within `hops` links of `node`, in either direction."""
    import networkx as nx

    reach = nx.single_source_shortest_path_length(graph.to_undirected(as_view=True), node, hops)
    return graph.subgraph(reach).copy()


def orphans(graph: nx.MultiDiGraph) -> list[str]:
    """Notes with no edge in or out."""
    return sorted(node for node in graph if graph.degree(node) == 0)


def depends_on_cycles(graph: nx.MultiDiGraph, limit: int = 100) -> list[list[str]]:
    """Circular reasoning: cycles made only of depends_on edges."""
    import networkx as nx

    deps = nx.DiGraph()
    deps.add_edges_from((u, v) for u, v, k in graph.edges(data="kind") if k == "depends_on")
    cycles = []
    for cycle in nx.simple_cycles(deps):
        cycles.append(cycle)
        if len(cycles) >= limit:
            break
    return sorted(cycles)


def centrality(graph: nx.MultiDiGraph) -> dict[str, float]:
    """PageRank over the notes: how much of the vault leans on each note."""
    import networkx as nx

    if graph.number_of_nodes() == 0:
        return {}
    return nx.pagerank(nx.DiGraph(graph), alpha=0.85)


def summarize(graph: nx.MultiDiGraph, top: int = 5) -> dict[str, Any]:
    """Counts and the most central claims: what `demo` and `index` print."""
    kinds: dict[str, int] = {}
    for _, _, kind in graph.edges(data="kind"):
        kinds[kind] = kinds.get(kind, 0) + 1
    types: dict[str, int] = {}
    for _, note_type in graph.nodes(data="type"):
        types[note_type or "note"] = types.get(note_type or "note", 0) + 1
    ranks = centrality(graph)
    claims = [n for n in ranks if graph.nodes[n].get("type") == "claim"]
    central = sorted(claims, key=lambda n: -ranks[n])[:top]
    return {
        "notes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "edges_by_kind": dict(sorted(kinds.items())),
        "notes_by_type": dict(sorted(types.items())),
        "orphans": len(orphans(graph)),
        "depends_on_cycles": len(depends_on_cycles(graph)),
        "most_central": [
            {"path": n, "title": graph.nodes[n].get("title"), "pagerank": round(ranks[n], 4)}
            for n in central
        ],
    }


def export_graph(graph: nx.MultiDiGraph, fmt: str) -> str:
    """The graph as node-link JSON, GraphML or Graphviz DOT text."""
    import networkx as nx

    if fmt == "json":
        data = nx.node_link_data(graph, edges="edges")
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt == "graphml":
        return "\n".join(nx.generate_graphml(graph)) + "\n"
    if fmt == "dot":
        from networkx.drawing.nx_pydot import to_pydot

        return to_pydot(_quoted_for_dot(graph)).to_string()
    raise ValueError(f"unknown graph format {fmt!r}")


def _quoted_for_dot(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """pydot wants quoted names and attribute values when they hold spaces or colons."""
    import networkx as nx

    def quote(text: Any) -> str:
        return json.dumps(str(text), ensure_ascii=False)

    quoted = nx.MultiDiGraph()
    for node, data in graph.nodes(data=True):
        quoted.add_node(quote(node), **{k: quote(v) for k, v in data.items()})
    for u, v, data in graph.edges(data=True):
        quoted.add_edge(quote(u), quote(v), **{k: quote(x) for k, x in data.items()})
    return quoted
