"""The documentation site builds strictly, and its generated CLI reference covers every command."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from claimledger.cli import main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found += all_commands(command, full + " ")
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_every_command_has_help() -> None:
    for name, command in all_commands(main):
        assert command.help and len(command.help) > 20, f"{name} lacks help"


def test_cli_reference_covers_every_command(site: Path) -> None:
    page = html.unescape((site / "cli" / "index.html").read_text())
    headings = set(re.findall(r"<h[2-6] id=\"[^\"]*\">([^<]+)", page))
    for name, _ in all_commands(main):
        assert f"claimledger {name}" in headings, f"CLI reference lacks `claimledger {name}`"


def test_file_formats_page_lists_every_schema_field(site: Path) -> None:
    page = html.unescape((site / "formats" / "index.html").read_text())
    for field in ("provenance", "effect", "config_diff", "claims_extracted", "supersedes"):
        assert f"<code>{field}</code>" in page, f"formats page lacks {field}"


def test_readme_stays_short_and_links_resolve() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 200
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (REPO / target).exists(), f"README links to missing {target}"
