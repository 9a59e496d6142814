"""Trainer commands: `claimledger run`, the bundled trainer with every run recorded.

The library is imported inside the command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from claimledger.cli.app import State
from claimledger.cli.output import emit, is_terminal, print_table, with_json
from claimledger.cli.planner_commands import executor_options


def _overrides(items: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        overrides[key.strip()] = value.strip()
    return overrides


@contextlib.contextmanager
def _progress_line(total: int, enabled: bool) -> Iterator[Any]:
    """A rich status line showing the trainer's latest output line for the current seed."""
    if not enabled:
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    seen: list[int] = []
    with console.status("starting the trainer") as status:

        def update(seed: int, line: str) -> None:
            if seed not in seen:
                seen.append(seed)
            if line.startswith("step "):
                status.update(f"seed {seed} ({len(seen)}/{total}) | {line}")

        yield update


def _print_result(result: Any) -> None:
    rows = []
    for run in result.runs:
        bpb = f"{run.val_bpb:.6f}" if run.val_bpb is not None else "-"
        rows.append([run.seed, bpb, run.status, run.crash_reason or "", run.record_id[:12]])
    print_table(("seed", "val_bpb", "status", "crash", "run"), rows, title=result.platform)
    mean = result.mean_val_bpb
    base = result.baseline
    click.echo(
        f"mean val_bpb {mean:.6f}" if mean is not None else "every seed crashed",
        nl=False,
    )
    if base and mean is not None:
        click.echo(f" vs baseline {base['val_bpb']:.6f} ({mean - base['val_bpb']:+.6f})", nl=False)
    click.echo(f": {result.status}")
    click.echo(f"run report: {result.report}")


@click.command("run")
@click.option("--time-budget", type=float, metavar="S", help="Seconds of training per seed.")
@click.option("--token-budget", type=int, metavar="N", help="Training tokens per seed (exact).")
@click.option("--seed", type=int, default=0, show_default=True, help="The first seed.")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, help="Seeds.")
@click.option(
    "--set",
    "set_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a hyperparameter of train.py (repeatable).",
)
@click.option("--proposal", help="The planner proposal these runs answer (its settings apply).")
@click.option("--branch", help="Research branch (default: the workspace's git branch, or main).")
@click.option("--agent", help="Who runs it (default: $CLAIMLEDGER_AGENT or user@host).")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder of text files inside the workspace (default: the bundled corpus).",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto")
@click.option("--threads", type=int, help="CPU threads (default: one per core).")
@executor_options
@with_json
@click.pass_obj
def run(
    state: State,
    time_budget: float | None,
    token_budget: int | None,
    seed: int,
    seeds: int,
    set_items: tuple[str, ...],
    proposal: str | None,
    branch: str | None,
    agent: str | None,
    data: Path | None,
    device: str,
    threads: int | None,
    executor: str,
    address: str | None,
    parallel: int | None,
    as_json: bool,
) -> None:
    """Train the bundled GPT once per seed and record every run in the ledger.

    Each seed runs in its own subprocess (a crash never takes this command down) and becomes
    one ledger run record: platform (device + budget), git commit, full config and its diff
    from the branch's best run, metrics, status (keep when the mean beats that best, discard,
    or crash with its reason). A run report goes into inbox/ for the extraction worker.
    Without a budget, the one the proposal's platform names, else the default platform's
    (200K tokens). With --proposal, its settings apply over --set, this agent leases it while
    the runs last (refused when another agent holds it) and the runs mark it answered.
    Exit code 1 when every seed crashed.

    \b
    Examples:
      claimledger run --token-budget 200000 --seeds 3 --set muon_lr=0.06
      claimledger run --time-budget 60 --set depth=3 --branch research/deeper
      claimledger run --token-budget 200000 --proposal 20261123-1a2b3c4d --json
      claimledger run --seeds 4 --parallel 2 --threads 1          # 2 seeds at a time
      claimledger run --seeds 8 --executor ray --address auto     # the seeds on a Ray cluster
    """
    from claimledger.research import make_executor
    from claimledger.research import run as run_research
    from claimledger.trainer import TrainerOptions

    options = TrainerOptions(
        time_budget=time_budget,
        token_budget=token_budget,
        seed=seed,
        overrides=_overrides(set_items),
        data=data,
        device=device,
        threads=threads,
    )
    with _progress_line(seeds, is_terminal() and not as_json) as progress:
        runner = None
        if executor != "local" or (parallel or 1) > 1 or address:
            runner = make_executor(executor, state.workspace.cache_dir, parallel, address, progress)
        try:
            result = run_research(
                state.workspace,
                options,
                seeds,
                proposal=proposal,
                branch=branch,
                agent=agent,
                progress=progress,
                executor=runner,
            )
        finally:
            if runner is not None:
                runner.close()
    emit(result.to_dict(), as_json, lambda: _print_result(result))
    if result.all_crashed:
        click.get_current_context().exit(1)


COMMANDS = [run]
