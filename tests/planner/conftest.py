"""Fixtures for the planner tests: the trainer tests' small corpus, constructed ledgers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claimledger.ledger import add_run
from claimledger.trainer import trainer_defaults
from claimledger.workspace import Workspace
from tests.trainer.conftest import write_corpus

PLATFORM = "cpu-2core-tok200K"


def add_seed_run(
    ws: Workspace, seed: int, bpb: float, status: str = "keep", **changes: Any
) -> None:
    """Record one run of the trainer defaults with `changes` on PLATFORM, as seed `seed`."""
    add_run(
        ws,
        branch="main",
        commit="c0",
        platform=PLATFORM,
        status=status,
        metrics={"val_bpb": bpb},
        config={**trainer_defaults(), **changes},
        config_diff={},
        seed=seed,
    )


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-file corpus a tiny model learns from in a few dozen steps."""
    return write_corpus(tmp_path_factory.mktemp("corpus") / "text")
