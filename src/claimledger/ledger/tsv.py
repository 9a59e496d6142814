"""Import an autoresearch results.tsv: one run record per row, idempotently.

The file is tab-separated with a header: commit, val_bpb, memory_gb, status, description
(other numeric columns become metrics). A row's record depends only on the row, its line
number, the rows before it, and the branch, platform and agent given, so importing the same
file again (or a longer version of it) adds only the rows not yet recorded. A crash row's
val_bpb of 0 means "no result": the record leaves it out and the run is never a best.
The parent of a row is the last kept commit above it, as autoresearch resets on discard.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimledger.errors import ClaimledgerError, RecordError
from claimledger.ledger.platforms import check_platform, platform_budget
from claimledger.ledger.queries import best_run
from claimledger.ledger.records import check_record, record_id
from claimledger.ledger.runs import STATUSES, build_run
from claimledger.ledger.store import append_records, record_path
from claimledger.workspace import Workspace

SOURCE = "results.tsv import"
DEFAULT_AGENT = "autoresearch"
REQUIRED_COLUMNS = ("commit", "val_bpb", "status")
TEXT_COLUMNS = ("commit", "status", "description")


@dataclass
class ImportResult:
    """What an import did: rows read, ids added, rows already there, per-row problems."""

    path: str
    rows: int = 0
    added: list[str] = field(default_factory=list)
    existing: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "path": self.path,
            "rows": self.rows,
            "added": len(self.added),
            "existing": self.existing,
            "problems": self.problems,
            "best": self.best,
        }


def import_tsv(
    ws: Workspace,
    path: str | Path,
    branch: str,
    platform: str,
    agent: str = DEFAULT_AGENT,
    time_budget: float | None = None,
) -> ImportResult:
    """Import the rows of a results.tsv as runs of `branch` on `platform`.

    The time budget defaults to the one in the platform string (e.g. `-300s`). Rows that
    cannot be read are reported in `problems` and the others are still imported.
    """
    path = Path(path)
    check_platform(platform)
    if time_budget is None:
        time_budget = platform_budget(platform)[0]
    result = ImportResult(path=str(path))
    records = []
    parent: str | None = None
    for line, row in _read_rows(path):
        result.rows += 1
        try:
            record = _row_record(row, line, parent, branch, platform, agent, time_budget)
            check_record(record, ws.schemas_dir)
        except RecordError as exc:
            result.problems.append({"line": line, "problem": exc.problem})
            continue
        records.append(record)
        if record["status"] == "keep":
            parent = record["commit"]
    present = {record_id(r) for r in records if record_path(ws, record_id(r)).exists()}
    ids = append_records(ws, records)
    result.added = [rid for rid in ids if rid not in present]
    result.existing = len(ids) - len(result.added)
    result.best = best_run(ws, platform, branch)
    return result


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: text}) of every non-blank row after the header."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClaimledgerError(f"cannot read results file: {exc}", path) from exc
    rows = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header: list[str] | None = None
    for values in rows:
        if not any(v.strip() for v in values):
            continue
        if header is None:
            header = [v.strip().lower() for v in values]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise RecordError(f"not a results.tsv: no column {', '.join(missing)}", path)
            continue
        yield rows.line_num, _cells(header, values)


def _cells(header: list[str], values: list[str]) -> dict[str, str]:
    """A row as {column: text}; missing cells are empty, a tab in a last text column is kept."""
    width = len(header)
    if len(values) > width and header[-1] in TEXT_COLUMNS:
        values = [*values[: width - 1], "\t".join(values[width - 1 :])]
    values = [*values[:width], *[""] * (width - len(values))]
    return {name: value.strip() for name, value in zip(header, values, strict=True)}


def _row_record(
    row: dict[str, str],
    line: int,
    parent: str | None,
    branch: str,
    platform: str,
    agent: str,
    time_budget: float | None,
) -> dict[str, Any]:
    """The run record of one row (not yet validated against the schema)."""
    status = row["status"].lower()
    if status not in STATUSES:
        raise RecordError(f"status {row['status']!r} is not one of {', '.join(STATUSES)}")
    metrics = {
        name: _number(name, value) for name, value in row.items() if name not in TEXT_COLUMNS
    }
    metrics = {k: v for k, v in metrics.items() if v is not None}
    if status == "crash":
        # autoresearch logs a crash as val_bpb 0.000000 and memory 0.0: no result at all.
        metrics = {k: v for k, v in metrics.items() if v != 0}
    elif not metrics.get("val_bpb"):
        raise RecordError(
            f"val_bpb {row['val_bpb']!r} on a {status} row: only crashes lack a result"
        )
    description = row.get("description", "")
    return build_run(
        branch=branch,
        commit=row["commit"] or None,
        parent_commit=parent,
        platform=platform,
        time_budget=time_budget,
        metrics=metrics,
        status=status,
        crash_reason=(description or "crashed (no reason logged)") if status == "crash" else None,
        agent=agent,
        description=description or None,
        source=SOURCE,
        source_row=line,
    )


def _number(name: str, text: str) -> float | None:
    """A numeric cell; empty or non-numeric extra columns are left out of the metrics."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        if name in REQUIRED_COLUMNS:
            raise RecordError(f"{name} {text!r} is not a number") from None
        return None
    return value if math.isfinite(value) else None
