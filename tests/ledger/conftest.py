"""Ledger fixtures: a workspace copy opened as a Workspace, and a quick way to add runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claimledger.ledger import add_run
from claimledger.workspace import Workspace

PLATFORM = "cpu-2core-60s"
FIXTURES = Path(__file__).parents[2] / ".." / "shared" / "fixtures" / "autoresearch"


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    """The embedded workspace (with its schemas/) copied to tmp_path, opened."""
    return Workspace.open(workspace)


def run(ws: Workspace, commit: str, val_bpb: float | None = 1.0, **fields: Any) -> str:
    """Add a kept run on PLATFORM (branch `main` unless given) and return its id."""
    fields.setdefault("branch", "main")
    fields.setdefault("platform", PLATFORM)
    fields.setdefault("status", "keep")
    fields.setdefault("agent", "tester")
    metrics = fields.pop("metrics", {})
    if val_bpb is not None:
        metrics["val_bpb"] = val_bpb
    return add_run(ws, commit=commit, metrics=metrics, **fields)
