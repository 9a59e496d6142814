"""The `claimledger` click group: global options, workspace opening and error handling."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from claimledger.errors import CacheDamagedError, ClaimledgerError, InvalidArgumentError
from claimledger.workspace import Workspace

log = logging.getLogger("claimledger")
# Kept in the context: the command line, to run it again, and how many times it was.
ARGS_KEY = "claimledger.args"
RERUNS_KEY = "claimledger.reruns"


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
    """A group that turns library errors into `Error: <file>: <problem>` and exit code 1
    (2 for a refused argument, as click does for usage errors)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta.setdefault(ARGS_KEY, list(args))  # to run the command again: see invoke
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClaimledgerError as exc:
            if isinstance(exc, CacheDamagedError) and _may_run_again(ctx):
                return self._invoke_again(ctx)
            report_error(exc, json_mode=_json_requested(ctx))
            ctx.exit(2 if isinstance(exc, InvalidArgumentError) else 1)

    def _invoke_again(self, ctx: click.Context) -> Any:
        """Run the whole command again after a query met a damaged cache: the file is gone, and
        the command rebuilds it from the files on its way. The library's own queries run again
        where they stand; this is for the commands' own, which read before they write."""
        again = self.make_context(ctx.info_name, list(ctx.meta[ARGS_KEY]), parent=ctx.parent)
        again.meta[RERUNS_KEY] = ctx.meta.get(RERUNS_KEY, 0) + 1
        with again:
            return self.invoke(again)


def _may_run_again(ctx: click.Context) -> bool:
    from claimledger.sqlite_cache import REPAIR_ATTEMPTS  # here: sqlite3 slows down --help

    return ctx.meta.get(RERUNS_KEY, 0) < REPAIR_ATTEMPTS - 1


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
