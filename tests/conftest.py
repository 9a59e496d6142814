"""Shared fixtures: a copy of the embedded workspace, the teleo-sample fixture, a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.inbox.llm_server import LLMServer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TELEO = SHARED / "fixtures" / "teleo-sample"
AUTORESEARCH = SHARED / "fixtures" / "autoresearch"
WORKSPACE_FOLDERS = ("kb", "inbox", "ledger", "schemas")

TELEO_CONFIG = """\
[layout]
claims = ["domains/**/*.md", "core/**/*.md", "foundations/**/*.md"]
sources = ["inbox/archive/**/*.md"]
claims_dir = "domains"
inbox_dir = "inbox/archive"

[kb]
domains = ["internet-finance", "entertainment", "health", "ai-alignment", "space-development",
  "grand-strategy", "mechanisms", "living-capital", "living-agents", "teleohumanity",
  "critical-systems", "collective-intelligence", "teleological-economics", "cultural-dynamics"]
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of this repository's embedded workspace (kb/, inbox/, ledger/, schemas/)."""
    root = tmp_path / "ws"
    root.mkdir()
    for folder in WORKSPACE_FOLDERS:
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, root / folder)
    (root / "ledger").mkdir(exist_ok=True)
    return root


@pytest.fixture
def teleo(tmp_path: Path) -> Path:
    """A writable copy of ../shared/fixtures/teleo-sample opened by a claimledger.toml only."""
    if not TELEO.exists():
        pytest.skip("../shared/fixtures/teleo-sample is absent")
    root = tmp_path / "teleo"
    shutil.copytree(TELEO, root)
    (root / "claimledger.toml").write_text(TELEO_CONFIG)
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def server() -> Iterator[LLMServer]:
    """A local OpenAI-compatible server standing in for an LLM provider."""
    with LLMServer() as running:
        yield running
