"""Leases: one holder per proposal, renewals, releases, and the same answer on every clone."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from claimledger.errors import LeaseHeldError
from claimledger.ledger import (
    active_leases,
    append_record,
    experiment_key,
    experiment_leases,
    lease_holder,
    release_lease,
    take_lease,
)
from claimledger.workspace import Workspace

FAR = "2099-01-01T00:00:00Z"


def test_a_second_agent_cannot_take_a_held_lease(ws: Workspace) -> None:
    take_lease(ws, "p-1", "alice", FAR)
    with pytest.raises(LeaseHeldError, match="leased by alice"):
        take_lease(ws, "p-1", "bob", FAR)
    take_lease(ws, "p-2", "bob", timedelta(hours=1))
    assert [(x["proposal"], x["agent"]) for x in active_leases(ws)] == [
        ("p-1", "alice"),
        ("p-2", "bob"),
    ]


def test_renewing_keeps_the_start_and_release_frees_the_proposal(ws: Workspace) -> None:
    take_lease(ws, "p-1", "alice", timedelta(minutes=5))
    since = lease_holder(ws, "p-1")["since"]
    take_lease(ws, "p-1", "alice", FAR)
    assert lease_holder(ws, "p-1")["since"] == since
    assert lease_holder(ws, "p-1")["until"].startswith("2099")
    assert release_lease(ws, "p-1", "alice")
    assert lease_holder(ws, "p-1") is None
    assert release_lease(ws, "p-1", "alice") is None
    take_lease(ws, "p-1", "bob", FAR)


def test_an_expired_lease_frees_the_proposal(ws: Workspace) -> None:
    take_lease(ws, "p-1", "alice", timedelta(minutes=5))
    later = lease_holder(ws, "p-1")["until"]
    assert lease_holder(ws, "p-1", now=later) is None


def test_overlapping_leases_from_two_machines_resolve_the_same_way(ws: Workspace) -> None:
    # Both took p-1 before syncing; once merged the earliest `since` holds it, everywhere.
    for agent, at in (("bob", "10:00:02"), ("alice", "10:00:01")):
        t = f"2026-01-01T{at}.000000Z"
        append_record(ws, {
            "kind": "lease", "schema_version": 1, "proposal": "p-1", "agent": agent,
            "since": t, "until": "2099-01-01T00:00:00.000000Z", "created": t,
        })  # fmt: skip
    assert lease_holder(ws, "p-1")["agent"] == "alice"
    assert lease_holder(ws, "p-1", now="2026-01-01T10:00:01.5Z")["agent"] == "alice"
    with pytest.raises(LeaseHeldError, match="alice"):
        take_lease(ws, "p-1", "bob", FAR)  # bob's own lease lost the tie-break


CONTENDER = """
import sys
from claimledger.errors import LeaseHeldError
from claimledger.ledger import take_lease
from claimledger.workspace import Workspace
try:
    take_lease(Workspace.open(sys.argv[1]), "p-race", sys.argv[2], "2099-01-01T00:00:00Z")
    print("won")
except LeaseHeldError:
    print("lost")
"""


def test_of_agents_racing_on_one_machine_exactly_one_gets_the_lease(ws: Workspace) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(ws.root), f"agent-{i}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outcomes = sorted(p.communicate(timeout=120)[0].strip() for p in racers)
    assert outcomes == ["lost", "lost", "lost", "won"]
    assert len(active_leases(ws)) == 1


def test_a_lease_holds_the_experiment_under_any_day_of_its_id(ws: Workspace) -> None:
    # A planner id is <day>-<hash of platform and change>: the same experiment planned on
    # another day (or on a machine that never saw the first note) is held by the same lease.
    take_lease(ws, "20260101-0123abcd", "alice", FAR)
    with pytest.raises(LeaseHeldError, match="leased by alice"):
        take_lease(ws, "20260102-0123abcd", "bob", FAR)
    assert lease_holder(ws, "20260102-0123abcd")["proposal"] == "20260101-0123abcd"
    assert experiment_key("20260102-0123abcd") == "0123abcd"
    assert experiment_key("p-1") == "p-1"  # ids of other shapes are their own experiment
    take_lease(ws, "20260101-ffff0000", "bob", FAR)  # another experiment is free
    assert [x["agent"] for x in experiment_leases(ws, "20270101-0123abcd")] == ["alice"]
