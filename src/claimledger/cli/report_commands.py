"""Report command: `claimledger report --out DIR`, the static HTML site.

The library is imported inside the command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from claimledger.cli.app import State
from claimledger.cli.output import emit, with_json


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("site"),
    show_default=True,
    help="Folder to write the site into (created; pages in it are replaced; refused when "
    "a symbolic link is inside it).",
)
@click.option("--workers", type=int, help="Processes that write note pages (default: CPUs).")
@with_json
@click.pass_obj
def report(state: State, out_dir: Path, workers: int | None, as_json: bool) -> None:
    """Build a static HTML report that opens from the file system, with no server.

    A page per note (frontmatter, rendered argument, links, backlinks, evidence runs), an
    interactive graph, the leaderboard per platform, the branch forest with adoptions, the
    progress plots and the open proposals.

    \b
    Example:
      claimledger report --out site && xdg-open site/index.html
    """
    from claimledger.report import build_report

    result = build_report(state.workspace, out_dir, workers=workers)
    emit(result.to_dict(), as_json, lambda: _print_report(result))


def _print_report(result: Any) -> None:
    click.echo(
        f"wrote {result.pages} pages to {result.out_dir} in {result.seconds:.2f} s "
        f"({result.notes} notes, {result.platforms} platforms, {result.plots} plots)"
    )
    for problem in result.problems:
        click.echo(f"  warning: {problem}", err=True)
    click.echo(f"open {result.out_dir / 'index.html'}")


COMMANDS = [report]
