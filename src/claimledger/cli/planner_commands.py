"""Planner commands: `claimledger brief | evidence | plan | loop`.

The library is imported inside each command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click

from claimledger.cli.app import State
from claimledger.cli.output import emit, print_heading, print_table, with_json


def executor_options(command: Any) -> Any:
    """--executor, --address and --parallel: where and how many trainings run at once."""
    command = click.option(
        "--parallel",
        type=click.IntRange(min=1),
        help="Trainings at once (local default 1; ray default: one per GPU, else per CPU).",
    )(command)
    command = click.option(
        "--address",
        help="Ray cluster to join: auto, ray://host:10001 (default: a private local Ray).",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="Where trainings run: subprocesses here, or Ray tasks (needs claimledger[ray]).",
    )(command)


platform_option = click.option(
    "--platform",
    help="Platform to plan for (default: [planner] platform, else this CPU at 200K tokens).",
)


@click.command()
@platform_option
@click.option("--topic", help="Rank claims that mention this word higher, e.g. warmup.")
@click.option("--max-tokens", type=click.IntRange(min=50), default=1500, show_default=True)
@with_json
@click.pass_obj
def brief(
    state: State, platform: str | None, topic: str | None, max_tokens: int, as_json: bool
) -> None:
    """What an agent should read before its next run, within a token budget.

    The best run and config on the platform with its noise floor, the most relevant active
    claims (graph centrality x relevance x confidence), open challenges, claims under review,
    and proposals leased or open. When the budget is short the least useful items go first.

    \b
    Examples:
      claimledger brief --max-tokens 800
      claimledger brief --platform cpu-2core-tok200K --topic warmdown --json
    """
    from claimledger.planner import build_brief, render_brief

    result = build_brief(state.workspace, platform, topic, max_tokens)
    emit(result, as_json, lambda: click.echo(render_brief(result), nl=False))


@click.command()
@click.option("--platform", help="Judge every claim on this platform (default: each its own).")
@click.option("--apply", "apply_", is_flag=True, help="Write the changes into the claim notes.")
@click.option("--all", "show_all", is_flag=True, help="List every claim, not only changes.")
@with_json
@click.pass_obj
def evidence(
    state: State, platform: str | None, apply_: bool, show_all: bool, as_json: bool
) -> None:
    """Check claims' effects against the ledger; propose (or --apply) confidence changes.

    Runs on the platform are compared in pairs (same seed, same config but the one knob); the
    platform's noise floor is the seed spread of repeated runs; the estimate gets a Student-t
    95% interval and a paired t-test (alpha spent over looks, Benjamini-Hochberg across
    claims). A difference is a finding only beyond the noise floor with a passing test.
    Supported claims earn confidence (likely: the whole interval beyond the floor); runs
    against a claim weaken it; contradicted ones go under_review with a review flag, and the
    claims that depend on them are flagged.

    \b
    Examples:
      claimledger evidence                 # what would change, and why
      claimledger evidence --apply         # write it into the notes
      claimledger evidence --all --json
    """
    from claimledger.planner import apply_changes, assess, plan_changes

    ws = state.workspace
    results = assess(ws, platform)
    changes = plan_changes(results)
    if apply_:
        apply_changes(ws, changes, results)
    emit(
        {
            "applied": apply_,
            "changes": [c.to_dict() for c in changes],
            "evidence": [r.to_dict() for r in results],
        },
        as_json,
        lambda: _print_evidence(results, changes, apply_, show_all),
    )


def _print_evidence(results: list[Any], changes: list[Any], apply_: bool, show_all: bool) -> None:
    if show_all:
        rows = [
            (r.claim.title[:70], r.platform, r.verdict, r.n, r.delta, r.noise_floor)
            for r in results
        ]
        print_table(("claim", "platform", "verdict", "n", "delta", "noise floor"), rows)
    verb = "applied" if apply_ else "proposed (use --apply to write them)"
    print_heading(f"{len(changes)} confidence changes {verb}" if changes else "no changes")
    for change in changes:
        click.echo(
            f"- {change.title}: {change.old_confidence} -> {change.new_confidence}"
            + (f", {change.new_status}" if change.new_status != change.old_status else "")
        )
        click.echo(f"  {change.reason}")
        for title in change.flagged:
            click.echo(f"  flagged dependent: {title}")


@click.command("plan")
@platform_option
@click.option("--n", "count", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--strategy", type=click.Choice(["claims", "tpe", "random"]), default="claims")
@click.option("--seed", type=int, default=0, help="Seed of the strategy's random choices.")
@with_json
@click.pass_obj
def plan_command(
    state: State, platform: str | None, count: int, strategy: str, seed: int, as_json: bool
) -> None:
    """Write the next K experiment proposals to ledger/proposals/.

    Each proposal is one config change for the bundled trainer on the platform, the claims it
    tests as [[links]], the expected effect and why now (value-of-information, replication,
    exploitation, exploration). Never what the ledger already answered (a config run with two
    seeds, or an answered proposal) nor what another agent holds a lease on.

    \b
    Examples:
      claimledger plan --n 3
      claimledger plan --strategy tpe --platform cpu-2core-tok200K --json
      claimledger run --proposal <id> --token-budget 200000 --seeds 2
    """
    from claimledger.planner import plan

    proposals = plan(state.workspace, platform, count, strategy, seed=seed)
    emit([p.to_dict() for p in proposals], as_json, lambda: _print_proposals(proposals))


def _print_proposals(proposals: list[Any]) -> None:
    if not proposals:
        click.echo("nothing to propose: every candidate is answered or leased")
        return
    rows = []
    for p in proposals:
        change = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in p.config_diff.items())
        rows.append((p.id, change, p.why, p.expected.get("delta"), len(p.tests)))
    print_table(
        ("proposal", "change", "why", "expected", "tests"), rows, title=proposals[0].platform
    )


@click.command()
@click.option("--iterations", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--seeds", type=click.IntRange(min=1), default=2, show_default=True)
@platform_option
@click.option("--strategy", type=click.Choice(["claims", "tpe", "random"]), default="claims")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder of text files inside the workspace (default: the bundled corpus).",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="cpu")
@click.option("--threads", type=int, help="CPU threads for the trainer.")
@click.option("--agent", help="Who runs it (default: $CLAIMLEDGER_AGENT or user@host).")
@executor_options
@with_json
@click.pass_obj
def loop(
    state: State,
    iterations: int,
    seeds: int,
    platform: str | None,
    strategy: str,
    data: Path | None,
    device: str,
    threads: int | None,
    agent: str | None,
    executor: str,
    address: str | None,
    parallel: int | None,
    as_json: bool,
) -> None:
    """Run the research loop unattended: plan, lease, run, record, report, extract, evidence.

    Each iteration plans one proposal, leases it, runs it with --seeds seeds on the platform's
    budget, records the runs and the run report, lets the inbox worker extract claims, then
    applies the ledger's evidence to the claims. Prints what changed and why. With --parallel
    N (or on Ray) N trainings run at once, each new proposal planned knowing the ones in
    flight; this process alone writes the ledger. A loop that was killed resumes its leased
    proposals when started again.

    \b
    Examples:
      claimledger loop --iterations 3 --seeds 2
      claimledger loop --iterations 10 --platform cpu-2core-tok200K --json
      claimledger loop --iterations 40 --parallel 8 --device cuda       # one box, 8 GPUs
      claimledger loop --iterations 200 --executor ray --address auto   # a Ray cluster
    """
    from claimledger.research import make_executor, run_loop
    from claimledger.trainer import TrainerOptions

    options = TrainerOptions(data=data, device=device, threads=threads)
    # Progress goes to stderr with --json, so stdout stays one JSON document.
    say = functools.partial(click.echo, err=as_json)
    runner = make_executor(executor, state.workspace.cache_dir, parallel, address)
    try:
        result = run_loop(
            state.workspace,
            iterations,
            seeds,
            options=options,
            platform=platform,
            strategy=strategy,
            agent=agent,
            on_event=say,
            executor=runner,
        )
    finally:
        runner.close()
    emit(result.to_dict(), as_json, lambda: _print_loop(result))


def _print_loop(result: Any) -> None:
    click.echo(f"{len(result.iterations)} iterations on {result.platform} ({result.stopped})")
    print_learned(result)


def print_learned(result: Any) -> None:
    """What a loop learned: the claims whose confidence changed, and why."""
    changes = result.changes
    if not changes:
        click.echo("no claim changed confidence yet: the effects measured are within noise")
        return
    print_heading("What the loop learned")
    for change in changes:
        status = f", {change.new_status}" if change.new_status != change.old_status else ""
        click.echo(f"- {change.title}: {change.old_confidence} -> {change.new_confidence}{status}")
        click.echo(f"  because {change.reason}")


COMMANDS = [brief, evidence, plan_command, loop]
