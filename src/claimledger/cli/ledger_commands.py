"""Ledger commands: `claimledger ledger add-run | import | log | best | branches | adopt | lease |
verify | plot | sync | show | retract | index`.

The library is imported inside each command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from claimledger.cli.app import State
from claimledger.cli.output import (
    echo_json,
    emit,
    print_findings,
    print_heading,
    print_table,
    with_json,
)

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@click.group()
def ledger() -> None:
    """The research ledger: every run of every agent on every branch.

    Records are immutable JSON files under ledger/records/, named by their SHA-256, so
    clones merge with `git pull` and never conflict. Comparisons are within one platform
    (e.g. cuda-H100-300s). Every sub-command takes --json.

    \b
    A session:
      claimledger ledger import results.tsv --branch exp/mar8 --platform cuda-H100-300s
      claimledger ledger best --platform cuda-H100-300s
      claimledger ledger add-run --branch exp/mar8 --commit a1b2c3d \\
          --platform cuda-H100-300s --status keep --val-bpb 0.9712 -m "warmup 5%"
      claimledger ledger sync
    """


def _value(text: str) -> Any:
    """A KEY=VALUE value: JSON when it parses (numbers, true, lists), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: tuple[str, ...], option: str) -> dict[str, Any]:
    pairs = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        pairs[key.strip()] = _value(text.strip())
    return pairs


def _json_file(path: str) -> dict[str, Any]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{path}: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path}: expected a JSON object")
    return data


def _print_runs(found: list[dict[str, Any]], as_json: bool, empty: str) -> None:
    """Runs as JSON, as a table, or a line saying there are none."""
    emit(found, as_json, lambda: print_table(RUN_COLUMNS, [_short(r) for r in found], empty=empty))


def _short(run: dict[str, Any]) -> list[Any]:
    """The table cells of a run."""
    when = run.get("started", "")[:19].replace("T", " ") or f"row {run.get('source_row', '')}"
    bpb = run.get("metrics", {}).get("val_bpb")
    note = run.get("crash_reason") if run["status"] == "crash" else run.get("description", "")
    return [
        when,
        run["branch"],
        run["commit"][:12],
        run["status"],
        f"{bpb:.6f}" if bpb else "-",
        run["platform"],
        (note or "")[:60],
        run["id"][:12],
    ]


RUN_COLUMNS = ("when", "branch", "commit", "status", "val_bpb", "platform", "note", "id")


