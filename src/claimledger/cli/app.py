"""The `claimledger` click group: global options, workspace opening and error handling."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from claimledger.errors import ClaimledgerError
from claimledger.workspace import Workspace

log = logging.getLogger("claimledger")


class State:
    """What every command gets from the group: the workspace (opened on first use)."""

    def __init__(self, workspace_path: Path | None) -> None:
        self.workspace_path = workspace_path
        self._workspace: Workspace | None = None

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            self._workspace = Workspace.open(self.workspace_path)
        return self._workspace


class ClaimledgerGroup(click.Group):
    """A group that turns library errors into `Error: <file>: <problem>` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClaimledgerError as exc:
            report_error(exc, json_mode=_json_requested(ctx))
            ctx.exit(1)


def _json_requested(ctx: click.Context) -> bool:
    return "--json" in sys.argv[1:] or bool(ctx.meta.get("json"))


def report_error(exc: ClaimledgerError, json_mode: bool) -> None:
    """Errors go to stderr as text, or to stdout as a JSON object when --json was asked."""
    if json_mode:
        import json

        payload = {"error": exc.problem, "path": exc.path, "type": type(exc).__name__}
        click.echo(json.dumps(payload))
    else:
        click.echo(f"Error: {exc}", err=True)


@click.group(cls=ClaimledgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "--workspace",
    "workspace_path",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace root or any folder inside it (default: the current folder; "
    "env CLAIMLEDGER_WORKSPACE).",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.version_option(package_name="claimledger")
@click.pass_context
def main(ctx: click.Context, workspace_path: Path | None, verbose: int) -> None:
    """claimledger: the shared memory of an agent-driven ML research community.

    Claims live as markdown notes in kb/ (an Obsidian vault), runs as immutable records in
    ledger/, raw material in inbox/. Every command that reports something takes --json.

    \b
    Typical session:
      claimledger index            # refresh the SQLite cache of the notes
      claimledger lint             # problems in the vault (exit 1 on findings)
      claimledger show "Title"     # a note with its links and backlinks
      claimledger search "warmup"  # full-text search over claims
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = State(workspace_path)
