"""verify: every record file is named by the hash of its content, valid, and its references resolve.

It reads every file again (catching edits made in place), so the index is exact afterwards
and queries ignore whatever it reports.
"""

from __future__ import annotations

import os
from typing import Any

from claimledger.ledger.branches import forest
from claimledger.ledger.index import SHARD_PATTERN, open_index, refresh_index
from claimledger.ledger.queries import file_problems
from claimledger.ledger.store import record_path, records_dir
from claimledger.sqlite_cache import retrying
from claimledger.workspace import Workspace

PROPOSALS_FOLDER = "proposals"


def verify(ws: Workspace) -> list[dict[str, Any]]:
    """Every problem of the ledger as {path, problem} (and id where a record is named)."""
    refresh_index(ws, full=True)
    findings = [{"path": path, "problem": problem} for path, problem in file_problems(ws)]
    findings += _stray_entries(ws)
    findings += _reference_problems(ws)
    return sorted(findings, key=lambda f: (f["path"], f["problem"]))


def _stray_entries(ws: Workspace) -> list[dict[str, Any]]:
    """Files and folders in records/ that are not record folders (hidden ones aside)."""
    root = records_dir(ws)
    if not root.is_dir():
        return []
    found = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if not (SHARD_PATTERN.fullmatch(entry.name) and entry.is_dir()):
            found.append(
                {
                    "path": ws.relative(entry.path),
                    "problem": "not a record folder: records live in <two hex digits>/",
                }
            )
    return found


def _finding(ws: Workspace, rid: str, problem: str) -> dict[str, Any]:
    return {"path": ws.relative(record_path(ws, rid)), "id": rid, "problem": problem}


@retrying
def _reference_problems(ws: Workspace) -> list[dict[str, Any]]:
    with open_index(ws) as conn:
        supersede_rows = conn.execute(
            "SELECT s.by_id, s.target, a.kind, b.kind FROM superseded s "
            "JOIN records a ON a.id = s.by_id LEFT JOIN records b ON b.id = s.target"
        ).fetchall()
        adopt_rows = conn.execute(
            "SELECT a.id, a.from_branch, a.commit_, "
            "EXISTS (SELECT 1 FROM runs r WHERE r.branch = a.from_branch), "
            "EXISTS (SELECT 1 FROM runs r WHERE r.branch = a.from_branch "
            "AND r.commit_ = a.commit_) "
            "FROM adopts a"
        ).fetchall()
        lease_rows = conn.execute("SELECT id, since, until FROM leases").fetchall()
        proposal_rows = conn.execute(
            "SELECT r.id, r.proposal FROM runs r WHERE r.proposal IS NOT NULL "
            "AND r.proposal NOT IN (SELECT proposal FROM leases)"
        ).fetchall()
    findings = [_supersede_problem(ws, *row) for row in supersede_rows]
    findings += [_adopt_problem(ws, *row) for row in adopt_rows]
    findings += [
        _finding(ws, rid, f"lease ends ({until}) before it starts ({since})")
        for rid, since, until in lease_rows
        if until < since
    ]
    findings += _proposal_problems(ws, proposal_rows)
    findings += [
        _finding(
            ws, edge["id"], f"adoption of {edge['from_branch']} by {edge['branch']} makes a cycle"
        )
        for edge in forest(ws).cyclic
    ]
    return [f for f in findings if f]


def _supersede_problem(
    ws: Workspace, rid: str, target: str, kind: str, target_kind: str | None
) -> dict[str, Any] | None:
    if target_kind is None:
        return _finding(ws, rid, f"supersedes {target}, which is not a sound record here")
    if kind != "retract" and kind != target_kind:
        return _finding(ws, rid, f"a {kind} record cannot supersede a {target_kind} record")
    return None


def _adopt_problem(
    ws: Workspace, rid: str, from_branch: str, commit: str, known: int, has_commit: int
) -> dict[str, Any] | None:
    if not known:
        return _finding(ws, rid, f"adopts branch {from_branch}, which has no runs")
    if not has_commit:
        return _finding(ws, rid, f"adopts commit {commit}, which no run of {from_branch} recorded")
    return None


def _proposal_problems(ws: Workspace, rows: list[Any]) -> list[dict[str, Any]]:
    """Runs that answer a proposal with neither a proposal file nor a lease."""
    folder = ws.ledger_dir / PROPOSALS_FOLDER
    return [
        _finding(ws, rid, f"answers proposal {proposal}, which has no file or lease")
        for rid, proposal in rows
        if not (folder / f"{proposal}.md").is_file()
    ]
