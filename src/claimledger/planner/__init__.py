"""The planner: proposals from the graph and the ledger, evidence for claims, the brief, the loop.

Public API:
    Proposal, list_proposals, read_proposal      -- proposals in ledger/proposals/ (CONTRACTS 4)
    write_proposal, mark_answered, proposal_id   -- writing them and closing them with runs
"""

from claimledger.planner.proposals import (
    Proposal,
    list_proposals,
    mark_answered,
    proposal_id,
    proposals_dir,
    read_proposal,
    write_proposal,
)

__all__ = [
    "Proposal",
    "list_proposals",
    "mark_answered",
    "proposal_id",
    "proposals_dir",
    "read_proposal",
    "write_proposal",
]
