"""The MCP server: the library's operations as tools, over stdio, with the official SDK.

`build_server` registers every tool of `Toolbox` on an `MCPServer`; the SDK derives each tool's
input schema from its typed parameters and checks calls against it, and `limits` bounds every
call (argument sizes, a time limit; the server exits when the client is gone). A library error
(ClaimledgerError) or a bad path becomes a tool error whose message names the problem; the
server itself never stops on a failed call.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from claimledger.errors import ClaimledgerError
from claimledger.mcp.acting import ActTools
from claimledger.mcp.limits import CallLimits, call_within, check_arguments
from claimledger.mcp.reading import ReadTools
from claimledger.mcp.writing import WriteTools
from claimledger.sqlite_cache import retrying
from claimledger.workspace import Workspace

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

SERVER_NAME = "claimledger"
TOOL_NAMES = (
    "search_claims",
    "read_claim",
    "neighbourhood",
    "brief",
    "leaderboard",
    "best_config",
    "list_proposals",
    "plan",
    "lease_proposal",
    "run",
    "record_run",
    "sync",
    "add_source",
    "write_claim",
    "enrich_claim",
)
READ_ONLY = {"search_claims", "read_claim", "neighbourhood", "brief", "leaderboard"}
READ_ONLY |= {"best_config", "list_proposals"}
INSTRUCTIONS = """\
claimledger is the shared memory of a community of agents doing ML research on a small GPT:
claims (kb/, markdown notes), a ledger of every run (ledger/), raw material (inbox/).
The loop (program.md in the workspace): brief -> list_proposals or plan -> lease_proposal ->
run (records the runs, writes a run report) -> write_claim or enrich_claim with the runs and
the report as provenance -> sync -> again. A difference smaller than the brief's noise floor
is not a finding. Records are never edited or deleted."""


PROGRAM_URI = "claimledger://program.md"
PROMPT_TAIL = (
    "Follow this program with the claimledger tools (the names in brackets), as agent "
    "{agent}. Start with the brief tool, and keep going until you are stopped."
)


class Toolbox(ReadTools, ActTools, WriteTools):
    """Every tool, bound to one workspace and one agent name."""

    def __init__(self, ws: Workspace, agent: str) -> None:
        self.ws = ws
        self.agent = agent


def as_tool(method: Callable[..., Any], seconds: float) -> Callable[..., Awaitable[Any]]:
    """Wrap a tool for the server: its arguments checked for size, its work run within
    `seconds` (see limits), an expected failure sent to the client as a tool error message."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(method)
    async def tool(**kwargs: Any) -> Any:
        try:
            check_arguments(kwargs)
            return await call_within(method, kwargs, seconds)
        except ClaimledgerError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    return tool


def program_text(ws: Workspace) -> str:
    """The workspace's program.md, or the one `claimledger init` writes when it has none."""
    from claimledger.scaffold import PROGRAM_NAME, program_template

    path = ws.root / PROGRAM_NAME
    return path.read_text(encoding="utf-8") if path.is_file() else program_template()


def build_server(
    ws: Workspace, agent: str | None = None, limits: CallLimits | None = None
) -> MCPServer:
    """An MCP server whose tools act on `ws` as `agent` (default: $CLAIMLEDGER_AGENT), each
    call within its time limit (default: the workspace's [mcp] table), with program.md as a
    resource and as the `research_loop` prompt."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from claimledger.ledger import default_agent

    toolbox = Toolbox(ws, agent or default_agent())
    limits = limits or CallLimits.from_workspace(ws)
    server: MCPServer = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING")
    for name in TOOL_NAMES:
        hints = ToolAnnotations(read_only_hint=name in READ_ONLY, destructive_hint=False)
        tool = getattr(toolbox, name)
        tool = retrying(tool) if name in READ_ONLY else tool  # read again past a damaged cache
        server.add_tool(as_tool(tool, limits.seconds(name)), name=name, annotations=hints)

    @server.resource(PROGRAM_URI, name="program.md", mime_type="text/markdown")
    def program() -> str:
        """The research loop this workspace's agents follow."""
        return program_text(ws)

    @server.prompt("research_loop")
    def research_loop() -> str:
        """Start an agent on the research loop of program.md, with these tools."""
        return f"{program_text(ws)}\n\n{PROMPT_TAIL.format(agent=toolbox.agent)}"

    return server


def serve(ws: Workspace, agent: str | None = None, limits: CallLimits | None = None) -> None:
    """Serve the workspace's tools over stdio until the client closes the connection, then
    stop the work of every call and exit (nobody is left to read its answer)."""
    import anyio

    from claimledger.mcp.limits import exit_past_lingering_work

    server = build_server(ws, agent, limits)
    # Watch a copy of stdin: the SDK's transport moves stdin itself elsewhere.
    anyio.run(serve_until_hangup, server, os.dup(sys.stdin.fileno()))
    exit_past_lingering_work()


async def serve_until_hangup(server: MCPServer, stdin_fd: int) -> None:
    """Run the server over stdio; when `stdin_fd` hangs up, stop all work and the server."""
    import anyio
    import anyio.from_thread
    import anyio.lowlevel

    from claimledger import deadline
    from claimledger.mcp.limits import watch_for_hangup

    loop = anyio.lowlevel.current_token()
    with anyio.CancelScope() as scope:

        def on_hangup() -> None:
            deadline.stop_all()
            with contextlib.suppress(RuntimeError):  # RunFinishedError: the server is done
                anyio.from_thread.run_sync(scope.cancel, token=loop)

        watch_for_hangup(stdin_fd, on_hangup)
        await server.run_stdio_async()
