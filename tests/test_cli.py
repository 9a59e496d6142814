"""The command line: commands, --json, exit codes, errors, hostile titles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from claimledger.cli import main

SEED_TITLE = "QK-norm lets a small GPT train stably at a learning rate twice as high"


def invoke(runner, workspace: Path, *args: str):
    return runner.invoke(main, ["-C", str(workspace), *args], catch_exceptions=False)


def test_index_lint_show_search_graph_on_the_seed(runner, workspace: Path) -> None:
    assert invoke(runner, workspace, "index", "--json").exit_code == 0
    assert invoke(runner, workspace, "lint").exit_code == 0
    hits = json.loads(invoke(runner, workspace, "search", "warmup", "--json").output)
    assert hits and all("title" in h for h in hits)
    note = json.loads(invoke(runner, workspace, "show", hits[0]["title"], "--json").output)
    assert note["path"] == hits[0]["path"]
    graph = json.loads(invoke(runner, workspace, "graph", "--format", "json").output)
    assert len(graph["nodes"]) >= 20 and graph["edges"]
    assert "<graphml" in invoke(runner, workspace, "graph", "--format", "graphml").output
    assert "digraph" in invoke(runner, workspace, "graph", "--format", "dot").output


def test_show_of_unknown_title_is_an_error(runner, workspace: Path) -> None:
    result = invoke(runner, workspace, "show", "No such claim at all")
    assert result.exit_code == 1
    assert "no note titled" in result.output
    as_json = invoke(runner, workspace, "show", "No such claim at all", "--json")
    assert json.loads(as_json.output)["type"] == "NotFoundError"


def test_lint_exits_1_on_findings(runner, workspace: Path) -> None:
    (workspace / "kb" / "optimizer" / "Broken.md").write_text("---\ntype: claim\nx: [\n---\n")
    result = invoke(runner, workspace, "lint", "--json")
    assert result.exit_code == 1
    codes = {f["code"] for f in json.loads(result.output)["findings"]}
    assert {"broken-yaml", "missing-field"} <= codes


def new_claim_args(title: str) -> list[str]:
    return ["new", "claim", title, "--domain", "optimizer", "--description", "d", "--source", "s"]


def test_new_claim_writes_a_valid_note(runner, workspace: Path) -> None:
    result = invoke(
        runner,
        workspace,
        *new_claim_args("Adam beta2 of 0.99 hurts at 60 seconds"),
        "--depends-on",
        SEED_TITLE,
        "--json",
    )
    assert result.exit_code == 0, result.output
    path = workspace / json.loads(result.stdout)["path"]  # stderr: the model loading
    assert path.parent.name == "optimizer"
    assert invoke(runner, workspace, "lint").exit_code == 0
    again = invoke(runner, workspace, *new_claim_args("Adam beta2 of 0.99 hurts at 60 seconds"))
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.parametrize(
    "title",
    [
        "../escape",
        "a/b",
        "nul",
        "CON.txt",
        "x\x00y",
        "tab\there",
        " padded",
        "dots.",
        "a[[b]]",
        "x" * 400,
        "",
        "pipe|title",
        "hash#title",
    ],
)
def test_unsafe_titles_are_refused_and_nothing_is_written(
    runner, workspace: Path, title: str
) -> None:
    before = sorted(workspace.rglob("*"))
    result = invoke(runner, workspace, *new_claim_args(title))
    assert result.exit_code != 0
    assert sorted(workspace.rglob("*")) == before


def test_unknown_option_is_a_usage_error(runner, workspace: Path) -> None:
    assert invoke(runner, workspace, "lint", "--bogus").exit_code == 2


def test_entry_point_runs_as_a_real_process(workspace: Path) -> None:
    exe = Path(sys.executable).parent / "claimledger"
    done = subprocess.run([exe, "-C", workspace, "lint", "--json"], capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout)["count"] == 0
    (workspace / "kb" / "optimizer" / "Bad.md").write_text("---\ntype: claim\n---\n[[Nowhere]]\n")
    done = subprocess.run([exe, "-C", workspace, "lint"], capture_output=True, text=True)
    assert done.returncode == 1 and "Bad.md" in done.stdout and "dangling-link" in done.stdout
    piped = subprocess.run(
        [exe, "-C", workspace, "search", "warmup"], capture_output=True, text=True
    )
    assert piped.stdout.startswith("title\t")  # plain text, not a rich table, when piped


def test_emit_prints_json_with_the_flag_and_the_text_form_without(runner, workspace: Path) -> None:
    text = invoke(runner, workspace, "lint")
    assert text.exit_code == 0 and text.stdout == "no findings\n"
    as_json = invoke(runner, workspace, "lint", "--json")
    assert json.loads(as_json.stdout) == {"findings": [], "count": 0}
    leases = invoke(runner, workspace, "ledger", "lease")
    assert leases.stdout == "no active leases\n"
    assert json.loads(invoke(runner, workspace, "ledger", "lease", "--json").stdout) == []


def test_emit_builds_lazy_data_only_for_json(capsys) -> None:
    from claimledger.cli.output import emit

    def data() -> dict:
        raise AssertionError("built without --json")

    emit(data, False, lambda: print("human"))
    emit({"a": 1}, True, "not printed")
    emit(lambda: {"b": 2}, True, "not printed")
    out = capsys.readouterr().out
    assert out == 'human\n{\n  "a": 1\n}\n{\n  "b": 2\n}\n'


def test_commands_print_through_emit_not_if_as_json() -> None:
    import ast

    import claimledger.cli as cli_package

    branching = set()
    for module in Path(cli_package.__file__).parent.glob("*.py"):
        if module.name == "output.py":  # emit itself
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.If | ast.IfExp) and (
                    isinstance(node.test, ast.Name) and node.test.id == "as_json"
                ):
                    branching.add(f"{module.stem}.{function.name}")
    assert not branching, sorted(branching)
