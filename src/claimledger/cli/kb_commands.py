"""Knowledge-base commands: init, index, watch, lint, show, search, graph, new claim, demo.

The library is imported inside each command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from claimledger.cli.app import State
from claimledger.cli.output import (
    emit,
    is_terminal,
    print_findings,
    print_heading,
    print_table,
    with_json,
)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--no-git", is_flag=True, help="Do not run `git init`.")
@click.option(
    "--scaffold/--no-scaffold",
    default=None,
    help="Create kb/, inbox/, ledger/, schemas/ and program.md (default: only in a folder "
    "with no markdown file).",
)
@with_json
def init(directory: Path, no_git: bool, scaffold: bool | None, as_json: bool) -> None:
    """Make DIRECTORY a workspace (default: the current folder).

    In an empty folder: creates kb/, inbox/, ledger/, schemas/, program.md, claimledger.toml
    and .claimledger/.gitignore (the cache ignores itself), then `git init`. Inside an existing
    vault: writes a claimledger.toml that indexes every note of it (typed notes, found by their
    `type:` frontmatter, set the claims and sources globs), scaffolds nothing unless asked and
    changes no existing file. Running it again changes nothing.

    \b
    Example:
      claimledger init my-research && cd my-research && claimledger lint
    """
    from claimledger.scaffold import init_workspace

    result = init_workspace(directory, git=not no_git, scaffold=scaffold)
    emit(result.__dict__, as_json, lambda: _print_init(result))


def _print_init(result: Any) -> None:
    kind = "existing vault" if result.existing_vault else "new workspace"
    click.echo(f"{kind} at {result.root.resolve()}")
    if result.existing_vault:
        click.echo(
            f"found {result.notes_found} notes: {result.claims_found} claims and "
            f"{result.sources_found} sources"
        )
    for created in result.created:
        click.echo(f"  created {created}")
    if not result.created:
        click.echo("  nothing to do: already a workspace")


def _progress_bar(label: str) -> Any:
    """A rich progress callback on a terminal, None otherwise."""
    if not is_terminal():
        return None
    from rich.progress import Progress

    progress = Progress(transient=True)
    task = progress.add_task(label, total=None)
    progress.start()

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)
        if done >= total:
            progress.stop()

    return update


@click.command()
@click.option("--rebuild", is_flag=True, help="Drop the cache and rebuild it from the files.")
@with_json
@click.pass_obj
def index(state: State, rebuild: bool, as_json: bool) -> None:
    """Bring the SQLite cache (.claimledger/index.sqlite) up to date with the notes.

    Only changed files are read again. The cache is derived data: deleting it loses nothing.
    Every other command refreshes the index on its own; run this to see what changed. This
    one also checks every page of the cache, and rebuilds a damaged one.
    """
    from claimledger.kb import refresh_index

    stats = refresh_index(state.workspace, _progress_bar("indexing"), rebuild=rebuild, check=True)
    line = (
        f"{stats.files} notes: {stats.added} added, {stats.updated} updated, "
        f"{stats.removed} removed, {stats.unchanged + stats.touched} unchanged "
        f"({stats.seconds:.2f} s{', full rebuild' if stats.rebuilt else ''})"
    )
    emit(stats.__dict__, as_json, line)


@click.command()
@click.pass_obj
def watch(state: State) -> None:
    """Watch the vault and journal each file that changes, until stopped (Ctrl-C, SIGTERM).

    While it runs, every refresh of the index (every command refreshes it) looks only at
    the files that changed, instead of checking every file of the vault: at 25,000 notes,
    a few milliseconds instead of about 0.1 s. Without it, nothing changes but the speed. Any
    doubt (it stopped, lost events, a folder was moved) makes the next refresh check every
    file. One watcher per workspace; it prints one line when it is watching.

    \b
    Example:
      claimledger watch &            # then: claimledger show "Title" ...
    """
    import signal
    import threading

    from claimledger.kb.watch import run_watcher

    stop = threading.Event()
    for stopping in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stopping, lambda *_: stop.set())

    def ready() -> None:
        click.echo(f"watching {state.workspace.root}")
        sys.stdout.flush()

    run_watcher(state.workspace, ready, stop)


def lint_with_ledger(ws: Any, conn: Any) -> list[Any]:
    """kb lint plus the provenance check against the ledger and the Obsidian check."""
    from claimledger import ledger
    from claimledger.kb import lint as run_lint
    from claimledger.kb.lint import provenance_check
    from claimledger.kb.obsidian import obsidian_check

    runs = ledger.known_record_ids(ws)
    branches = ledger.known_branches(ws) if runs else None
    return run_lint(ws, conn, [provenance_check(runs or None, branches), obsidian_check])


@click.command()
@click.option("--ignore", multiple=True, metavar="CODE", help="Skip findings of this code.")
@with_json
@click.pass_obj
def lint(state: State, ignore: tuple[str, ...], as_json: bool) -> None:
    """Report problems in the vault; exit 1 when there are findings.

    Checks: broken YAML (with its line), frontmatter with no closing `---`, notes over the
    size limit, symlinks that lead out of the workspace (never read), schema violations and
    missing fields (against schemas/), dangling and ambiguous [[links]], duplicate titles,
    title/file-name mismatches, unknown domains, depends_on cycles, provenance (runs and
    branches the ledger does not know, once it has records) and what Obsidian cannot read
    well (file names, property types).

    \b
    Examples:
      claimledger lint
      claimledger lint --ignore dangling-link --json
    """
    from claimledger.kb import open_index

    with open_index(state.workspace) as conn:
        findings = [f for f in lint_with_ledger(state.workspace, conn) if f.code not in ignore]
    emit(
        {"findings": [f.to_dict() for f in findings], "count": len(findings)},
        as_json,
        lambda: print_findings([_finding_line(f) for f in findings], "no findings"),
    )
    sys.exit(1 if findings else 0)


def _finding_line(finding: Any) -> str:
    where = f"{finding.path}:{finding.line}" if finding.line else finding.path
    return f"{where}: {finding.severity}: {finding.code}: {finding.message}"


@click.command()
@click.argument("title")
@with_json
@click.pass_obj
def show(state: State, title: str, as_json: bool) -> None:
    """Show a note: its frontmatter, body, links and backlinks.

    TITLE is matched case-insensitively against file names, titles and aliases, or is a
    path relative to the workspace.

    \b
    Example:
      claimledger show "QK-norm lets a small GPT train stably at a higher learning rate"
    """
    from claimledger.kb import open_index, show_note

    with open_index(state.workspace) as conn:
        note = show_note(state.workspace, conn, title)
    emit(note, as_json, lambda: _print_note(note))


def _print_note(note: dict[str, Any]) -> None:
    print_heading(note["title"])
    click.echo(f"path: {note['path']}")
    for key, value in note["frontmatter"].items():
        click.echo(f"{key}: {value}")
    click.echo(note["body"].rstrip())
    links = [(lk["kind"], lk["target"], lk["path"] or "(dangling)") for lk in note["links"]]
    print_table(["kind", "target", "resolves to"], links, title="Links")
    backlinks = [(b["kind"], b["path"], b["line"]) for b in note["backlinks"]]
    print_table(["kind", "from", "line"], backlinks, title="Backlinks")


@click.command()
@click.argument("query")
@click.option("--limit", default=20, show_default=True, help="Most results to show.")
@click.option("--type", "note_type", help="Only notes of this type (claim, source).")
@click.option("--domain", help="Only claims of this domain.")
@with_json
@click.pass_obj
def search(
    state: State, query: str, limit: int, note_type: str | None, domain: str | None, as_json: bool
) -> None:
    """Full-text search over titles, descriptions and bodies (best match first).

    Every word is required. Of a long query only the first distinct words are searched for,
    with a warning; an oversized one (over 4 KB) is refused with exit code 2.

    \b
    Example:
      claimledger search "warmup learning rate" --type claim
    """
    from claimledger.kb import open_index, query_note, search_notes

    note = query_note(query)  # refuses an oversized query before any work
    if note:
        click.echo(f"warning: {note}", err=True)
    with open_index(state.workspace) as conn:
        hits = search_notes(conn, query, limit, note_type, domain)
    rows = [(h["title"], h["type"], h["confidence"], h["snippet"]) for h in hits]
    emit(hits, as_json, lambda: print_table(["title", "type", "confidence", "match"], rows))


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "graphml", "dot"]),
    default="json",
    show_default=True,
    help="Output format.",
)
@click.option("--around", metavar="TITLE", help="Only the neighbourhood of this note.")
@click.option("--hops", default=1, show_default=True, help="Neighbourhood radius for --around.")
@click.pass_obj
def graph(state: State, fmt: str, around: str | None, hops: int) -> None:
    """Print the knowledge graph: notes and typed edges (link, depends_on, challenged_by,
    source-of).

    \b
    Examples:
      claimledger graph --format dot | dot -Tsvg > kb.svg
      claimledger graph --around "Some claim" --hops 2 --format graphml > near.graphml
    """
    from claimledger.kb import build_graph, export_graph, find_note, neighbourhood, open_index

    with open_index(state.workspace) as conn:
        full = build_graph(conn)
        if around:
            full = neighbourhood(full, find_note(conn, around)["path"], hops)
    click.echo(export_graph(full, fmt), nl=False)


@click.group()
def new() -> None:
    """Create a new note from flags."""


@new.command("claim")
@click.argument("title")
@click.option("--domain", required=True, help="Primary domain (from claimledger.toml).")
@click.option("--description", required=True, help="One sentence that adds to the title.")
@click.option(
    "--confidence",
    type=click.Choice(["proven", "likely", "experimental", "speculative"]),
    default="speculative",
    show_default=True,
)
@click.option("--source", "source_", required=True, help="Who proposed it, on what evidence.")
@click.option("--depends-on", multiple=True, metavar="TITLE", help="A claim this builds on.")
@click.option("--challenged-by", multiple=True, metavar="TITLE", help="A counter-claim.")
@click.option("--branch", multiple=True, help="A research branch this claim speaks about.")
@click.option("--run", "runs", multiple=True, metavar="ID", help="A ledger run that backs it.")
@click.option(
    "--source-file", multiple=True, metavar="PATH", help="An inbox file it rests on (a report)."
)
@click.option(
    "--effect",
    multiple=True,
    metavar="KEY=VALUE",
    help="The measured effect: param, from, to, metric, delta, n, platform (repeatable).",
)
@click.option("--body", default="", help="The argument (markdown); '-' reads standard input.")
@with_json
@click.pass_obj
def new_claim(state: State, title: str, as_json: bool, body: str, **options: Any) -> None:
    """Write kb/<domain>/<TITLE>.md as a valid claim with status `proposed`.

    The rules of the MCP write_claim tool: unsafe titles are refused, and so is a claim the kb
    already makes (the same title, the same effect, or a near-identical title; a close one is
    flagged for review), runs the ledger does not know and files that are not in the inbox.

    \b
    Example:
      claimledger new claim "Warmup of 5% of steps stabilises AdamW at lr 0.006" \\
        --domain schedule --description "..." --source "our runs on cpu-2core-60s" \\
        --run 3f2a9c --effect param=warmup_frac --effect from=0 --effect to=0.05
    """
    from claimledger.research import write_claim

    written = write_claim(
        state.workspace,
        title,
        domain=options["domain"],
        description=options["description"],
        source=options["source_"],
        confidence=options["confidence"],
        body=sys.stdin.read() if body == "-" else body,
        runs=list(options["runs"]),
        sources=list(options["source_file"]),
        effect=_effect(options["effect"]),
        depends_on=list(options["depends_on"]),
        challenged_by=list(options["challenged_by"]),
        branches=list(options["branch"]),
    )
    emit(written, as_json, lambda: _print_written(written))


def _print_written(written: dict[str, Any]) -> None:
    click.echo(f"created {written['path']} (proposed)")
    if written["possible_duplicate_of"]:
        click.echo(f"flagged for review: close to {written['possible_duplicate_of']}")


def _effect(items: tuple[str, ...]) -> dict[str, Any] | None:
    """--effect KEY=VALUE items as a dict; a value is read as JSON (a number) where it can be."""
    effect: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--effect")
        try:
            effect[key.strip()] = json.loads(value)
        except ValueError:
            effect[key.strip()] = value.strip()
    return effect or None


@click.command()
@click.option(
    "--iterations",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Turns of the research loop (0: only index, lint and the graph).",
)
@with_json
@click.pass_obj
def demo(state: State, iterations: int, as_json: bool) -> None:
    """Run the main job on the workspace: index, lint, the knowledge graph, a short loop.

    The loop (plan, lease, run the trainer on CPU with 2 seeds at 200K tokens, record, run
    report, extract, evidence) runs on a scratch copy of the workspace under .claimledger/,
    so the workspace itself is left as it was; it ends by printing what it learned.
    `make demo` runs this on the repository's own embedded workspace (about 3 minutes).
    """
    from claimledger.kb import build_graph, open_index, refresh_index, summarize

    stats = refresh_index(state.workspace, _progress_bar("indexing"))
    with open_index(state.workspace, refresh=False) as conn:
        findings = lint_with_ledger(state.workspace, conn)
        summary = summarize(build_graph(conn))
    learned = _demo_loop(state.workspace, iterations, quiet=as_json) if iterations else None
    data = {
        "index": stats.__dict__,
        "findings": len(findings),
        "graph": summary,
        "loop": learned.to_dict() if learned else None,
    }
    emit(data, as_json, lambda: _print_demo(state, stats, findings, summary, learned))


def _print_demo(
    state: State, stats: Any, findings: list[Any], summary: dict[str, Any], learned: Any
) -> None:
    print_heading(f"Workspace {state.workspace.root}")
    click.echo(f"indexed {stats.files} notes in {stats.seconds:.2f} s")
    click.echo(f"lint: {len(findings)} findings")
    for f in findings[:20]:
        click.echo(f"  {f.path}:{f.line}: {f.code}: {f.message}")
    by_type = ", ".join(f"{n} {t}" for t, n in summary["notes_by_type"].items())
    by_kind = ", ".join(f"{n} {k}" for k, n in summary["edges_by_kind"].items())
    click.echo(f"graph: {summary['notes']} notes ({by_type}); {summary['edges']} edges ({by_kind})")
    click.echo(f"orphans: {summary['orphans']}; depends_on cycles: {summary['depends_on_cycles']}")
    rows = [(c["title"], c["pagerank"]) for c in summary["most_central"]]
    print_table(["most central claims", "pagerank"], rows)
    if learned is not None:
        from claimledger.cli.planner_commands import print_learned

        print_learned(learned)


def _demo_loop(ws: Any, iterations: int, quiet: bool) -> Any:
    """A short research loop on a scratch copy of the workspace; its result."""
    from claimledger.research import run_loop, scratch_workspace
    from claimledger.trainer import TrainerOptions

    copy = scratch_workspace(ws)
    say = None if quiet else click.echo
    if say:
        say(f"research loop: {iterations} iterations in {ws.relative(copy.root)}")
    return run_loop(copy, iterations, 2, options=TrainerOptions(device="cpu"), on_event=say)


COMMANDS = [init, index, watch, lint, show, search, graph, new, demo]
