"""Run records: building them from fields, the config diff from the parent, adding them.

A run names its agent and its start time (to the microsecond), so two agents recording
genuinely different runs never produce the same record, while recording the very same run
twice (a retry after a crash) writes nothing new.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from typing import Any

from claimledger.errors import RecordError
from claimledger.ledger.platforms import check_platform
from claimledger.ledger.queries import best_run, read_record, runs_at_commit
from claimledger.ledger.records import SCHEMA_VERSION, drop_none, to_utc_iso, utc_now
from claimledger.ledger.store import append_record
from claimledger.workspace import Workspace

ENV_AGENT = "CLAIMLEDGER_AGENT"
TIME_FIELDS = ("started", "finished")
FIXED_FIELDS = ("id", "kind", "schema_version", "supersedes")
STATUSES = ("keep", "discard", "crash")


def default_agent() -> str:
    """The agent name: $CLAIMLEDGER_AGENT, else user@host."""
    agent = os.environ.get(ENV_AGENT, "").strip()
    if agent:
        return agent
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "agent"
    return f"{user}@{socket.gethostname()}"


def build_run(**fields: Any) -> dict[str, Any]:
    """A run record from its fields (see schemas/run.schema.json), normalised.

    Times become UTC timestamps, None values and None metrics are left out, and a crash
    with no reason gets none invented: the schema then rejects it.
    """
    if "platform" in fields and isinstance(fields["platform"], str):
        check_platform(fields["platform"])
    for name in TIME_FIELDS:
        if fields.get(name) is not None:
            fields[name] = to_utc_iso(fields[name])
    if isinstance(fields.get("metrics"), dict):
        fields["metrics"] = drop_none(fields["metrics"])
    return drop_none({**fields, "kind": "run", "schema_version": SCHEMA_VERSION})


def add_run(ws: Workspace, **fields: Any) -> str:
    """Record a run; return its id.

    Required: branch, commit, platform, status (keep | discard | crash) and metrics (with
    val_bpb unless it crashed; a crash needs crash_reason). Defaults: agent from
    default_agent(), started now, and config_diff computed against the parent commit's
    run (or the branch's best run on the platform) when a config is given.
    """
    fields["agent"] = fields.get("agent") or default_agent()
    fields["started"] = fields.get("started") or utc_now()
    if fields.get("status") not in STATUSES:
        raise RecordError(
            f"status must be one of {', '.join(STATUSES)}, not {fields.get('status')!r}"
        )
    if isinstance(fields.get("config"), dict) and fields.get("config_diff") is None:
        base = base_config(
            ws, fields.get("branch"), fields.get("platform"), fields.get("parent_commit")
        )
        if base is not None:
            fields["config_diff"] = diff_configs(base, fields["config"])
    return append_record(ws, build_run(**fields))


def base_config(
    ws: Workspace, branch: str | None, platform: str | None, parent_commit: str | None
) -> dict[str, Any] | None:
    """The config a new run is compared with: its parent commit's, else its branch's best."""
    candidates: list[dict[str, Any]] = []
    if parent_commit:
        # The parent may be on another branch, when this branch adopted that one.
        candidates = runs_at_commit(ws, parent_commit, branch) or runs_at_commit(ws, parent_commit)
    elif branch and platform:
        best = best_run(ws, platform, branch)
        candidates = [best] if best else []
    configs = [run["config"] for run in candidates if isinstance(run.get("config"), dict)]
    return configs[-1] if configs else None


def diff_configs(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """What changed between two configs: dotted key -> [old, new], None where absent."""
    before, after = _flatten(old), _flatten(new)
    diff = {}
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        # Compare as JSON so that 1, 1.0 and true count as different values.
        if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
            diff[key] = [a, b]
    return diff


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def correct_run(ws: Workspace, rid: str, **changes: Any) -> str:
    """Record a corrected copy of a run (fields changed as given) that supersedes it."""
    old = read_record(ws, rid)
    if old["kind"] != "run":
        raise RecordError(f"{old['id']} is a {old['kind']} record, not a run")
    fields = {k: v for k, v in old.items() if k not in FIXED_FIELDS}
    fields.update(changes)
    return append_record(ws, build_run(**fields, supersedes=old["id"]))


def retract(ws: Workspace, rid: str, reason: str, agent: str | None = None) -> str:
    """Withdraw a record (any kind): queries ignore it from now on; return the retraction id."""
    target = read_record(ws, rid)
    record = {
        "kind": "retract",
        "schema_version": SCHEMA_VERSION,
        "supersedes": target["id"],
        "agent": agent or default_agent(),
        "created": utc_now(),
        "reason": reason,
    }
    return append_record(ws, record)
