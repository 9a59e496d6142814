"""Review: the queue, accept/reject/retire, merge and rename keep every link valid, and the
vault stays readable by Obsidian."""

from __future__ import annotations

import json
from pathlib import Path

from claimledger.cli import main
from claimledger.kb import lint, open_index, read_note
from claimledger.kb.obsidian import obsidian_check
from claimledger.kb.rename import rename_note, rewrite_body
from claimledger.kb.resolve import resolve_links
from claimledger.kb.review import accept, merge, reject, retire, review_queue
from claimledger.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
CLAIM = """---
type: claim
domain: {domain}
description: d
confidence: {confidence}
source: s
created: 2026-11-22
{extra}---
# {title}

{body}
"""


def claim(root: Path, title: str, body: str = "", extra: str = "", **fields: str) -> Path:
    domain = fields.get("domain", "optimizer")
    path = root / "kb" / domain / f"{title}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = CLAIM.format(
        title=title,
        body=body,
        extra=extra,
        domain=domain,
        confidence=fields.get("confidence", "likely"),
    )
    path.write_text(text, encoding="utf-8")
    return path


def vault(root: Path) -> Workspace:
    (root / "ledger").mkdir(parents=True, exist_ok=True)
    return Workspace.open(root)


def lint_codes(ws: Workspace) -> list[str]:
    with open_index(ws) as conn:
        return [f.code for f in lint(ws, conn)]


def test_queue_orders_under_review_flags_proposed_and_lint(tmp_path: Path) -> None:
    claim(tmp_path, "Old", extra="status: under_review\n")
    flag = (
        "review:\n- reason: possible-duplicate\n  related: '[[Old]]'\n  score: 0.93\n"
        "  date: 2026-11-23\n"
    )
    claim(tmp_path, "Fresh", "see [[Nowhere]]", extra=f"status: proposed\n{flag}")
    ws = vault(tmp_path)
    with open_index(ws) as conn:
        items = review_queue(ws, conn)
    reasons = [(i.reason, i.title) for i in items]
    assert reasons == [
        ("under-review", "Old"),
        ("possible-duplicate", "Fresh"),
        ("proposed", "Fresh"),
        ("lint:dangling-link", "Fresh"),
    ]
    assert items[1].related == "[[Old]]" and items[1].score == 0.93


def test_accept_activates_and_drops_flags_leaving_other_lines(tmp_path: Path) -> None:
    extra = "status: proposed\n# kept comment\nreview:\n- reason: low-confidence-extraction\n"
    path = claim(tmp_path, "Fresh", extra=extra)
    ws = vault(tmp_path)
    for _ in range(2):  # idempotent
        with open_index(ws) as conn:
            accept(ws, conn, "fresh")
    note = read_note(path)
    assert note.metadata["status"] == "active" and "review" not in note.metadata
    assert "# kept comment" in note.yaml_text and "last_evaluated" in note.metadata
    with open_index(ws) as conn:
        assert review_queue(ws, conn) == []


def test_reject_and_retire_keep_the_file_and_its_links(tmp_path: Path) -> None:
    claim(tmp_path, "A", "builds on [[B]] and [[C]]")
    b, c = claim(tmp_path, "B"), claim(tmp_path, "C")
    ws = vault(tmp_path)
    with open_index(ws) as conn:
        reject(ws, conn, "B")
        retire(ws, conn, "C", reason="contradicted by later runs")
    assert read_note(b).metadata["status"] == "retired"
    assert read_note(c).metadata["retired_reason"] == "contradicted by later runs"
    assert lint_codes(ws) == []


def test_rename_rewrites_every_link_form_but_not_code(tmp_path: Path) -> None:
    body = (
        "[[Old claim]] and [[old CLAIM|alias]] and [[Old claim#Evidence]] and "
        "![[Old claim#^b1]] and [[optimizer/Old claim]] but `[[Old claim]]` stays.\n\n"
        "```\n[[Old claim]]\n```\n"
    )
    a = claim(tmp_path, "A", body, extra="depends_on:\n- '[[Old claim]]'\n")
    claim(tmp_path, "Old claim", "self: [[Old claim]]")
    source = tmp_path / "inbox" / "2026-11-22-s.md"
    source.parent.mkdir()
    source.write_text(
        "---\ntype: source\ntitle: s\nstatus: processed\nclaims_extracted:\n- Old claim\n"
        "---\nmade [[Old claim]]\n"
    )
    ws = vault(tmp_path)
    with open_index(ws) as conn:
        result = rename_note(ws, conn, "old claim", "New claim")
    assert sorted(result.rewritten) == [
        "inbox/2026-11-22-s.md",
        "kb/optimizer/A.md",
        "kb/optimizer/Old claim.md",
    ]
    text = a.read_text()
    for form in (
        "[[New claim]]",
        "[[New claim|alias]]",
        "[[New claim#Evidence]]",
        "![[New claim#^b1]]",
    ):
        assert form in text
    assert "`[[Old claim]]`" in text and "```\n[[Old claim]]\n```" in text
    assert read_note(a).metadata["depends_on"] == ["[[New claim]]"]
    assert read_note(source).metadata["claims_extracted"] == ["New claim"]
    renamed = tmp_path / "kb" / "optimizer" / "New claim.md"
    assert "# New claim" in renamed.read_text() and not (renamed.parent / "Old claim.md").exists()
    assert lint_codes(ws) == []