@ledger.command("add-run")
@click.option("--branch", help="Research branch, e.g. exp/wide-mlp.")
@click.option("--commit", help="Trainer git commit of the run.")
@click.option("--platform", help="Comparable hardware+budget, e.g. cpu-2core-60s.")
@click.option("--status", type=click.Choice(["keep", "discard", "crash"]), help="Outcome.")
@click.option("--val-bpb", type=float, help="Validation bits per byte (lower is better).")
@click.option(
    "--metric",
    "metric_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Another metric, e.g. memory_gb=44.1 (repeatable).",
)
@click.option(
    "--config",
    "config_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="A hyperparameter, e.g. lr=0.04 (repeatable; values parsed as JSON).",
)
@click.option("--parent-commit", help="The commit this run was made from.")
@click.option("--time-budget", type=float, help="Training budget in seconds.")
@click.option("--token-budget", type=int, help="Training budget in tokens.")
@click.option("--crash-reason", help="Why it crashed (required with --status crash).")
@click.option("--agent", help="Who ran it (default: $CLAIMLEDGER_AGENT or user@host).")
@click.option("--started", help="Start time, ISO 8601 (default: now).")
@click.option("--finished", help="End time, ISO 8601.")
@click.option("--proposal", help="The planner proposal this run answers.")
@click.option("--seed", type=int, help="Random seed.")
@click.option("-m", "--description", help="What the run tried, in a line.")
@click.option("--supersedes", help="Id of a run this one corrects.")
@click.option(
    "--from-json",
    "from_json",
    metavar="FILE",
    help="Read fields from a JSON object (- for stdin); options override them.",
)
@with_json
@click.pass_obj
def add_run(
    state: State,
    metric_items: tuple[str, ...],
    config_items: tuple[str, ...],
    val_bpb: float | None,
    from_json: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Record one run; print its id.

    The record's config_diff is computed against the parent commit's run (or the branch's
    best) when a config is given. Recording the same run twice writes nothing new.

    \b
    Examples:
      claimledger ledger add-run --branch exp/wide --commit 7f2a65c --parent-commit bea057b \\
          --platform cuda-H100-300s --status keep --val-bpb 0.981773 \\
          --metric memory_gb=60.2 --config depth=9 -m "depth 9"
      claimledger ledger add-run --branch exp/wide --commit e05a87d --platform cpu-2core-60s \\
          --status crash --crash-reason "OOM at batch 131K"
      claimledger ledger add-run --from-json run.json --json
    """
    from claimledger.ledger import add_run as library_add_run
    from claimledger.ledger import read_record

    fields = _json_file(from_json) if from_json else {}
    fields.update({k: v for k, v in options.items() if v is not None})
    metrics = {**fields.get("metrics", {}), **_pairs(metric_items, "--metric")}
    if val_bpb is not None:
        metrics["val_bpb"] = val_bpb
    fields["metrics"] = metrics
    if config_items:
        fields["config"] = {**fields.get("config", {}), **_pairs(config_items, "--config")}
    missing = [f"--{k}" for k in ("branch", "commit", "platform", "status") if not fields.get(k)]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or give them in --from-json)")
    rid = library_add_run(state.workspace, **fields)
    emit(lambda: read_record(state.workspace, rid), as_json, rid)


@ledger.command("import")
@click.argument("tsv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--branch", required=True, help="The branch the runs belong to.")
@click.option("--platform", required=True, help="Their platform, e.g. cuda-H100-300s.")
@click.option("--agent", default="autoresearch", show_default=True, help="Agent to credit.")
@click.option("--time-budget", type=float, help="Seconds (default: from the platform, -300s).")
@with_json
@click.pass_obj
def import_command(
    state: State,
    tsv: Path,
    branch: str,
    platform: str,
    agent: str,
    time_budget: float | None,
    as_json: bool,
) -> None:
    """Import an autoresearch results.tsv (commit, val_bpb, memory_gb, status, description).

    A crash row's val_bpb of 0 is a crash, never a best. Importing the same file again, or a
    longer version of it, adds only new rows. Exit 1 when some rows could not be imported
    (the others are).

    \b
    Example:
      claimledger ledger import results.tsv --branch autoresearch/mar8 --platform cuda-H100-300s
    """
    from claimledger.ledger import import_tsv

    result = import_tsv(state.workspace, tsv, branch, platform, agent, time_budget)
    emit(result.to_dict(), as_json, lambda: _print_import(result, tsv, branch))
    sys.exit(1 if result.problems else 0)


def _print_import(result: Any, tsv: Path, branch: str) -> None:
    click.echo(
        f"{tsv}: {result.rows} rows, {len(result.added)} added, "
        f"{result.existing} already in the ledger"
    )
    for problem in result.problems:
        click.echo(f"{tsv}:{problem['line']}: {problem['problem']}", err=True)
    if result.best:
        bpb = result.best["metrics"]["val_bpb"]
        click.echo(f"best on {branch}: {bpb:.6f} at {result.best['commit']}")


@ledger.command("log")
@click.option("--platform", help="Only this platform.")
@click.option("--branch", help="Only this branch.")
@click.option("--status", type=click.Choice(["keep", "discard", "crash"]), help="Only this status.")
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="The newest N runs.")
@click.option("--all", "show_all", is_flag=True, help="Every run (no limit).")
@with_json
@click.pass_obj
def log(
    state: State,
    platform: str | None,
    branch: str | None,
    status: str | None,
    limit: int,
    show_all: bool,
    as_json: bool,
) -> None:
    """List runs, oldest first (the newest 20 unless --all or -n).

    \b
    Examples:
      claimledger ledger log --branch exp/wide -n 50
      claimledger ledger log --status crash --all --json
    """
    from claimledger.ledger import runs

    found = runs(state.workspace, platform, branch, status, limit=None if show_all else limit)
    _print_runs(found, as_json, empty="no runs")


@ledger.command("best")
@click.option("--platform", help="One platform: its leaderboard (best run of each branch).")
@click.option("--branch", help="Only this branch.")
@click.option("--top", type=int, default=10, show_default=True, help="Leaderboard length.")
@with_json
@click.pass_obj
def best(state: State, platform: str | None, branch: str | None, top: int, as_json: bool) -> None:
    """The best kept run (lowest val_bpb), per platform; crashes never count.

    Without --platform: the best run on every platform. With --platform: the leaderboard of
    branches on it. With --branch too: that branch's best.

    \b
    Examples:
      claimledger ledger best
      claimledger ledger best --platform cuda-H100-300s --top 5
      claimledger ledger best --platform cpu-2core-60s --branch exp/wide --json
    """
    from claimledger.ledger import best_run, leaderboard, platforms

    ws = state.workspace
    if platform and not branch:
        found = leaderboard(ws, platform, top)
    else:
        found = [
            r for p in ([platform] if platform else platforms(ws)) if (r := best_run(ws, p, branch))
        ]
    _print_runs(found, as_json, empty="no kept runs")


@ledger.command("branches")
@click.option("--platform", help="Count and rank only this platform's runs.")
@with_json
@click.pass_obj
def branches_command(state: State, platform: str | None, as_json: bool) -> None:
    """The forest of branches: who adopted whom, at which commit, and each branch's best.

    \b
    Example:
      claimledger ledger branches --platform cuda-H100-300s
    """
    from claimledger.ledger import branches

    nodes = branches(state.workspace, platform)
    emit(nodes, as_json, lambda: _print_branches(nodes))


def _print_branches(nodes: list[dict[str, Any]]) -> None:
    """The branch forest, one line a branch, adopted branches indented under their parent."""
    if not nodes:
        click.echo("no branches")
    for node in nodes:
        indent = "   " * (node["depth"] - 1) + "└─ " if node["depth"] else ""
        adopted = (
            f" (adopted {node['parent']['from_branch']} at {node['parent']['commit']})"
            if node["parent"]
            else ""
        )
        bests = ", ".join(
            f"{p} {r['metrics']['val_bpb']:.6f} at {r['commit']}" for p, r in node["best"].items()
        )
        click.echo(
            f"{indent}{node['branch']}{adopted}: {node['runs']} runs, {node['kept']} kept, "
            f"{node['crashed']} crashed; best {bests or '-'}"
        )


@ledger.command("adopt")
@click.argument("branch")
@click.option("--from", "from_branch", required=True, help="The branch to build on.")
@click.option("--commit", help="Its commit to build on (default: its best kept run).")
@click.option("--platform", help="Platform of that best run (needed if it ran on several).")
@click.option("--agent", help="Who decides (default: $CLAIMLEDGER_AGENT or user@host).")
@click.option("--reason", help="Why, in a line.")
@with_json
@click.pass_obj
def adopt_command(
    state: State,
    branch: str,
    from_branch: str,
    commit: str | None,
    platform: str | None,
    agent: str | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Record that BRANCH builds on another branch at a commit (no merge).

    \b
    Example:
      claimledger ledger adopt exp/wide-lr --from exp/wide --platform cuda-H100-300s
    """
    from claimledger.ledger import adopt, read_record

    rid = adopt(state.workspace, branch, from_branch, commit, agent, platform, reason)
    emit(lambda: read_record(state.workspace, rid), as_json, rid)


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if match is None:
        raise click.BadParameter(f"{text!r}: use e.g. 90m, 2h, 1d or seconds", param_hint="--for")
    return timedelta(seconds=float(match.group(1)) * DURATION_UNITS[match.group(2) or "s"])


@ledger.command("lease")
@click.argument("proposal", required=False)
@click.option("--agent", help="Who takes it (default: $CLAIMLEDGER_AGENT or user@host).")
@click.option("--for", "duration", default="2h", show_default=True, help="How long: 90m, 2h, 1d.")
@click.option("--until", help="Or an end time, ISO 8601.")
@click.option("--release", is_flag=True, help="Give the proposal back now.")
@click.option("--note", help="A note on the lease.")
@with_json
@click.pass_obj
def lease(
    state: State,
    proposal: str | None,
    agent: str | None,
    duration: str,
    until: str | None,
    release: bool,
    note: str | None,
    as_json: bool,
) -> None:
    """Take a proposal so that no other agent runs it; without PROPOSAL, list active leases.

    Exit 1 (Error: ... leased by ...) when another agent holds it. Taking it again renews.

    \b
    Examples:
      claimledger ledger lease p-0042 --agent alice --for 90m
      claimledger ledger lease p-0042 --agent alice --release
      claimledger ledger lease --json
    """
    from claimledger.ledger import active_leases, lease_holder, release_lease, take_lease

    ws = state.workspace
    if proposal is None:
        held = active_leases(ws)
        rows = [[x["proposal"], x["agent"], x["since"], x["until"]] for x in held]
        columns = ("proposal", "agent", "since", "until")
        emit(held, as_json, lambda: print_table(columns, rows, empty="no active leases"))
        return
    if release:
        rid = release_lease(ws, proposal, agent)
        emit({"released": rid}, as_json, rid or f"{proposal}: not held")
        return
    take_lease(ws, proposal, agent, until or _duration(duration), note)
    holder = lease_holder(ws, proposal)
    emit(
        holder,
        as_json,
        lambda: click.echo(f"{proposal}: leased to {holder['agent']} until {holder['until']}"),
    )


@ledger.command("verify")
@with_json
@click.pass_obj
def verify_command(state: State, as_json: bool) -> None:
    """Check every record: named by its hash, canonical, valid, references resolving.

    Reads every file again; exit 1 when anything is wrong. Queries already ignore what it
    reports (the rest of the ledger is still served).

    \b
    Example:
      claimledger ledger verify || echo "the ledger needs attention"
    """
    from claimledger.ledger import verify

    findings = verify(state.workspace)
    emit(
        {"findings": findings, "count": len(findings)},
        as_json,
        lambda: print_findings([f"{f['path']}: {f['problem']}" for f in findings], "ledger ok"),
    )
    sys.exit(1 if findings else 0)


@ledger.command("plot")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path), default="progress.png")
@click.option("--platform", help="Platform to plot (default: the one with most runs).")
@click.option("--branch", "only", multiple=True, help="Only these branches (repeatable).")
@with_json
@click.pass_obj
def plot(
    state: State, out: Path, platform: str | None, only: tuple[str, ...], as_json: bool
) -> None:
    """Draw OUT (default progress.png): every run per branch, kept runs, the running best
    frontier, crashes marked.

    \b
    Example:
      claimledger ledger plot progress.png --platform cuda-H100-300s
    """
    from claimledger.ledger import plot_progress

    info = plot_progress(state.workspace, out, platform, list(only) or None)
    emit(info, as_json, f"{info['path']}: {info['runs']} runs on {info['platform']}")


