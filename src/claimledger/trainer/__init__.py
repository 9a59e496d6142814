"""The trainer part of claimledger."""
