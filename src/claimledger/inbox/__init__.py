"""The inbox part of claimledger."""
