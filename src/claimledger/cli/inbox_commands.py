"""Inbox commands: `inbox add`, `inbox list` and the extraction `worker`.

The library is imported inside each command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import click

from claimledger.cli.app import State
from claimledger.cli.output import emit, is_terminal, print_table, with_json

EXTRACTORS = ("offline", "run-report", "llm")
STATUSES = ("unprocessed", "processing", "processed", "null-result")


@click.group()
def inbox() -> None:
    """Sources waiting for extraction: add them, list them.

    \b
    Examples:
      claimledger inbox add paper-notes.md --author "Keller Jordan" --domain optimizer
      pbpaste | claimledger inbox add - --title "Muon thread" --format thread
      claimledger inbox list --status unprocessed
    """


@inbox.command("add")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--title", help="Source title (default: the text's first # heading, else FILE).")
@click.option("--author", help="Who wrote it.")
@click.option("--url", help="Where the original is.")
@click.option("--domain", help="Primary domain, e.g. optimizer.")
@click.option("--format", "fmt", help="paper, thread, report, note, run-report ...")
@click.option("--date", "date", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
@with_json
@click.pass_obj
def add(
    state: State,
    file: Any,
    title: str | None,
    author: str | None,
    url: str | None,
    domain: str | None,
    fmt: str | None,
    date: dt.datetime | None,
    as_json: bool,
) -> None:
    """Wrap FILE (or - for stdin) as a source note in the inbox.

    Frontmatter already in the text is kept as fields. Adding the same title and text again
    changes nothing and prints the existing path.
    """
    from claimledger.inbox.sources import add_source, wrap_text

    name = None if file.name == "<stdin>" else file.name
    options = {"author": author, "url": url, "domain": domain, "format": fmt}
    source_title, body, fields = wrap_text(file.read(), title, name, options)
    day = date.date() if date else None
    path = add_source(state.workspace, title=source_title, body=body, fields=fields, date=day)
    relative = state.workspace.relative(path)
    emit({"path": relative, "title": source_title}, as_json, relative)


@inbox.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only sources in this state.")
@with_json
@click.pass_obj
def list_command(state: State, status: str | None, as_json: bool) -> None:
    """Sources with their lifecycle state, oldest first.

    \b
    Example:
      claimledger inbox list --status null-result --json
    """
    from claimledger.inbox import list_sources

    infos = list_sources(state.workspace, status=status)
    rows = [
        (i.status, i.date or "", i.attempts, len(i.claims_extracted), len(i.enrichments), i.path)
        for i in infos
    ]
    emit(
        {"sources": [i.to_dict() for i in infos], "count": len(infos)},
        as_json,
        lambda: print_table(["status", "date", "attempts", "claims", "enriched", "path"], rows),
    )


@click.command()
@click.option("--once", "mode", flag_value="once", default=True, help="One pass, then exit.")
@click.option("--loop", "mode", flag_value="loop", help="Pass again every --interval seconds.")
@click.option("--interval", type=float, default=300.0, show_default=True, help="Loop pause.")
@click.option("--max-sources", type=click.IntRange(min=1), help="Stop after N sources a pass.")
@click.option("--extractor", type=click.Choice(EXTRACTORS), help="Override [inbox] extractor.")
@with_json
@click.pass_obj
def worker(
    state: State,
    mode: str,
    interval: float,
    max_sources: int | None,
    extractor: str | None,
    as_json: bool,
) -> None:
    """Turn waiting inbox sources into claims (exit 1 if a source failed).

    Each source is leased, extracted, written (new claims, evidence for existing ones,
    possible duplicates flagged for review) and marked processed or null-result. Safe to run
    from cron and in parallel: two workers never take the same source; a killed worker's
    sources are taken again when their lease expires.

    \b
    Examples:
      claimledger worker --once --max-sources 20
      claimledger worker --loop --interval 600 --extractor llm
      */10 * * * * cd /path/to/workspace && claimledger worker --once --json >> worker.log
    """
    from claimledger.inbox.worker import run_loop, run_once

    _show_progress_logs(as_json)
    options: dict[str, Any] = {"max_sources": max_sources, "extractor": extractor}
    if mode == "loop":
        run_loop(state.workspace, interval, on_summary=lambda s: _report(s, as_json), **options)
        return
    progress = _progress() if is_terminal() and not as_json else None
    summary = run_once(state.workspace, on_result=progress, **options)
    if progress:
        progress(None, 0)
    _report(summary, as_json)
    sys.exit(1 if summary.counts()["failed"] else 0)


def _show_progress_logs(as_json: bool) -> None:
    """One log line per source on stderr when not on a terminal (cron logs)."""
    logger = logging.getLogger("claimledger.inbox")
    if (not is_terminal() or as_json) and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _progress() -> Any:
    """A rich progress bar fed one result at a time; call with None to stop it."""
    from rich.progress import Progress

    progress = Progress(transient=True)
    task = progress.add_task("extracting", total=None)
    progress.start()

    def update(result: Any, total: int) -> None:
        if result is None:
            progress.stop()
            return
        progress.update(task, advance=1, total=total, description=result.path[-50:])

    return update


def _report(summary: Any, as_json: bool) -> None:
    emit(summary.to_dict(), as_json, lambda: _print_summary(summary))


def _print_summary(summary: Any) -> None:
    counts = summary.counts()
    click.echo(
        f"{counts['sources']} sources: {counts['processed']} processed, "
        f"{counts['null_result']} null-result, {counts['failed']} failed; "
        f"{counts['claims']} claims, {counts['enrichments']} enrichments, "
        f"{counts['flagged']} flagged ({summary.seconds:.2f} s)"
    )
    for path, reason in summary.skipped.items():
        click.echo(f"skipped {path}: {reason}", err=True)


COMMANDS = [inbox, worker]
