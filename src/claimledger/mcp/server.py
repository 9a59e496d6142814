"""The MCP server: the library's operations as tools, over stdio, with the official SDK.

`build_server` registers every tool of `Toolbox` on an `MCPServer`; the SDK derives each tool's
input schema from its typed parameters and checks calls against it. A library error
(ClaimledgerError) or a bad path becomes a tool error whose message names the problem; the
server itself never stops on a failed call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from claimledger.errors import ClaimledgerError
from claimledger.mcp.acting import ActTools
from claimledger.mcp.reading import ReadTools
from claimledger.mcp.writing import WriteTools
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


def as_tool_error(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a tool so that an expected failure reaches the client as a tool error message."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(method)
    def tool(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
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


def build_server(ws: Workspace, agent: str | None = None) -> MCPServer:
    """An MCP server whose tools act on `ws` as `agent` (default: $CLAIMLEDGER_AGENT), with
    program.md as a resource and as the `research_loop` prompt."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from claimledger.ledger import default_agent

    toolbox = Toolbox(ws, agent or default_agent())
    server: MCPServer = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING")
    for name in TOOL_NAMES:
        hints = ToolAnnotations(read_only_hint=name in READ_ONLY, destructive_hint=False)
        server.add_tool(as_tool_error(getattr(toolbox, name)), name=name, annotations=hints)

    @server.resource(PROGRAM_URI, name="program.md", mime_type="text/markdown")
    def program() -> str:
        """The research loop this workspace's agents follow."""
        return program_text(ws)

    @server.prompt("research_loop")
    def research_loop() -> str:
        """Start an agent on the research loop of program.md, with these tools."""
        return f"{program_text(ws)}\n\n{PROMPT_TAIL.format(agent=toolbox.agent)}"

    return server


def serve(ws: Workspace, agent: str | None = None) -> None:
    """Serve the workspace's tools over stdio until the client closes the connection."""
    build_server(ws, agent).run("stdio")
