"""Leases: an agent takes a proposal until a time, so that two agents do not run it twice.

An agent's latest lease record on a proposal (by `created`, ties by id) is its current one;
renewing keeps the original `since`, releasing writes a lease that ends when it is made.
On one machine a file lock makes taking a lease atomic. Across machines two agents may both
take one before they sync; once the records meet, the holder is decided the same way
everywhere: among current leases that cover the moment, the earliest `since`, ties by id.

A lease holds an experiment, not only an id: a proposal id is `<day>-<hash of platform and
config change>` (planner.proposals), so the same experiment proposed on another day, or on
another machine whose planner has not seen the first proposal note, is held by the same
lease (`experiment_key`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from filelock import FileLock

from claimledger.errors import LeaseHeldError, RecordError
from claimledger.ledger.index import open_index
from claimledger.ledger.queries import LIVE
from claimledger.ledger.records import SCHEMA_VERSION, drop_none, parse_time, to_utc_iso, utc_now
from claimledger.ledger.runs import default_agent
from claimledger.ledger.store import append_record
from claimledger.sqlite_cache import retrying
from claimledger.workspace import Workspace

LOCK_NAME = "ledger-leases.lock"
DATED_ID = re.compile(r"[0-9]{8}-([0-9a-f]{8})")  # planner.proposals.proposal_id


def experiment_key(proposal: str) -> str:
    """What a lease on `proposal` holds: the hash part of a planner id (any day), else the id."""
    match = DATED_ID.fullmatch(proposal)
    return match.group(1) if match else proposal


@retrying
def _current_leases(ws: Workspace, proposal: str | None = None) -> list[dict[str, Any]]:
    """Each agent's latest lease on each proposal."""
    where = f"WHERE {LIVE}" + (" AND r.proposal = ?" if proposal else "")
    with open_index(ws) as conn:
        rows = conn.execute(
            f"SELECT r.id, r.proposal, r.agent, r.since, r.until, r.created FROM leases r "
            f"{where} ORDER BY r.created, r.id",
            [proposal] if proposal else [],
        ).fetchall()
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    keys = ("id", "proposal", "agent", "since", "until", "created")
    for row in rows:
        lease = dict(zip(keys, row, strict=True))
        latest[(lease["proposal"], lease["agent"])] = lease
    return list(latest.values())


def _live(ws: Workspace, now: datetime | str | None) -> list[dict[str, Any]]:
    """Each agent's current lease on each proposal, if it covers `now` (default: now)."""
    moment = to_utc_iso(now) if now is not None else utc_now()
    return [lease for lease in _current_leases(ws) if lease["since"] <= moment < lease["until"]]


def _first(leases: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The holder among overlapping leases: the earliest `since`, ties by id."""
    return min(leases, key=lambda lease: (lease["since"], lease["id"]), default=None)


def active_leases(ws: Workspace, now: datetime | str | None = None) -> list[dict[str, Any]]:
    """The holder of every leased proposal at `now` (default: now), by proposal."""
    by_proposal: dict[str, list[dict[str, Any]]] = {}
    for lease in _live(ws, now):
        by_proposal.setdefault(lease["proposal"], []).append(lease)
    return [holder for p in sorted(by_proposal) if (holder := _first(by_proposal[p]))]


def experiment_leases(
    ws: Workspace, proposal: str, now: datetime | str | None = None
) -> list[dict[str, Any]]:
    """Every agent's live lease on the experiment of `proposal` (under any of its ids)."""
    key = experiment_key(proposal)
    return [lease for lease in _live(ws, now) if experiment_key(lease["proposal"]) == key]


def lease_holder(
    ws: Workspace, proposal: str, now: datetime | str | None = None
) -> dict[str, Any] | None:
    """The lease that holds a proposal's experiment at `now`, or None when it is free."""
    return _first(experiment_leases(ws, proposal, now))


def take_lease(
    ws: Workspace,
    proposal: str,
    agent: str | None,
    until: datetime | timedelta | str,
    note: str | None = None,
) -> str:
    """Lease a proposal to an agent until a time (or for a duration); return the record id.

    Raises LeaseHeldError when another agent holds it. Taking a lease one already holds
    renews it.
    """
    agent = agent or default_agent()
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(ws.cache_dir / LOCK_NAME):
        # The moment is taken inside the lock: a lease written while we waited must count.
        created = utc_now()
        end = to_utc_iso(parse_time(created) + until if isinstance(until, timedelta) else until)
        if end <= created:
            raise RecordError(f"a lease must end in the future, not at {end}")
        holder = lease_holder(ws, proposal, created)
        if holder is not None and holder["agent"] != agent:
            raise LeaseHeldError(
                f"proposal {proposal} is leased by {holder['agent']} until {holder['until']}"
            )
        since = holder["since"] if holder is not None else created
        return _write_lease(ws, proposal, agent, since, end, created, note)


def release_lease(ws: Workspace, proposal: str, agent: str | None = None) -> str | None:
    """End an agent's lease on a proposal now; return the record id, or None if not held."""
    agent = agent or default_agent()
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(ws.cache_dir / LOCK_NAME):
        created = utc_now()
        own = [
            lease
            for lease in _current_leases(ws, proposal)
            if lease["agent"] == agent and lease["until"] > created
        ]
        if not own:
            return None
        return _write_lease(ws, proposal, agent, own[0]["since"], created, created, None)


def _write_lease(
    ws: Workspace, proposal: str, agent: str, since: str, until: str, created: str, note: str | None
) -> str:
    record = {
        "kind": "lease",
        "schema_version": SCHEMA_VERSION,
        "proposal": proposal,
        "agent": agent,
        "since": since,
        "until": until,
        "created": created,
        "note": note or None,
    }
    return append_record(ws, drop_none(record))
