"""Compatibility with a real agent knowledge base: ../shared/fixtures/teleo-sample, by config."""

from __future__ import annotations

import json
from pathlib import Path

from claimledger.cli import main
from claimledger.kb import lint, open_index, show_note
from claimledger.workspace import Workspace
from tests.conftest import TELEO


def manifest() -> dict:
    return json.loads((TELEO / "MANIFEST.json").read_text())


def test_every_file_is_indexed(teleo: Path) -> None:
    """Every markdown file is a note (README.md and schemas/*.md too: the claims and sources
    globs classify notes, they do not bound the vault); every other file is an attachment."""
    ws = Workspace.open(teleo)
    markdown = {p.relative_to(teleo).as_posix() for p in teleo.rglob("*.md")}
    typed = {p for p in markdown if p.startswith(("domains/", "inbox/archive/"))}
    with open_index(ws) as conn:
        roles = dict(conn.execute("SELECT path, role FROM notes").fetchall())
        types = dict(conn.execute("SELECT type, COUNT(*) FROM notes GROUP BY type").fetchall())
        files = {row[0] for row in conn.execute("SELECT path FROM attachments")}
    assert set(roles) == markdown
    assert {p for p, role in roles.items() if role != "note"} == typed
    assert types["claim"] == len(manifest()["claims"])
    assert files == {"MANIFEST.json", "claimledger.toml"}


def test_lint_names_every_broken_yaml_file_with_a_line(teleo: Path) -> None:
    ws = Workspace.open(teleo)
    with open_index(ws) as conn:
        findings = lint(ws, conn)
    broken = {f.path for f in findings if f.code == "broken-yaml"}
    assert broken == set(manifest()["yaml_safe_load_breaks"])
    assert all(f.line > 1 for f in findings if f.code == "broken-yaml")


def test_note_with_broken_yaml_is_still_indexed_by_title_body_and_links(teleo: Path) -> None:
    ws = Workspace.open(teleo)
    broken = next(p for p in manifest()["yaml_safe_load_breaks"] if p.startswith("domains/"))
    with open_index(ws) as conn:
        note = show_note(ws, conn, Path(broken).stem)
    assert note["frontmatter"]["type"] == "claim"
    assert "Futarchy treats prior decisions" in note["body"]
    assert note["links"]


def test_processed_sources_link_to_the_claims_they_produced(teleo: Path) -> None:
    ws = Workspace.open(teleo)
    with open_index(ws) as conn:
        for source in manifest()["processed_sources"]:
            links = show_note(ws, conn, source)["links"]
            produced = [lk for lk in links if lk["kind"] == "source-of" and lk["path"]]
            assert produced, source


def test_slug_files_resolve_by_stem_and_by_heading(teleo: Path) -> None:
    ws = Workspace.open(teleo)
    slug = (
        "AI-companion-apps-correlate-with-increased-loneliness-creating-systemic-risk-"
        "through-parasocial-dependency"
    )
    with open_index(ws) as conn:
        by_stem = show_note(ws, conn, slug)
        by_h1 = show_note(ws, conn, slug.replace("-", " ").lower())
    assert by_stem["path"] == by_h1["path"]


def test_map_links_resolve_to_the_nearest_map_without_ambiguity(teleo: Path) -> None:
    ws = Workspace.open(teleo)
    with open_index(ws) as conn:
        findings = lint(ws, conn)
        note = show_note(ws, conn, "domains/entertainment/_map.md")
    ambiguous = [f for f in findings if f.code == "ambiguous-link" and "_map" in f.message]
    assert not ambiguous
    assert all(b["path"].startswith("domains/entertainment/") for b in note["backlinks"])


def test_init_inside_the_vault_fits_it_and_touches_no_note(tmp_path: Path, runner) -> None:
    import shutil

    root = tmp_path / "vault"
    shutil.copytree(TELEO, root)
    before = {p: p.read_bytes() for p in root.rglob("*.md")}
    result = runner.invoke(main, ["init", str(root), "--no-git", "--json"])
    assert result.exit_code == 0, result.output
    assert {p: p.read_bytes() for p in root.rglob("*.md")} == before
    config = (root / "claimledger.toml").read_text()
    assert "domains/**/*.md" in config and "inbox/archive/**/*.md" in config
    lint_result = runner.invoke(main, ["-C", str(root), "lint", "--json"])
    assert lint_result.exit_code == 1
    assert json.loads(lint_result.output)["count"] > 0
