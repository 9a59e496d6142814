"""Exceptions raised by the library; the CLI turns them into messages and exit codes."""

from __future__ import annotations

from pathlib import Path


class ClaimledgerError(Exception):
    """A problem with a file or an operation, carrying the file (if any) and the problem."""

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.problem = problem
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class WorkspaceNotFoundError(ClaimledgerError):
    """No workspace root above the starting folder."""


class InvalidArgumentError(ClaimledgerError):
    """An argument the caller gave is refused: a usage error (the CLI exits with code 2)."""


class ConfigError(ClaimledgerError):
    """claimledger.toml is unreadable or holds an invalid setting."""


class SchemaError(ClaimledgerError):
    """Data about to be written (or just read) breaks the JSON Schema it must follow."""


class NoteError(ClaimledgerError):
    """A note cannot be read, parsed or written."""


class UnsafeTitleError(NoteError):
    """A title cannot safely become a file name."""


class NotFoundError(ClaimledgerError):
    """A named thing (note, record, proposal) does not exist."""


class AmbiguousError(ClaimledgerError):
    """A name matches more than one thing."""


class TrainerError(ClaimledgerError):
    """The trainer's data cannot be prepared or its options are invalid."""


class RecordError(ClaimledgerError):
    """A ledger record is invalid, corrupted or cannot be written."""


class LeaseHeldError(ClaimledgerError):
    """A proposal is already leased by another agent until a later time."""


class SyncError(ClaimledgerError):
    """Synchronising the ledger with a git remote failed."""


class ProposalError(ClaimledgerError):
    """A planner proposal is invalid or cannot be read or written."""


class SourceError(ClaimledgerError):
    """An inbox source note cannot be written or read."""


class CacheDamagedError(ClaimledgerError):
    """A cache under .claimledger/ was found damaged and removed: what read it runs again, and
    so rebuilds it from the files."""


class TimeLimitError(ClaimledgerError):
    """Work ran past the time limit it was given (see claimledger.deadline) and was stopped."""
