"""Structure: parts never import the CLI, and `claimledger --help` loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "claimledger"
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
