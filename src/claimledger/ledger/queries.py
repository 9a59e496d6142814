"""Read the ledger through its index: records, runs, best runs, known ids and branches.

Every function refreshes the index first (milliseconds when nothing changed), serves only
records whose files are sound, and hides records that a later record supersedes or retracts.
Before returning records it checks that their files have not changed since they were
indexed, so a record edited in place is never served with stale content.
Records come back as dicts: their content plus an `id` key.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from claimledger.errors import AmbiguousError, NotFoundError, RecordError
from claimledger.ledger.index import open_index, reindex_names
from claimledger.ledger.indexrows import record_of
from claimledger.ledger.records import is_record_id
from claimledger.ledger.store import record_path, records_dir
from claimledger.sqlite_cache import retrying
from claimledger.workspace import Workspace

LIVE = "NOT EXISTS (SELECT 1 FROM superseded s WHERE s.target = r.id)"
RUN_ORDER = "r.started, r.source_row, r.id"  # undated imported rows first, in file order
RUN_ORDER_DESC = "r.started DESC, r.source_row DESC, r.id DESC"
_JOIN = "JOIN records rec ON rec.id = r.id"
MIN_PREFIX = 4
CHECK_ROUNDS = 3


@retrying
def _select(ws: Workspace, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Rows of a query over records (with id, size, mtime_ns), their files checked unchanged."""
    base = str(records_dir(ws))
    for _ in range(CHECK_ROUNDS):
        with open_index(ws) as conn:
            rows = conn.execute(sql, params).fetchall()
        changed = [row["id"] for row in rows if _file_changed(base, row)]
        if not changed:
            return rows
        reindex_names(ws, [f"{rid[:2]}/{rid}.json" for rid in changed])
    return [row for row in rows if not _file_changed(base, row)]


def _file_changed(base: str, row: sqlite3.Row) -> bool:
    """Whether a record's file differs from when it was indexed (or is gone)."""
    rid = row["id"]
    try:
        stat = os.stat(f"{base}/{rid[:2]}/{rid}.json")  # strings: pathlib is slow in bulk
    except FileNotFoundError:
        return True
    return (stat.st_size, stat.st_mtime_ns) != (row["size"], row["mtime_ns"])


def _records(rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    return [record_of(row["body"], row["id"]) for row in rows]


@retrying
def resolve_id(ws: Workspace, prefix: str) -> str:
    """The full id of a record from its id or a unique prefix of at least 4 hex digits."""
    prefix = prefix.strip().lower()
    if is_record_id(prefix):
        return prefix
    if len(prefix) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix):
        raise NotFoundError(f"not a record id or id prefix: {prefix!r}")
    with open_index(ws) as conn:
        found = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM records WHERE id >= ? AND id < ? LIMIT 2", (prefix, prefix + "g")
            )
        ]
    if not found:
        raise NotFoundError(f"no ledger record with id {prefix}...")
    if len(found) > 1:
        raise AmbiguousError(f"id prefix {prefix} matches several records; give more digits")
    return found[0]


def read_record(ws: Workspace, rid: str) -> dict[str, Any]:
    """One record by id (or unique id prefix), with its `id`; superseded ones too."""
    rid = resolve_id(ws, rid)
    rows = _select(ws, "SELECT id, body, size, mtime_ns FROM records WHERE id = ?", (rid,))
    if rows:
        return _records(rows)[0]
    problem = file_problem(ws, rid)
    if problem:
        raise RecordError(problem, record_path(ws, rid))
    raise NotFoundError(f"no ledger record {rid}")


@retrying
def file_problem(ws: Workspace, rid: str) -> str | None:
    """Why the file of a record is kept out of queries, if it is."""
    with open_index(ws) as conn:
        row = conn.execute(
            "SELECT problem FROM bad_files WHERE name = ?", (f"{rid[:2]}/{rid}.json",)
        ).fetchone()
    return row[0] if row else None


def iter_records(
    ws: Workspace, kind: str | None = None, include_superseded: bool = True
) -> Iterator[dict[str, Any]]:
    """Every sound record (of one kind), in id order."""
    where = ["r.kind = ?"] if kind else []
    if not include_superseded:
        where.append(LIVE)
    sql = "SELECT r.id, r.body, r.size, r.mtime_ns FROM records r"
    sql += (" WHERE " + " AND ".join(where)) if where else ""
    yield from _records(_select(ws, sql + " ORDER BY r.id", [kind] if kind else []))


