"""claimledger: the shared memory of an agent-driven ML research community."""

__version__ = "0.1.0"