@ledger.command("sync")
@click.option("--remote", default="origin", show_default=True, help="Git remote to share with.")
@click.option("--branch", help="Remote branch (default: the current git branch).")
@with_json
@click.pass_obj
def sync_command(state: State, remote: str, branch: str | None, as_json: bool) -> None:
    """Commit new records, pull (merge) the remote's, push; retry if someone pushed first.

    Only sound, new record files are committed. Records never conflict: any number of
    agents can sync in any order and all end with the same records.

    \b
    Example:
      claimledger ledger sync --remote origin
    """
    from claimledger.ledger import sync

    result = sync(state.workspace, remote, branch)
    emit(result.to_dict(), as_json, lambda: _print_sync(result, remote))


def _print_sync(result: Any, remote: str) -> None:
    click.echo(
        f"{remote}/{result.branch}: committed {result.committed}, received "
        f"{result.received} records ({result.attempts} attempt(s))"
    )
    for skipped in result.skipped:
        click.echo(f"not committed: {skipped['path']}: {skipped['problem']}", err=True)


@ledger.command("show")
@click.argument("record_id")
@with_json
@click.pass_obj
def show(state: State, record_id: str, as_json: bool) -> None:
    """Print one record as JSON (with or without --json), by id or unique id prefix.

    \b
    Example:
      claimledger ledger show 3b00493753
    """
    from claimledger.ledger import read_record

    echo_json(read_record(state.workspace, record_id))