def runs(
    ws: Workspace,
    platform: str | None = None,
    branch: str | None = None,
    status: str | None = None,
    include_superseded: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Run records, oldest first (undated imported rows first, in file order).

    With `limit`, the newest `limit` runs, still oldest first.
    """
    where, params = _run_filters(platform, branch, status, include_superseded)
    sql = f"SELECT r.id, rec.body, rec.size, rec.mtime_ns FROM runs r {_JOIN} {where}"
    if limit is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY {RUN_ORDER_DESC} LIMIT {int(limit)})"
        return list(reversed(_records(_select(ws, sql, params))))
    return _records(_select(ws, f"{sql} ORDER BY {RUN_ORDER}", params))


def _run_filters(
    platform: str | None, branch: str | None, status: str | None, include_superseded: bool
) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, value in (("platform", platform), ("branch", branch), ("status", status)):
        if value is not None:
            clauses.append(f"r.{column} = ?")
            params.append(value)
    if not include_superseded:
        clauses.append(LIVE)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def best_run(ws: Workspace, platform: str, branch: str | None = None) -> dict[str, Any] | None:
    """The kept run with the lowest val_bpb on a platform (and branch); ties by id.

    Crashed and discarded runs never count; nor do superseded or retracted ones.
    """
    where, params = _run_filters(platform, branch, "keep", False)
    # Pick the id on the narrow runs table first; joining the bodies before the LIMIT is slow.
    sql = (
        "SELECT id, body, size, mtime_ns FROM records WHERE id = (SELECT r.id FROM runs r "
        f"{where} AND r.val_bpb > 0 ORDER BY r.val_bpb, r.id LIMIT 1)"
    )
    rows = _select(ws, sql, params)
    return _records(rows)[0] if rows else None


def best_per_branch(ws: Workspace, platform: str) -> dict[str, dict[str, Any]]:
    """The best kept run of every branch on one platform."""
    # One index seek per branch (branches come from the kept counts), not a scan of all runs.
    sql = f"""
        SELECT rec.id, rec.body, rec.size, rec.mtime_ns FROM branch_counts b
        JOIN records rec ON rec.id = (
            SELECT r.id FROM runs r WHERE r.platform = b.platform AND r.status = 'keep'
            AND r.branch = b.branch AND r.val_bpb > 0 AND {LIVE}
            ORDER BY r.val_bpb, r.id LIMIT 1)
        WHERE b.platform = ? AND b.status = 'keep' AND b.n > 0
    """
    return {run["branch"]: run for run in _records(_select(ws, sql, (platform,)))}


def leaderboard(ws: Workspace, platform: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The best run of each branch on a platform, best first."""
    bests = sorted(best_per_branch(ws, platform).values(), key=lambda r: (_bpb(r), r["id"]))
    return bests[:limit] if limit is not None else bests


def _bpb(run: dict[str, Any]) -> float:
    return float(run["metrics"]["val_bpb"])


def runs_at_commit(ws: Workspace, commit: str, branch: str | None = None) -> list[dict[str, Any]]:
    """The live runs of a commit (on a branch), oldest first."""
    sql = f"SELECT r.id, rec.body, rec.size, rec.mtime_ns FROM runs r {_JOIN} WHERE r.commit_ = ?"
    params: list[Any] = [commit]
    if branch is not None:
        sql += " AND r.branch = ?"
        params.append(branch)
    return _records(_select(ws, f"{sql} AND {LIVE} ORDER BY {RUN_ORDER}", params))


def run_counts(conn: sqlite3.Connection, platform: str | None = None) -> list[tuple[Any, ...]]:
    """(branch, platform, status, live runs) from the kept counts, minus superseded runs.

    Rows of the same key may repeat (a count and its correction); callers sum them.
    """
    where = "WHERE r.platform = ?" if platform else ""
    params = [platform] if platform else []
    rows = conn.execute(
        f"SELECT r.branch, r.platform, r.status, r.n FROM branch_counts r {where}", params
    ).fetchall()
    rows += conn.execute(
        # CROSS JOIN keeps this order: the few superseded ids, then their runs.
        "SELECT r.branch, r.platform, r.status, -COUNT(*) FROM "
        "(SELECT DISTINCT target FROM superseded) s CROSS JOIN runs r "
        f"ON r.id = s.target {where} GROUP BY 1, 2, 3",
        params,
    ).fetchall()
    return [tuple(row) for row in rows]


@retrying
def platforms(ws: Workspace) -> dict[str, int]:
    """Every platform with its number of live runs, most runs first."""
    with open_index(ws) as conn:
        rows = run_counts(conn)
    counts: dict[str, int] = {}
    for _, platform, _, n in rows:
        counts[platform] = counts.get(platform, 0) + n
    ranked = sorted((item for item in counts.items() if item[1]), key=lambda x: (-x[1], x[0]))
    return dict(ranked)


@retrying
def known_record_ids(ws: Workspace) -> set[str]:
    """The id of every sound record (superseded ones included: they still exist)."""
    with open_index(ws) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM records")}


@retrying
def known_branches(ws: Workspace) -> set[str]:
    """Every branch named by a sound run or adoption record."""
    with open_index(ws) as conn:
        rows = conn.execute(
            "SELECT branch FROM branch_counts WHERE n > 0 UNION SELECT branch FROM adopts "
            "UNION SELECT from_branch FROM adopts"
        ).fetchall()
    return {row[0] for row in rows}


@retrying
def file_problems(ws: Workspace) -> list[tuple[str, str]]:
    """(path relative to the workspace, problem) of every record file kept out of queries."""
    prefix = ws.relative(records_dir(ws)) if records_dir(ws).exists() else "ledger/records"
    with open_index(ws) as conn:
        rows = conn.execute("SELECT name, problem FROM bad_files ORDER BY name").fetchall()
    return [(f"{prefix}/{row[0]}", row[1]) for row in rows]
