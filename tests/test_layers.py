"""The layer map as a test: a module imports only from its own part or a layer below it, and
no two modules import each other, directly or through others (function-level imports count).

Layers, lowest first (DESIGN.md): errors -> schemas, workspace, files -> kb, ledger -> inbox,
scaffold -> trainer -> planner -> research -> report, mcp -> cli.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src" / "claimledger"
LAYERS: dict[str, int] = {
    "errors": 0,
    "schemas": 1,
    "workspace": 1,
    "files": 1,
    "sqlite_cache": 1,
    "deadline": 1,
    "kb": 2,
    "ledger": 2,
    "inbox": 3,
    "scaffold": 3,
    "trainer": 4,
    "planner": 5,
    "research": 6,
    "report": 7,
    "mcp": 7,
    "cli": 8,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def part_of(module: str) -> str:
    """`claimledger.kb.index` -> `kb`; the package itself is `claimledger`."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The claimledger modules `path` imports anywhere in it, `from x import y` resolved to
    the submodule `x.y` when that is a module."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name in modules}


def import_graph() -> nx.DiGraph:
    paths = {module_name(path): path for path in SRC.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(paths)
    for module, path in paths.items():
        for target in imports_of(path, set(paths)):
            if target != module and not module.startswith(f"{target}."):
                graph.add_edge(module, target)
    return graph


def test_every_part_has_a_layer() -> None:
    parts = {part_of(module) for module in import_graph()} - {"claimledger"}
    assert parts <= set(LAYERS), f"parts without a layer: {sorted(parts - set(LAYERS))}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{source} -> {target}"
        for source, target in import_graph().edges
        if part_of(target) != "claimledger"
        and part_of(source) != "claimledger"
        and LAYERS[part_of(target)] > LAYERS[part_of(source)]
    ]
    assert not upward, "imports that point up the layer map:\n" + "\n".join(sorted(upward))


def test_same_layer_parts_do_not_import_each_other() -> None:
    sideways = [
        f"{source} -> {target}"
        for source, target in import_graph().edges
        if part_of(source) != part_of(target)
        and "claimledger" not in (part_of(source), part_of(target))
        and LAYERS[part_of(target)] == LAYERS[part_of(source)]
    ]
    assert not sideways, "imports between parts of one layer:\n" + "\n".join(sorted(sideways))


def test_no_import_cycles() -> None:
    graph = import_graph()
    # A package's __init__ re-exporting its modules is not a cycle of logic.
    for module in [m for m in graph if (SRC.parent / m.replace(".", "/") / "__init__.py").exists()]:
        graph.remove_edges_from([(module, target) for target in list(graph.successors(module))])
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles[:20])


CREATE_TABLE = re.compile(r"CREATE (?:VIRTUAL )?TABLE (?:IF NOT EXISTS )?(\w+)")
SQL_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+(\w+)")


def tables_of(part: str) -> set[str]:
    """The SQLite tables a part's index creates (kb's notes, links...; the ledger's runs...)."""
    return {t for p in (SRC / part).rglob("*.py") for t in CREATE_TABLE.findall(p.read_text())}


def sql_tables_in(path: Path) -> set[str]:
    """Tables named after FROM, JOIN, INTO or UPDATE in the module's strings (f-strings too)."""
    strings = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    return {table for text in strings for table in SQL_TABLE.findall(text)}


def test_only_kb_and_ledger_query_their_own_tables() -> None:
    """Other parts read the kb index and the ledger index through kb/queries.py and
    ledger/queries.py, which return typed rows, never by SQL of their own."""
    owners = {part: tables_of(part) for part in ("kb", "ledger")}
    assert {"notes", "links"} <= owners["kb"] and {"records", "runs"} <= owners["ledger"]
    assert "notes" in sql_tables_in(SRC / "kb" / "queries.py")
    trespass = [
        f"{module_name(path)}: {table} ({owner}'s)"
        for path in SRC.rglob("*.py")
        for table in sql_tables_in(path)
        for owner, tables in owners.items()
        if table in tables - owners.get(part_of(module_name(path)), set())
    ]
    assert not trespass, "SQL on another part's tables:\n" + "\n".join(sorted(trespass))


def test_the_test_sees_real_imports() -> None:
    """Guard against a parser that finds nothing: known edges must be seen."""
    graph = import_graph()
    assert graph.has_edge("claimledger.kb.index", "claimledger.workspace")
    assert graph.number_of_edges() > 100
