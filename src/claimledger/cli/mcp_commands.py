"""`claimledger mcp`: serve the workspace to an agent over the Model Context Protocol.

The MCP SDK is imported inside the command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

import click

from claimledger.cli.app import State


@click.command("mcp")
@click.option("--agent", help="Who the tools act as (default: $CLAIMLEDGER_AGENT or user@host).")
@click.option(
    "--tool-seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Time limit of one tool call (default: [mcp] tool_seconds, else 60).",
)
@click.option(
    "--run-seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Time limit of one call of the run tool (default: [mcp] run_seconds, else 3600).",
)
@click.pass_obj
def mcp(
    state: State, agent: str | None, tool_seconds: float | None, run_seconds: float | None
) -> None:
    """Serve this workspace's tools to an agent over stdio (Model Context Protocol).

    Tools: search_claims, read_claim, neighbourhood, brief, leaderboard, best_config,
    list_proposals, plan, lease_proposal, run, record_run, sync, add_source, write_claim,
    enrich_claim. An agent client starts this command itself; see docs/mcp.md for
    the lines that connect Claude Code, Claude Desktop, Cursor and other clients.

    Each call is bounded: its arguments in size, its work in time (past the limit the agent
    gets an error and the work stops). When the client closes stdin, the server exits.

    \b
    Examples:
      claimledger -C ~/research mcp --agent alice
      claude mcp add claimledger -- claimledger -C ~/research mcp
    """
    from claimledger.mcp import serve
    from claimledger.mcp.limits import CallLimits

    ws = state.workspace
    limits = CallLimits.from_workspace(ws, tool_seconds=tool_seconds, run_seconds=run_seconds)
    serve(ws, agent, limits)


COMMANDS = [mcp]
