"""The MCP server: the library's operations as tools for agents (`claimledger mcp`).

Public API:
    build_server, serve   -- an MCPServer for a workspace; serving it over stdio
    Toolbox, TOOL_NAMES   -- the tools as plain methods (each calls the library), and their names

Importing this package imports the MCP SDK; the CLI imports it only inside `claimledger mcp`.
"""

from claimledger.mcp.server import TOOL_NAMES, Toolbox, build_server, serve

__all__ = ["TOOL_NAMES", "Toolbox", "build_server", "serve"]
