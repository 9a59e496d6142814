"""Review commands: `claimledger review` (the queue) and its actions accept, reject, retire,
merge and rename.

The library is imported inside each command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from claimledger.cli.app import State
from claimledger.cli.output import emit, print_table, with_json


@click.group(invoke_without_command=True)
@click.option("--no-lint", is_flag=True, help="Leave lint findings out of the queue.")
@with_json
@click.pass_context
def review(ctx: click.Context, no_lint: bool, as_json: bool) -> None:
    """The review queue: what needs a human, most pressing first.

    Claims under_review, claims flagged by the worker (possible-duplicate, contradicted,
    low-confidence-extraction), fresh `proposed` extractions, and lint findings (including
    what Obsidian cannot read). Settle them with the sub-commands; each edits the notes
    atomically and keeps every [[link]] valid.

    \b
    Examples:
      claimledger review
      claimledger review accept "Halving the batch to 8 sequences lowers val_bpb ..."
      claimledger review merge "Duplicate title" "The claim it duplicates"
      claimledger review retire "Old claim" --reason "contradicted by runs 3f2a..."
    """
    if ctx.invoked_subcommand is not None:
        return
    from claimledger.kb import open_index
    from claimledger.kb.review import review_queue

    state: State = ctx.obj
    ws = state.workspace
    with open_index(ws) as conn:
        items = review_queue(ws, conn, with_lint=not no_lint)
    queue = {"items": [i.to_dict() for i in items], "count": len(items)}
    emit(queue, as_json, lambda: _print_queue(items))


def _print_queue(items: list[Any]) -> None:
    rows = [(i.reason, i.title, i.related or "", i.detail) for i in items]
    columns = ["reason", "note", "related", "detail"]
    print_table(columns, rows, title=f"{len(items)} to review", empty="nothing to review")


def _act(state: State, action: str, *names: str, **options: Any) -> dict[str, Any]:
    from claimledger.kb import open_index
    from claimledger.kb import review as actions

    with open_index(state.workspace) as conn:
        return getattr(actions, action)(state.workspace, conn, *names, **options)


@review.command()
@click.argument("title")
@with_json
@click.pass_obj
def accept(state: State, title: str, as_json: bool) -> None:
    """Accept a claim: status active, review flags dropped, last_evaluated today."""
    result = _act(state, "accept", title)
    emit(result, as_json, f"accepted {result['path']}")


@review.command()
@click.argument("title")
@with_json
@click.pass_obj
def reject(state: State, title: str, as_json: bool) -> None:
    """Reject a claim: it is retired, not deleted, so the worker will not extract it again."""
    result = _act(state, "reject", title)
    emit(result, as_json, f"rejected {result['path']} (status retired)")


@review.command()
@click.argument("title")
@click.option("--reason", help="Why the claim no longer holds (kept as retired_reason).")
@with_json
@click.pass_obj
def retire(state: State, title: str, reason: str | None, as_json: bool) -> None:
    """Retire a claim; it stays in the vault and links to it stay valid."""
    result = _act(state, "retire", title, reason=reason)
    emit(result, as_json, f"retired {result['path']}")


@review.command()
@click.argument("duplicate")
@click.argument("keep")
@with_json
@click.pass_obj
def merge(state: State, duplicate: str, keep: str, as_json: bool) -> None:
    """Merge claim DUPLICATE into claim KEEP and remove DUPLICATE's file.

    KEEP gains DUPLICATE's argument (under "Merged from ..."), list fields, provenance and
    its title as an alias; every [[link]] to DUPLICATE in claims and sources points at KEEP.
    """
    result = _act(state, "merge", duplicate, keep)
    lines = [f"merged {result['merged']} into {result['into']}"]
    lines += [f"  relinked {path}" for path in result["rewritten"]]
    emit(result, as_json, "\n".join(lines))


@review.command()
@click.argument("title")
@click.argument("new_title")
@with_json
@click.pass_obj
def rename(state: State, title: str, new_title: str, as_json: bool) -> None:
    """Rename a note (file, title, H1) and update every [[link]] that points at it."""
    from claimledger.kb import open_index
    from claimledger.kb.rename import rename_note

    with open_index(state.workspace) as conn:
        result = rename_note(state.workspace, conn, title, new_title)
    lines = [f"renamed to {result.path}"] + [f"  relinked {p}" for p in result.rewritten]
    emit(result.__dict__, as_json, "\n".join(lines))


COMMANDS = [review]
