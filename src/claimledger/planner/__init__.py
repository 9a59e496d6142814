"""The planner: proposals from the graph and the ledger, evidence for claims, the brief.

Public API:
    Proposal, list_proposals, read_proposal      -- ledger/proposals/ (proposal.schema.json)
    write_proposal, mark_answered, proposal_id   -- writing them and closing them with runs
    plan, plan_state, STRATEGIES                 -- the next experiments (claims | tpe | random)
    assess, plan_changes, apply_changes          -- evidence from the ledger, applied to claims
    build_brief, render_brief                    -- what an agent reads before a run
"""

from claimledger.planner.brief import build_brief, render_brief
from claimledger.planner.evidence import ClaimEvidence, assess
from claimledger.planner.plan import STRATEGIES, plan, plan_state
from claimledger.planner.proposals import (
    Proposal,
    list_proposals,
    mark_answered,
    proposal_id,
    proposals_dir,
    read_proposal,
    write_proposal,
)
from claimledger.planner.updates import ClaimChange, apply_changes, plan_changes

__all__ = [
    "STRATEGIES",
    "ClaimChange",
    "ClaimEvidence",
    "Proposal",
    "apply_changes",
    "assess",
    "build_brief",
    "list_proposals",
    "mark_answered",
    "plan",
    "plan_changes",
    "plan_state",
    "proposal_id",
    "proposals_dir",
    "read_proposal",
    "render_brief",
    "write_proposal",
]
