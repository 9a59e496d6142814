"""The one command, `claimledger`: parses, calls the library, prints. No logic lives here."""

from claimledger.cli import (
    extractor_commands,
    inbox_commands,
    kb_commands,
    ledger_commands,
    mcp_commands,
    planner_commands,
    report_commands,
    review_commands,
    trainer_commands,
)
from claimledger.cli.app import main

for _command in [
    *kb_commands.COMMANDS,
    *inbox_commands.COMMANDS,
    *extractor_commands.COMMANDS,
    *ledger_commands.COMMANDS,
    *review_commands.COMMANDS,
    *report_commands.COMMANDS,
    *trainer_commands.COMMANDS,
    *planner_commands.COMMANDS,
    *mcp_commands.COMMANDS,
]:
    main.add_command(_command)

__all__ = ["main"]
