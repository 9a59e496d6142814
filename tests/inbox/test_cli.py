"""`claimledger inbox add|list` and `claimledger worker` through click's runner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from claimledger.cli import main
from claimledger.kb.notes import read_note
from claimledger.workspace import Workspace

TEXT = """\
---
url: https://example.org/post
---
# A thread on warmup

Warmup of 200 steps lowers val_bpb more than warmup of 50 steps in our 5-minute runs.
"""


def cli(runner: CliRunner, ws: Workspace, *args: str, stdin: str | None = None):
    return runner.invoke(main, ["-C", str(ws.root), *args], input=stdin)


def test_inbox_add_wraps_stdin_and_is_idempotent(runner: CliRunner, ws: Workspace) -> None:
    first = cli(runner, ws, "inbox", "add", "-", "--author", "Ann", "--json", stdin=TEXT)
    assert first.exit_code == 0, first.output
    added = json.loads(first.output)
    assert added["title"] == "A thread on warmup"
    meta = read_note(ws.root / added["path"]).metadata
    assert meta["author"] == "Ann" and meta["url"] == "https://example.org/post"
    assert meta["type"] == "source" and meta["status"] == "unprocessed"
    again = cli(runner, ws, "inbox", "add", "-", "--author", "Ann", stdin=TEXT)
    assert again.output.strip() == added["path"]


def test_inbox_add_without_a_title_is_an_error(runner: CliRunner, ws: Workspace) -> None:
    result = cli(runner, ws, "inbox", "add", "-", stdin="no heading here\n")
    assert result.exit_code == 1 and "no title" in result.output


def test_worker_then_inbox_list_show_the_lifecycle(runner: CliRunner, ws: Workspace) -> None:
    done = cli(runner, ws, "worker", "--once", "--max-sources", "2", "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output[done.output.index("{") :])
    assert summary["processed"] == 2 and summary["claims"] >= 2
    listed = json.loads(cli(runner, ws, "inbox", "list", "--json").output)
    assert [s["status"] for s in listed["sources"]].count("processed") == 2
    waiting = cli(runner, ws, "inbox", "list", "--status", "unprocessed")
    assert waiting.exit_code == 0 and len(waiting.output.strip().splitlines()) == 3


def test_worker_refuses_an_unknown_extractor(runner: CliRunner, ws: Workspace) -> None:
    assert cli(runner, ws, "worker", "--extractor", "magic").exit_code == 2


def test_worker_loop_runs_the_given_passes(ws: Workspace) -> None:
    from claimledger.inbox.worker import run_loop

    seen = []
    assert run_loop(ws, interval=0.01, passes=2, on_summary=seen.append) == 2
    assert [s.counts()["sources"] for s in seen] == [4, 0]
