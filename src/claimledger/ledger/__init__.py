"""The ledger part of claimledger."""
