"""Shared output options: --json for agents, rich tables on a terminal, plain text in pipes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (for agents)."
)


def with_json(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --json to a command and remember it so that errors come out as JSON too."""

    @json_option
    @functools.wraps(command)
    def wrapper(*args: Any, as_json: bool, **kwargs: Any) -> Any:
        click.get_current_context().meta["json"] = as_json
        return command(*args, as_json=as_json, **kwargs)

    return wrapper


def echo_json(data: Any) -> None:
    """Print data as indented JSON; dates and paths become strings."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def emit(result: Any, as_json: bool, text: str | Callable[[], None]) -> None:
    """Print a command's result: `result` as JSON with --json, else the human form.

    `result` is the JSON-ready data, or a function returning it when building it costs work
    that the human form does not need (called only with --json). `text` is a line to print,
    or a function that prints the human form (called only without --json).
    """
    if as_json:
        echo_json(result() if callable(result) else result)
    elif callable(text):
        text()
    else:
        click.echo(text)


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str | None = None,
    empty: str | None = None,
) -> None:
    """A rich table on a terminal; tab-separated lines with a header when piped. With no rows
    and an `empty` line, that line instead."""
    if empty is not None and not rows:
        click.echo(empty)
        return
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        Console().print(table)
        return
    if title:
        click.echo(f"# {title}")
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join("" if v is None else str(v) for v in row))


def print_findings(lines: Sequence[str], none: str) -> None:
    """One line a finding, then their count on stderr; or the line `none` when there are none."""
    for line in lines:
        click.echo(line)
    click.echo(f"{len(lines)} findings" if lines else none, err=bool(lines))


def print_heading(text: str) -> None:
    if is_terminal():
        from rich.console import Console

        Console().print(f"[bold]{text}[/bold]")
    else:
        click.echo(text)
