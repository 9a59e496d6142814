"""The planner part of claimledger."""