@ledger.command("retract")
@click.argument("record_id")
@click.option("--reason", required=True, help="Why, in a line.")
@click.option("--agent", help="Who retracts (default: $CLAIMLEDGER_AGENT or user@host).")
@with_json
@click.pass_obj
def retract_command(
    state: State, record_id: str, reason: str, agent: str | None, as_json: bool
) -> None:
    """Withdraw a record: queries ignore it from now on (the file stays, as all records do).

    \b
    Example:
      claimledger ledger retract 3b00493753 --reason "ran with the wrong dataset"
    """
    from claimledger.ledger import retract

    rid = retract(state.workspace, record_id, reason, agent)
    emit({"id": rid, "retracted": record_id}, as_json, rid)


@ledger.command("index")
@click.option("--rebuild", is_flag=True, help="Forget the index and read every record again.")
@with_json
@click.pass_obj
def index_command(state: State, rebuild: bool, as_json: bool) -> None:
    """Bring the ledger index (.claimledger/ledger.sqlite) up to date and report.

    Every other command does this on its own; deleting the index loses nothing. This one
    also checks every page of the index, and rebuilds a damaged one.

    \b
    Example:
      claimledger ledger index --rebuild --json
    """
    import time

    from claimledger.ledger import refresh_index

    started = time.perf_counter()
    result = refresh_index(state.workspace, rebuild=rebuild, check=True)
    info = {**result.__dict__, "seconds": round(time.perf_counter() - started, 3)}
    heading = (
        f"{result.indexed} files indexed, {result.removed} removed, "
        f"{len(result.problems)} problems ({info['seconds']} s)"
    )
    emit(info, as_json, lambda: print_heading(heading))


COMMANDS = [ledger]
