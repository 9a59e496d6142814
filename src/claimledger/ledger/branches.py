"""Branches and adoption: the forest of research branches and the best run of each.

Branches are never merged. A branch *adopts* another (builds on it at a commit) by an adopt
record; a branch's latest adoption makes its parent in the forest. Adoptions merged from
several machines could form a cycle; the edge that would close it (the later one, ties by
id) is left out of the forest, and `verify` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claimledger.errors import NotFoundError, RecordError
from claimledger.ledger.index import open_index
from claimledger.ledger.queries import (
    LIVE,
    best_per_branch,
    best_run,
    run_counts,
    runs_at_commit,
)
from claimledger.ledger.records import SCHEMA_VERSION, drop_none, utc_now
from claimledger.ledger.runs import default_agent
from claimledger.ledger.store import append_record
from claimledger.sqlite_cache import retrying
from claimledger.workspace import Workspace


@dataclass
class Forest:
    """Each branch's parent (latest adoption that makes no cycle) and the edges left out."""

    parent: dict[str, dict[str, Any]] = field(default_factory=dict)
    cyclic: list[dict[str, Any]] = field(default_factory=list)


@retrying
def adoptions(ws: Workspace) -> list[dict[str, Any]]:
    """Live adopt edges, oldest first: branch, from_branch, commit, platform, created, id."""
    with open_index(ws) as conn:
        rows = conn.execute(
            f"SELECT r.id, r.branch, r.from_branch, r.commit_, r.platform, r.created "
            f"FROM adopts r WHERE {LIVE} ORDER BY r.created, r.id"
        ).fetchall()
    keys = ("id", "branch", "from_branch", "commit", "platform", "created")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def forest(ws: Workspace) -> Forest:
    """The parent of every adopting branch, leaving out edges that would close a cycle."""
    result = Forest()
    for edge in adoptions(ws):
        previous = result.parent.get(edge["branch"])
        result.parent[edge["branch"]] = edge
        if edge["branch"] in _ancestors(result.parent, edge["from_branch"]):
            result.cyclic.append(edge)
            if previous is None:
                del result.parent[edge["branch"]]
            else:
                result.parent[edge["branch"]] = previous
    return result


def _ancestors(parent: dict[str, dict[str, Any]], branch: str) -> set[str]:
    seen: set[str] = set()
    while branch in parent and branch not in seen:
        seen.add(branch)
        branch = parent[branch]["from_branch"]
    return seen | {branch}


def branches(ws: Workspace, platform: str | None = None) -> list[dict[str, Any]]:
    """Every branch, roots first then their adopters depth-first, with counts and bests.

    Each item: branch, parent ({from_branch, commit, id} or None), children, depth, runs,
    kept, discarded, crashed, platforms and best ({platform: best run}). With `platform`,
    only that platform's runs are counted.
    """
    tree = forest(ws)
    stats = _branch_stats(ws, platform)
    names = set(stats) | set(tree.parent) | {e["from_branch"] for e in tree.parent.values()}
    bests = _bests(ws, platform, stats)
    nodes = {name: _node(name, tree, stats, bests) for name in names}
    for name, edge in tree.parent.items():
        nodes[edge["from_branch"]]["children"].append(name)
    return _depth_first(nodes, sorted(n for n in names if n not in tree.parent))


def _depth_first(nodes: dict[str, dict[str, Any]], roots: list[str]) -> list[dict[str, Any]]:
    """Nodes in tree order with their depth (a stack, not recursion: chains can be long)."""
    ordered = []
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        name, depth = stack.pop()
        node = nodes[name]
        node["depth"] = depth
        node["children"].sort()
        ordered.append(node)
        stack.extend((child, depth + 1) for child in reversed(node["children"]))
    return ordered