def test_renaming_a_source_rewrites_the_provenance_paths_that_name_it(tmp_path: Path) -> None:
    source = tmp_path / "inbox" / "Old source.md"
    source.parent.mkdir()
    source.write_text("---\ntype: source\ntitle: Old source\nstatus: processed\n---\ntext\n")
    sources = "[inbox/Old source.md, inbox/Other.md]"
    a = claim(tmp_path, "A", extra=f"provenance:\n  sources: {sources}\n  commits: [abc1234]\n")
    (tmp_path / "inbox" / "Other.md").write_text("---\ntype: source\ntitle: Other\n---\n")
    ws = vault(tmp_path)
    with open_index(ws) as conn:
        result = rename_note(ws, conn, "old source", "New source")
    assert result.rewritten == ["kb/optimizer/A.md"]
    provenance = read_note(a).metadata["provenance"]
    assert provenance == {
        "sources": ["inbox/New source.md", "inbox/Other.md"],
        "commits": ["abc1234"],
    }
    assert "dangling-link" not in lint_codes(ws)


def test_rewrite_body_keeps_crlf_and_other_links(tmp_path: Path) -> None:
    body = "a [[X]] b [[Y]]\r\nc [[x|k]]\r\n"
    assert rewrite_body(body, {"x"}, "Z") == "a [[Z]] b [[Y]]\r\nc [[Z|k]]\r\n"


def test_merge_moves_argument_links_and_provenance_into_the_kept_claim(tmp_path: Path) -> None:
    run_a, run_b = "a" * 64, "b" * 64
    dup = "review:\n- reason: possible-duplicate\n  related: '[[Keep]]'\n"
    claim(
        tmp_path,
        "Dup",
        "Dup's evidence, see [[Dup]].",
        extra=f"{dup}provenance:\n  runs: [{run_a}]\n",
    )
    keep = claim(tmp_path, "Keep", "Keep's argument.", extra=f"provenance:\n  runs: [{run_b}]\n")
    linker = claim(
        tmp_path, "Linker", "cites [[dup|the duplicate]]", extra="challenged_by: ['[[Dup]]']\n"
    )
    ws = vault(tmp_path)
    with open_index(ws) as conn:
        result = merge(ws, conn, "Dup", "Keep")
    assert result["rewritten"] == ["kb/optimizer/Linker.md"]
    note = read_note(keep)
    assert note.metadata["aliases"] == ["Dup"]
    assert note.metadata["provenance"]["runs"] == [run_b, run_a]
    assert "## Merged from Dup" in note.body and "see [[Keep]]" in note.body
    assert "[[Keep|the duplicate]]" in linker.read_text()
    assert read_note(linker).metadata["challenged_by"] == ["[[Keep]]"]
    assert not (tmp_path / "kb" / "optimizer" / "Dup.md").exists()
    assert lint_codes(ws) == []


def test_obsidian_check_names_what_obsidian_cannot_read(tmp_path: Path) -> None:
    claim(tmp_path, "Tags", extra="tags: optimizer, lr\n")
    claim(tmp_path, "Spaces", extra="tags: [two words]\nlast_evaluated: last week\n")
    claim(tmp_path, "Typed", extra="branches: [a]\nseeds: [1, 2]\n")
    claim(tmp_path, "Typed too", extra="seeds: 3\n")
    claim(tmp_path, "Typed three", extra="seeds: [4]\n")
    ws = vault(tmp_path)
    with open_index(ws) as conn:
        found = list(obsidian_check(ws, conn, resolve_links(conn)))
    messages = {(Path(f.path).stem, f.message.split(" ")[1]) for f in found}
    assert ("Tags", "'tags'") in messages
    assert ("Spaces", "cannot") in messages and ("Spaces", "'last_evaluated'") in messages
    assert ("Typed too", "'seeds'") in messages and len(found) == 4


def test_the_embedded_kb_is_a_clean_obsidian_vault(workspace: Path) -> None:
    ws = Workspace.open(workspace)
    with open_index(ws) as conn:
        assert list(obsidian_check(ws, conn, resolve_links(conn))) == []


def test_review_cli_lists_and_settles(runner, tmp_path: Path) -> None:
    claim(tmp_path, "Fresh", extra="status: proposed\n")
    claim(tmp_path, "Other", "about [[Fresh]]")
    vault(tmp_path)

    def run(*args: str):
        return runner.invoke(main, ["-C", str(tmp_path), *args], catch_exceptions=False)

    queue = json.loads(run("review", "--json").output)
    assert [i["reason"] for i in queue["items"]] == ["proposed"]
    assert run("review", "accept", "Fresh").exit_code == 0
    assert json.loads(run("review", "--json").output)["count"] == 0
    renamed = json.loads(run("review", "rename", "Fresh", "Fresher", "--json").output)
    assert renamed["rewritten"] == ["kb/optimizer/Other.md"]
    missing = run("review", "accept", "No such claim")
    assert missing.exit_code == 1 and "no note titled" in missing.output
