"""Structure: parts never import the CLI, and `claimledger --help` loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click

from claimledger.cli import main

SRC = Path(__file__).resolve().parents[1] / "src" / "claimledger"
README = Path(__file__).resolve().parents[1] / "README.md"
HEAVY = ("torch", "litellm", "networkx", "sentence_transformers", "matplotlib", "jsonschema")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_library_parts_never_import_the_cli() -> None:
    for path in SRC.rglob("*.py"):
        if "cli" in path.relative_to(SRC).parts:
            continue
        bad = {m for m in imported_modules(path) if m.startswith("claimledger.cli")}
        assert not bad, f"{path} imports {bad}"


def test_help_loads_no_heavy_module() -> None:
    code = (
        "import sys; from claimledger.cli import main; sys.argv=['claimledger','--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found += all_commands(command, full + " ")
    return found


def test_every_command_has_help_and_a_readme_mention() -> None:
    readme = README.read_text()
    for name, command in all_commands(main):
        assert command.help and len(command.help) > 20, f"{name} lacks help"
        assert f"claimledger {name}" in readme, f"README does not mention `claimledger {name}`"
