"""What an untrusted agent can make claimledger do through its CLI and its MCP server, on real
paths: the real `claimledger` command in a subprocess, the MCP server over a real stdio session
(the SDK's client, or the raw JSON-RPC lines of a client that just goes away), real trainer
subprocesses and real symlinks.

- Unbounded input: a search query over the byte cap is refused, a long one is cut to its first
  words with a note; every tool argument is bounded; a call runs within a time limit after which
  its work stops; a client that closes stdin takes the server (and its training) down with it.
- The run tool trains only on a folder inside the workspace, and every run names its corpus,
  which is part of its platform: a trivial corpus cannot top another corpus's leaderboard.
- `claimledger report --out` never writes through a symlink planted inside the output folder.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from mcp.client.session import ClientSession

from claimledger.kb import open_index
from claimledger.ledger import read_record, runs
from claimledger.trainer.prepare import corpus_hash, read_corpus
from claimledger.workspace import Workspace
from tests.test_mcp import AGENT, CLAIMLEDGER, PLATFORM, call, fail, init_workspace, with_server
from tests.trainer.conftest import TINY, write_corpus

TINY_SET = {key: int(value) for key, value in (s.split("=") for s in TINY)}
TINY_RUN = {"set": TINY_SET, "seeds": 1, "device": "cpu", "threads": 1}
ENDLESS_TOKENS = 10**12  # a token budget no test waits for: only a time limit ends the run
TRAINER_MODULE = "claimledger.trainer.train"


def claimledger(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command on the workspace `root`."""
    command = [CLAIMLEDGER, "-C", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def with_config(root: Path, text: str) -> Path:
    """Append a table to the workspace's claimledger.toml."""
    with open(root / "claimledger.toml", "a", encoding="utf-8") as config:
        config.write(f"\n{text}\n")
    return root


def trainers_of(root: Path) -> list[int]:
    """The pids of trainer processes working for the workspace `root` (their cache is in it)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if TRAINER_MODULE in command and str(root) in command:
            found.append(int(entry.name))
    return found


def wait_until(condition: Any, seconds: float) -> bool:
    """Poll `condition` until it holds or `seconds` pass; whether it held."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


# -- 3. Unbounded input ---------------------------------------------------------------------


def test_cli_search_refuses_an_oversized_query_and_cuts_a_long_one(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", "--no-git")
    huge = claimledger(root, "search", " ".join(["learning"] * 2000))  # 18 KB, 53 s of FTS5 work
    assert huge.returncode == 2, huge.stderr
    assert "4096" in huge.stderr and "Traceback" not in huge.stderr
    words = " ".join(f"word{i}" for i in range(40))
    long = claimledger(root, "search", words, "--json")
    assert long.returncode == 0, long.stderr
    assert json.loads(long.stdout) == []
    assert "first 32 distinct words; 8 more left out" in long.stderr


def test_mcp_arguments_are_bounded_in_one_place(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", "--no-git")

    async def steps(client: ClientSession) -> list[Any]:
        words = " ".join(f"word{i}" for i in range(40))
        return [
            await fail(client, "search_claims", {"query": "learning " * 1000}),
            await call(client, "search_claims", query=words),
            await fail(client, "read_claim", {"title": "x" * 300_000}),
            await fail(
                client,
                "record_run",
                {
                    "branch": "main",
                    "commit": "c",
                    "platform": PLATFORM,
                    "status": "keep",
                    "val_bpb": 1.0,
                    "config": {f"k{i}": i for i in range(1000)},
                },
            ),
            await fail(
                client,
                "write_claim",
                {"title": "t", "domain": "d", "description": "d", "branches": ["b"] * 500},
            ),
        ]

    query, cut, title, config, branches = with_server(root, steps)
    assert "4096" in query
    assert cut["count"] == 0 and "8 more left out" in cut["note"]
    assert "300000 characters, over 200000" in title
    assert "'config'" in config and "1000 entries" in config
    assert "'branches'" in branches and "500 entries" in branches
    assert runs(Workspace.open(root)) == []


def test_a_query_stops_at_its_time_limit(tmp_path: Path) -> None:
    """The index connection of a limited call gives up a runaway query at the deadline."""
    from claimledger.deadline import time_limit

    ws = Workspace.open(init_workspace(tmp_path / "ws", "--no-git"))
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    start = time.monotonic()
    interrupted = pytest.raises(sqlite3.OperationalError, match="interrupted")
    with time_limit(0.3), open_index(ws) as conn, interrupted:
        conn.execute(endless).fetchone()
    assert time.monotonic() - start < 10


@pytest.mark.slow
def test_a_run_past_its_time_limit_is_an_error_and_its_training_stops(tmp_path: Path) -> None:
    root = with_config(init_workspace(tmp_path / "ws", "--no-git"), "[mcp]\nrun_seconds = 3")
    corpus = write_corpus(root / "corpus")
    endless = {**TINY_RUN, "token_budget": ENDLESS_TOKENS, "data": str(corpus)}

    async def steps(client: ClientSession) -> tuple[str, float]:
        start = time.monotonic()
        with anyio.fail_after(40):  # without a limit the run would go on for hours
            message = await fail(client, "run", endless)
        return message, time.monotonic() - start

    message, seconds = with_server(root, steps)
    assert "TimeLimitError" in message and "3 s" in message and seconds < 30
    assert wait_until(lambda: not trainers_of(root), 15), "the trainer is still running"
    assert runs(Workspace.open(root)) == []  # the client was told it failed: nothing recorded


class RawClient:
    """An MCP client as bare JSON-RPC lines over the server's stdin and stdout: one that can
    simply go away, as a crashed agent does."""

    def __init__(self, root: Path) -> None:
        self.server = subprocess.Popen(
            [CLAIMLEDGER, "-C", str(root), "mcp", "--agent", AGENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.stdin: IO[str] = self.server.stdin  # type: ignore[assignment]
        self.send("initialize", 1, protocolVersion="2025-06-18", capabilities={}, clientInfo={})
        assert '"id":1' in (self.server.stdout.readline() if self.server.stdout else "")
        self.send("notifications/initialized")

    def send(self, method: str, id: int | None = None, **params: Any) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if id is not None:
            message["id"] = id
        if params or id is not None:
            message["params"] = params
        self.stdin.write(json.dumps(message) + "\n")
        self.stdin.flush()


@pytest.mark.slow
def test_a_client_that_goes_away_takes_the_server_and_its_training_down(tmp_path: Path) -> None:
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("finds the trainer process through /proc")
    root = init_workspace(tmp_path / "ws", "--no-git")
    corpus = write_corpus(root / "corpus")
    client = RawClient(root)
    endless = {**TINY_RUN, "token_budget": ENDLESS_TOKENS, "data": str(corpus)}
    try:
        client.send("tools/call", 2, name="run", arguments=endless)
        assert wait_until(lambda: trainers_of(root), 60), "the trainer never started"
        client.stdin.close()  # the agent is gone
        gone = time.monotonic()
        client.server.wait(timeout=20)
        assert time.monotonic() - gone < 20
        assert wait_until(lambda: not trainers_of(root), 15), "the trainer is still running"
    finally:
        client.server.kill()
        client.server.wait()
    assert runs(Workspace.open(root)) == []


# -- 7. The corpus of a run -----------------------------------------------------------------


def test_run_trains_only_on_a_folder_inside_the_workspace(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", "--no-git")
    outside = write_corpus(tmp_path / "outside", files=3)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    calls = [{**TINY_RUN, "token_budget": 4000, "data": data} for data in (str(outside), "linked")]

    async def steps(client: ClientSession) -> list[str]:
        return [await fail(client, "run", arguments) for arguments in calls]

    for message in with_server(root, steps):
        assert "inside the workspace" in message
    cli = claimledger(root, "run", "--token-budget", "4000", "--data", str(outside), "--json")
    assert cli.returncode == 2 and "inside the workspace" in cli.stdout + cli.stderr
    assert runs(Workspace.open(root)) == []


@pytest.mark.slow
def test_runs_name_their_corpus_and_compare_only_with_runs_on_it(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", "--no-git")
    trivial = root / "corpora" / "trivial"
    trivial.mkdir(parents=True)
    for i in range(4):
        (trivial / f"a{i}.txt").write_text("a" * 5000)
    real = write_corpus(root / "corpora" / "real")
    expected = corpus_hash(read_corpus(shutil.copytree(real, tmp_path / "copy"))[1])
    (tmp_path / "secret.txt").write_text("never train on this\n" * 100)
    (real / "zz-secret.txt").symlink_to(tmp_path / "secret.txt")  # a link out: not the corpus

    async def steps(client: ClientSession) -> list[dict[str, Any]]:
        first = await call(client, "run", **TINY_RUN, token_budget=4000, data=str(real))
        second = await call(client, "run", **TINY_RUN, token_budget=4000, data=str(trivial))
        board = await call(client, "leaderboard", platform=first["platform"])
        old = await call(  # a record from before corpora were recorded stays readable
            client,
            "record_run",
            branch="old",
            commit="c0",
            platform=PLATFORM,
            status="keep",
            val_bpb=9.0,
        )
        return [first, second, board, old, await call(client, "leaderboard", platform=PLATFORM)]

    first, second, board, old, old_board = with_server(root, steps)
    assert first["corpus"] == {"name": "corpora/real", "hash": expected}
    assert first["platform"] == f"{PLATFORM}-corpus{expected[:8]}"
    assert second["corpus"]["name"] == "corpora/trivial"
    assert second["platform"] not in (first["platform"], PLATFORM)
    assert [run["id"] for run in board["runs"]] == [first["runs"][0]["record_id"]]
    record = read_record(Workspace.open(root), first["runs"][0]["record_id"])
    assert record["corpus"] == first["corpus"] and record["platform"] == first["platform"]
    assert "corpus" not in old and [run["id"] for run in old_board["runs"]] == [old["id"]]


# -- 2. The report's output folder ----------------------------------------------------------


def test_report_never_writes_through_a_symlink_inside_its_folder(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", "--no-git")
    bashrc = tmp_path / "bashrc"
    bashrc.write_text("original\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = tmp_path / "site"
    planted.mkdir()
    (planted / "index.html").symlink_to(bashrc)
    folder = tmp_path / "site2"
    folder.mkdir()
    (folder / "notes").symlink_to(elsewhere, target_is_directory=True)

    for out, link in ((planted, "index.html"), (folder, "notes")):
        refused = claimledger(root, "report", "--out", str(out))
        assert refused.returncode == 2, refused.stderr
        assert link in refused.stderr and "symbolic link" in refused.stderr
    assert bashrc.read_text() == "original\n" and list(elsewhere.iterdir()) == []

    real = tmp_path / "real-site"
    real.mkdir()
    (tmp_path / "named").symlink_to(real, target_is_directory=True)  # --out itself: the user's
    built = claimledger(root, "report", "--out", str(tmp_path / "named"))
    assert built.returncode == 0, built.stderr
    assert (real / "index.html").is_file()
