"""Benchmark of the MCP server: start-up, and the cost of a tool call against the same
operation through the CLI (`claimledger ... --json`, one process per call) and in-process.

Works on a scratch copy of the repository's embedded workspace (its seed claims and ledger).
For each operation (brief, search_claims, read_claim, leaderboard) it times N calls over one
live MCP session, N runs of the equivalent CLI command, and N direct library calls through the
Toolbox; medians, and the ratio of CLI to MCP (what an agent saves per call by keeping the
server open).

    .venv/bin/python bench/mcp_server.py            # 10 calls of each
    .venv/bin/python bench/mcp_server.py --n 3      # quick look

Prints `name: value` lines, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from claimledger.mcp import Toolbox
from claimledger.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
CLAIMLEDGER = str(Path(sys.executable).with_name("claimledger"))
FOLDERS = ("kb", "inbox", "ledger", "schemas")
CLAIM = "QK-norm lets a small GPT train stably at a learning rate twice as high"
# operation: (tool arguments, the CLI command doing the same)
OPERATIONS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "brief": ({"max_tokens": 1500}, ["brief", "--max-tokens", "1500", "--json"]),
    "search_claims": ({"query": "warmup"}, ["search", "warmup", "--type", "claim", "--json"]),
    "read_claim": ({"title": CLAIM}, ["show", CLAIM, "--json"]),
    "leaderboard": ({}, ["ledger", "best", "--json"]),
}


def scratch_workspace() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-mcp-")) / "ws"
    for folder in FOLDERS:
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, root / folder)
    shutil.copy2(REPO / "claimledger.toml", root / "claimledger.toml")
    return root


def timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


async def over_mcp(root: Path, n: int) -> dict[str, Any]:
    """Start-up to a listed toolset, then n calls of each operation on one session."""
    params = StdioServerParameters(command=CLAIMLEDGER, args=["-C", str(root), "mcp"])
    start = time.perf_counter()
    with open(root.parent / "server.log", "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            tools = (await client.list_tools()).tools
            times: dict[str, Any] = {"startup": time.perf_counter() - start, "tools": len(tools)}
            for name, (arguments, _) in OPERATIONS.items():
                await client.call_tool(name, arguments)  # warm the index once
                samples = []
                for _ in range(n):
                    began = time.perf_counter()
                    result = await client.call_tool(name, arguments)
                    samples.append(time.perf_counter() - began)
                    assert not result.is_error, result.content
                times[name] = statistics.median(samples)
    return times


def over_cli(root: Path, name: str, n: int) -> float:
    command = [CLAIMLEDGER, "-C", str(root), *OPERATIONS[name][1]]
    run = lambda: subprocess.run(command, capture_output=True, check=True)  # noqa: E731
    return statistics.median(timed(run) for _ in range(n))


def in_process(root: Path, name: str, n: int) -> float:
    tool = getattr(Toolbox(Workspace.open(root), "bench"), name)
    arguments = OPERATIONS[name][0]
    tool(**arguments)
    return statistics.median(timed(lambda: tool(**arguments)) for _ in range(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="Calls of each operation.")
    n = parser.parse_args().n
    root = scratch_workspace()
    mcp = anyio.run(over_mcp, root, n)
    results: dict[str, Any] = {"n": n, "tools": mcp["tools"], "startup_s": round(mcp["startup"], 3)}
    print(f"server start-up to listed tools: {mcp['startup']:.3f} s ({mcp['tools']} tools)")
    for name in OPERATIONS:
        cli, direct = over_cli(root, name, n), in_process(root, name, n)
        row = {"mcp_ms": mcp[name] * 1e3, "cli_ms": cli * 1e3, "library_ms": direct * 1e3}
        row = {k: round(v, 1) for k, v in row.items()} | {"cli_over_mcp": round(cli / mcp[name], 1)}
        results[name] = row
        print(
            f"{name}: mcp {row['mcp_ms']} ms, cli {row['cli_ms']} ms, library "
            f"{row['library_ms']} ms, cli/mcp {row['cli_over_mcp']}x"
        )
    shutil.rmtree(root.parent, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
