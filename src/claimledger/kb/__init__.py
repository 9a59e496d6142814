"""The kb part of claimledger."""
