"""Workspace discovery, configuration and `init`."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimledger.errors import ConfigError, WorkspaceNotFoundError
from claimledger.scaffold import init_workspace
from claimledger.workspace import Workspace, any_glob, glob_to_regex, walk_files


def test_root_is_found_from_any_subfolder(workspace: Path) -> None:
    deep = workspace / "kb" / "optimizer"
    assert Workspace.open(deep).root == workspace.resolve()


def test_no_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="claimledger init"):
        Workspace.open(tmp_path)


def test_bad_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "claimledger.toml").write_text("[layout]\nclaimz = ['x']\n")
    with pytest.raises(ConfigError, match="claimz") as error:
        Workspace.open(tmp_path)
    assert error.value.path.endswith("claimledger.toml")
    (tmp_path / "claimledger.toml").write_text("[layout\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        Workspace.open(tmp_path)


def test_globs_match_nested_and_top_level_files() -> None:
    pattern = glob_to_regex("kb/**/*.md")
    assert pattern.match("kb/a.md") and pattern.match("kb/x/y/a.md")
    assert not pattern.match("kbx/a.md") and not pattern.match("kb/a.md.bak")


def test_init_makes_a_fresh_workspace_once(tmp_path: Path) -> None:
    root = tmp_path / "new"
    first = init_workspace(root, git=True)
    assert not first.existing_vault
    for folder in ("kb", "inbox", "ledger/records", "ledger/proposals", "schemas"):
        assert (root / folder).is_dir()
    assert (root / "schemas" / "claim.schema.json").is_file()
    assert (root / ".claimledger" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not (root / ".gitignore").exists()
    assert (root / ".git").exists()
    assert Workspace.open(root).root == root.resolve()
    assert init_workspace(root).created == []


def test_hidden_folders_are_not_walked(workspace: Path) -> None:
    hidden = workspace / "kb" / ".obsidian" / "x.md"
    hidden.parent.mkdir()
    hidden.write_text("---\ntype: claim\n---\n")
    assert not any(".obsidian" in f for f in Workspace.open(workspace).claim_files())


def test_suffix_globs_match_exactly_what_the_glob_regex_matches(tmp_path: Path) -> None:
    files = "kb/a.md kb/x/b.md kb/x/y/c.md kb/d.txt kb/x/e.md.bak kb/.hidden/f.md kb/x/.g.md"
    for rel in [*files.split(), "core/h.md", "core/i.MD", "other/j.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / "claimledger.toml").write_text(
        '[layout]\nclaims = ["kb/**/*.md", "core/**/*.md"]\n'
    )
    ws = Workspace.open(tmp_path)
    patterns = ws.config.layout.claims
    regex = any_glob(patterns)
    assert regex is not None
    expected = sorted(
        rel for start in ("kb", "core") for rel in walk_files(ws.root, start) if regex.match(rel)
    )
    assert ws.claim_files() == expected == ["core/h.md", "kb/a.md", "kb/x/b.md", "kb/x/y/c.md"]


def plain_vault(root: Path) -> dict[Path, bytes]:
    """An ordinary Obsidian vault: no `type:` frontmatter, a .gitignore of its own."""
    files = {
        "Home.md": "# Home\n\n[[Idea]] and [[maps/Topics]]\n",
        "ideas/Idea.md": "---\ntags: [x]\n---\nAn idea.\n",
        "maps/Topics.md": "[[Idea]]\n",
        "pics/a.png": "png",
        ".gitignore": "workspace.json\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_init_adopts_an_ordinary_vault_and_changes_no_file(tmp_path: Path) -> None:
    from claimledger.kb import lint, open_index

    root = tmp_path / "vault"
    before = plain_vault(root)
    result = init_workspace(root, git=False)
    assert result.existing_vault and result.notes_found == 3
    assert sorted(result.created) == [".claimledger/.gitignore", "claimledger.toml"]
    after = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    assert {p: b for p, b in after.items() if p in before} == before
    for scaffolded in ("kb", "inbox", "ledger", "schemas", "program.md"):
        assert not (root / scaffolded).exists()
    ws = Workspace.open(root)
    assert ws.note_files() == {"Home.md": "note", "ideas/Idea.md": "note", "maps/Topics.md": "note"}
    with open_index(ws) as conn:
        assert lint(ws, conn) == []
    assert init_workspace(root, git=False).created == []


def test_init_scaffolds_an_existing_vault_only_when_asked(tmp_path: Path) -> None:
    root = tmp_path / "vault"
    plain_vault(root)
    created = init_workspace(root, git=False, scaffold=True).created
    assert {"kb/", "inbox/", "program.md", "schemas/claim.schema.json"} <= set(created)
