"""`claimledger mcp`: serve the workspace to an agent over the Model Context Protocol.

The MCP SDK is imported inside the command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

from typing import Any

import click


@click.command("mcp")
@click.option("--agent", help="Who the tools act as (default: $CLAIMLEDGER_AGENT or user@host).")
@click.pass_obj
def mcp(state: Any, agent: str | None) -> None:
    """Serve this workspace's tools to an agent over stdio (Model Context Protocol).

    Tools: search_claims, read_claim, neighbourhood, brief, leaderboard, best_config,
    list_proposals, plan, lease_proposal, run, record_run, sync, add_source, write_claim,
    enrich_claim. An agent client starts this command itself; see docs/mcp.md for
    the lines that connect Claude Code, Claude Desktop, Cursor and other clients.

    \b
    Examples:
      claimledger -C ~/research mcp --agent alice
      claude mcp add claimledger -- claimledger -C ~/research mcp
    """
    from claimledger.mcp import serve

    serve(state.workspace, agent)


COMMANDS = [mcp]
