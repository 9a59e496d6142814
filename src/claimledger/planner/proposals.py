"""Proposals: the planner's output, one markdown note per experiment in ledger/proposals/.

A proposal names one config change for the bundled trainer on one platform, the claims it
tests, the effect expected and why it is worth a run now; its body argues it in prose with
[[links]]. Its id is `<YYYYMMDD>-<8 hex of sha256(platform + canonical config_diff)>`, so the
same experiment proposed twice on one day is the same file. A proposal is `open` until runs
answer it; `mark_answered` then records their ids. Frontmatter: schemas/proposal.schema.json.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from claimledger.errors import NotFoundError, ProposalError
from claimledger.kb.notes import json_safe, read_note, render_note, write_note, write_text_atomic
from claimledger.schemas import validation_errors
from claimledger.workspace import Workspace

WHY = ("value-of-information", "replication", "exploitation", "exploration")
STATUSES = ("open", "answered")
LOCK_NAME = "proposals.lock"


@dataclass
class Proposal:
    """A proposal note: its frontmatter fields, its body and its file."""

    id: str
    platform: str
    created: str
    strategy: str
    why: str
    config_diff: dict[str, list[Any]]
    set: dict[str, Any]
    tests: list[str] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)
    status: str = "open"
    answered_by: list[str] = field(default_factory=list)
    body: str = ""
    path: Path | None = None

    def frontmatter(self) -> dict[str, Any]:
        """The note's frontmatter fields, in the order they are written."""
        meta: dict[str, Any] = {"type": "proposal"}
        for name in ("id", "platform", "created", "strategy", "why", "config_diff", "set"):
            meta[name] = getattr(self, name)
        meta["tests"] = self.tests or None
        meta["expected"] = self.expected or None
        meta["status"] = self.status
        meta["answered_by"] = self.answered_by or None
        return {k: v for k, v in meta.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the frontmatter plus path and body."""
        return {
            **self.frontmatter(),
            "path": str(self.path) if self.path else None,
            "body": self.body,
        }


def proposals_dir(ws: Workspace) -> Path:
    """ledger/proposals/ of the workspace."""
    return ws.ledger_dir / "proposals"


def canonical_diff(config_diff: Mapping[str, Sequence[Any]]) -> str:
    """The config diff as canonical JSON (sorted keys, no whitespace)."""
    normal = {key: list(value) for key, value in config_diff.items()}
    return json.dumps(normal, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def proposal_id(platform: str, config_diff: Mapping[str, Sequence[Any]], day: dt.date) -> str:
    """The id of a proposal: its day and a hash of its platform and config diff."""
    digest = hashlib.sha256((platform + canonical_diff(config_diff)).encode("utf-8")).hexdigest()
    return f"{day.strftime('%Y%m%d')}-{digest[:8]}"


def _from_note(path: Path) -> Proposal:
    note = read_note(path)
    meta = json_safe(note.metadata)
    if note.problems or meta.get("type") != "proposal":
        raise ProposalError("not a readable proposal note", path)
    try:
        return Proposal(
            id=str(meta["id"]),
            platform=str(meta["platform"]),
            created=str(meta["created"]),
            strategy=str(meta["strategy"]),
            why=str(meta["why"]),
            config_diff=dict(meta["config_diff"]),
            set=dict(meta["set"]),
            tests=list(meta.get("tests") or []),
            expected=dict(meta.get("expected") or {}),
            status=str(meta.get("status") or "open"),
            answered_by=list(meta.get("answered_by") or []),
            body=note.body.lstrip("\n"),
            path=path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProposalError(f"missing or invalid field: {exc}", path) from exc


def read_proposal(ws: Workspace, pid: str) -> Proposal:
    """One proposal by id; NotFoundError when there is none."""
    path = proposals_dir(ws) / f"{pid}.md"
    if "/" in pid or not path.is_file():
        raise NotFoundError(f"no proposal {pid}", proposals_dir(ws))
    return _from_note(path)


def list_proposals(ws: Workspace, status: str | None = None) -> list[Proposal]:
    """Every readable proposal (optionally only `open` or `answered` ones), by id."""
    folder = proposals_dir(ws)
    found = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        try:
            proposal = _from_note(path)
        except ProposalError:
            continue  # a broken note is lint's business; the planner carries on without it
        if status is None or proposal.status == status:
            found.append(proposal)
    return found


def write_proposal(ws: Workspace, proposal: Proposal) -> Path:
    """Write a new proposal note atomically; an existing one with the same id is kept as is."""
    meta = proposal.frontmatter()
    errors = validation_errors(ws.schemas_dir, "proposal", json_safe(meta))
    if errors:
        detail = "; ".join(f"{where}: {message}" for where, message in errors)
        raise ProposalError(f"invalid proposal: {detail}", proposal.id)
    path = proposals_dir(ws) / f"{proposal.id}.md"
    body = proposal.body if proposal.body.endswith("\n") else proposal.body + "\n"
    # The same experiment proposed again today: the first note stands.
    with contextlib.suppress(FileExistsError):
        write_text_atomic(path, render_note(meta, "\n" + body), exclusive=True)
    proposal.path = path
    return path


def mark_answered(ws: Workspace, pid: str, run_ids: Sequence[str]) -> Proposal:
    """Set a proposal `answered` and add the runs that answered it (idempotent)."""
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(ws.cache_dir / LOCK_NAME):
        proposal = read_proposal(ws, pid)
        assert proposal.path is not None  # read_proposal always sets it
        answered = list(dict.fromkeys([*proposal.answered_by, *run_ids]))
        note = read_note(proposal.path)
        note.set_fields({"status": "answered", "answered_by": answered})
        write_note(proposal.path, note)
        proposal.status, proposal.answered_by = "answered", answered
        return proposal