def _node(
    name: str, tree: Forest, stats: dict[str, dict[str, Any]], bests: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    edge = tree.parent.get(name)
    counts = stats.get(name, {"runs": 0, "keep": 0, "discard": 0, "crash": 0, "platforms": []})
    return {
        "branch": name,
        "parent": {k: edge[k] for k in ("from_branch", "commit", "id")} if edge else None,
        "children": [],
        "depth": 0,
        "runs": counts["runs"],
        "kept": counts["keep"],
        "discarded": counts["discard"],
        "crashed": counts["crash"],
        "platforms": counts["platforms"],
        "best": bests.get(name, {}),
    }


@retrying
def _branch_stats(ws: Workspace, platform: str | None) -> dict[str, dict[str, Any]]:
    """Counts of live runs per branch and status, and the platforms each branch ran on."""
    with open_index(ws) as conn:
        rows = run_counts(conn, platform)
    stats: dict[str, dict[str, Any]] = {}
    for branch, plat, status, count in rows:
        entry = stats.setdefault(branch, {"runs": 0, "keep": 0, "discard": 0, "crash": 0, "by": {}})
        entry["runs"] += count
        entry[status] += count
        entry["by"][plat] = entry["by"].get(plat, 0) + count
    for entry in stats.values():
        entry["platforms"] = sorted(p for p, n in entry.pop("by").items() if n)
    return {branch: entry for branch, entry in stats.items() if entry["runs"]}


def _bests(
    ws: Workspace, platform: str | None, stats: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """branch -> {platform: best run}, over the given platform or every platform seen."""
    plats = [platform] if platform else sorted({p for s in stats.values() for p in s["platforms"]})
    bests: dict[str, dict[str, Any]] = {}
    for plat in plats:
        for branch, run in best_per_branch(ws, plat).items():
            bests.setdefault(branch, {})[plat] = run
    return bests


def adopt(
    ws: Workspace,
    branch: str,
    from_branch: str,
    commit: str | None = None,
    agent: str | None = None,
    platform: str | None = None,
    reason: str | None = None,
) -> str:
    """Record that `branch` builds on `from_branch` at `commit`; return the record id.

    Without a commit, the best kept run of from_branch (on `platform`, needed when it ran on
    several) gives it. A commit must be one that a run of from_branch recorded.
    """
    if branch == from_branch:
        raise RecordError(f"a branch cannot adopt itself: {branch}")
    commit, platform = _adopted_commit(ws, from_branch, commit, platform)
    if branch in _ancestors(forest(ws).parent, from_branch):
        raise RecordError(
            f"{branch} cannot adopt {from_branch}: {from_branch} already builds on {branch}"
        )
    record = {
        "kind": "adopt",
        "schema_version": SCHEMA_VERSION,
        "branch": branch,
        "from_branch": from_branch,
        "commit": commit,
        "platform": platform,
        "agent": agent or default_agent(),
        "created": utc_now(),
        "reason": reason or None,
    }
    return append_record(ws, drop_none(record))


def _adopted_commit(
    ws: Workspace, from_branch: str, commit: str | None, platform: str | None
) -> tuple[str, str | None]:
    """The commit to adopt and its platform, checked against from_branch's runs."""
    if commit is not None:
        found = runs_at_commit(ws, commit, from_branch)
        if not found:
            raise NotFoundError(f"no run of branch {from_branch} has commit {commit}")
        return commit, platform or found[-1]["platform"]
    plats = [platform] if platform else _platforms_of(ws, from_branch)
    if not plats:
        raise NotFoundError(f"branch {from_branch} has no runs to adopt")
    if len(plats) > 1:
        raise RecordError(
            f"branch {from_branch} ran on several platforms ({', '.join(plats)}); "
            "give a platform or a commit"
        )
    best = best_run(ws, plats[0], from_branch)
    if best is None:
        raise NotFoundError(f"branch {from_branch} has no kept run on {plats[0]}; give a commit")
    return best["commit"], plats[0]


@retrying
def _platforms_of(ws: Workspace, branch: str) -> list[str]:
    with open_index(ws) as conn:
        rows = conn.execute(
            "SELECT DISTINCT platform FROM runs WHERE branch = ? ORDER BY platform", (branch,)
        )
        return [row[0] for row in rows]
