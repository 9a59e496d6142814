"""Lint reports each kind of problem with its file and line, on a constructed vault."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from claimledger.cli import main
from claimledger.kb import lint, open_index
from claimledger.ledger import add_run
from claimledger.workspace import Workspace

GOOD = """---
type: claim
domain: optimizer
description: d
confidence: speculative
source: s
created: 2026-11-22
{extra}---
# {title}

{body}
"""


def claim(
    root: Path, title: str, body: str = "", extra: str = "", domain: str = "optimizer"
) -> None:
    path = root / "kb" / domain / f"{title}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = GOOD.format(title=title, body=body, extra=extra).replace(
        "domain: optimizer", f"domain: {domain}"
    )
    path.write_text(text)


def findings_for(root: Path) -> dict[str, list]:
    (root / "ledger").mkdir(exist_ok=True)
    ws = Workspace.open(root)
    with open_index(ws) as conn:
        found = lint(ws, conn)
    by_code: dict[str, list] = {}
    for f in found:
        by_code.setdefault(f.code, []).append(f)
    return by_code


def test_clean_vault_has_no_findings(tmp_path: Path) -> None:
    claim(tmp_path, "A", "links to [[B]]")
    claim(tmp_path, "B", "links to [[a]]")
    assert findings_for(tmp_path) == {}


def test_each_problem_is_named_with_file_and_line(tmp_path: Path) -> None:
    claim(tmp_path, "A", "text\n\n[[Nowhere]]")
    claim(tmp_path, "B", extra="confidence: certain\n")
    claim(tmp_path, "C", extra="tags: [unclosed\n")
    claim(tmp_path, "D", domain="astrology")
    (tmp_path / "kb" / "optimizer" / "E.md").write_text("---\ntype: claim\n---\n# Something else\n")
    claim(tmp_path, "a", domain="data")
    found = findings_for(tmp_path)
    dangling = found["dangling-link"][0]
    assert (dangling.path, dangling.line) == ("kb/optimizer/A.md", 13)
    assert any("confidence" in f.message for f in found["schema"])
    assert found["broken-yaml"][0].path == "kb/optimizer/C.md"
    assert found["broken-yaml"][0].line == 9
    assert {f.path for f in found["unknown-domain"]} == {"kb/astrology/D.md"}
    missing = {f.message for f in found["missing-field"] if f.path == "kb/optimizer/E.md"}
    assert "'description' is a required property" in missing
    assert found["title-mismatch"][0].path == "kb/optimizer/E.md"
    assert {f.path for f in found["duplicate-title"]} == {"kb/optimizer/A.md", "kb/data/a.md"}


def test_a_note_with_broken_yaml_keeps_its_field_links(tmp_path: Path) -> None:
    claim(tmp_path, "A", extra="tags: [unclosed\ndepends_on:\n- '[[Missing premise]]'\n")
    found = findings_for(tmp_path)
    assert [f.path for f in found["broken-yaml"]] == ["kb/optimizer/A.md"]
    dangling = [f for f in found["dangling-link"] if "Missing premise" in f.message]
    assert [f.path for f in dangling] == ["kb/optimizer/A.md"]


def test_depends_on_cycle_is_found(tmp_path: Path) -> None:
    claim(tmp_path, "A", extra="depends_on: ['[[B]]']\n")
    claim(tmp_path, "B", extra="depends_on: ['[[A]]']\n")
    assert len(findings_for(tmp_path)["depends-cycle"]) == 1


def test_ambiguous_link_between_equally_near_notes(tmp_path: Path) -> None:
    claim(tmp_path, "X", domain="optimizer")
    claim(tmp_path, "X", domain="data")
    claim(tmp_path, "Linker", "[[X]]", domain="scaling")
    assert findings_for(tmp_path)["ambiguous-link"][0].path == "kb/scaling/Linker.md"


def test_embedded_seed_workspace_is_lint_clean(workspace: Path) -> None:
    assert findings_for(workspace) == {}


def test_provenance_names_unknown_runs_branches_and_missing_sources(
    workspace: Path, runner: CliRunner
) -> None:
    ws = Workspace.open(workspace)
    run_id = add_run(ws, branch="main", commit="abc1234", platform="cpu-2core-60s",
                     status="keep", metrics={"val_bpb": 2.3}, agent="t")  # fmt: skip
    note = ws.claims_dir / "optimizer" / "Provenance is checked, not trusted.md"
    note.write_text(
        "---\ntype: claim\ndomain: optimizer\ndescription: d\nconfidence: speculative\n"
        "source: s\ncreated: 2026-11-23\nbranches: [main, research/ghost]\nprovenance:\n"
        f"  runs: [{run_id}, {'f' * 64}]\n  sources: [inbox/nowhere.md]\n---\n\nBody.\n"
    )
    result = runner.invoke(main, ["-C", str(workspace), "lint", "--json"])
    found = {(f["code"], f["path"]) for f in json.loads(result.output)["findings"]}
    rel = "kb/optimizer/Provenance is checked, not trusted.md"
    assert found == {("unknown-run", rel), ("unknown-branch", rel), ("dangling-link", rel)}
    assert result.exit_code == 1
