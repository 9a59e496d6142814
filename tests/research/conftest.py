"""Fixtures for the research tests: the trainer tests' small corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.conftest import write_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-file corpus a tiny model learns from in a few dozen steps."""
    return write_corpus(tmp_path_factory.mktemp("corpus") / "text")
