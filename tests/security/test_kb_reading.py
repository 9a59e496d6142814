"""Hostile notes pushed by a collaborator, read on real paths: real symlinks on disk, the real
`claimledger` command in a subprocess (with its memory capped, as a bomb would hit a real
machine's limit), and the MCP read_claim tool through a real stdio client.

Each note here is something a `git pull` can bring: a symlink to a file outside the workspace,
a YAML alias bomb, a note of gigabytes, a claim whose frontmatter never closes. None of them may
leak a byte from outside the workspace, stop the rest of the vault from indexing, or pass lint.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.client.session import ClientSession

from tests.kb.test_notes import YAML_PIECES, safe_load_outcome
from tests.test_mcp import CLAIMLEDGER, call, fail, init_workspace, with_server

CANARY = "leakcanary7431"  # a token that must never reach an index, a page or an answer
MEMORY_CAP = 2 << 30  # bytes of address space per command: a bomb fails fast, not the machine
CLAIM = """---
type: claim
domain: optimizer
description: A claim that should index and show as usual.
confidence: likely
source: tests
created: 2026-11-22
---
# {title}

{body}
"""
# "Billion laughs": 9 levels of 9 aliases, 9^9 strings once expanded, in under 500 bytes.
BOMB = "---\ntype: claim\n" + "".join(
    f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9 if i else ['lol'] * 9)}]\n" for i in range(9)
)


def claimledger(root: Path, *args: str, umask: int | None = None) -> subprocess.CompletedProcess:
    """The real command on `root`, with the canary in its environment and its memory capped."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        if umask is not None:
            os.umask(umask)

    env = {**os.environ, "CLAIMLEDGER_TEST_API_KEY": CANARY}
    return subprocess.run(
        [CLAIMLEDGER, "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limits,
        timeout=180,
    )


def lint_findings(root: Path) -> tuple[int, dict[str, set[str]]]:
    """`claimledger lint --json`: its exit code and {code: files}."""
    done = claimledger(root, "lint", "--json")
    assert done.stdout, done.stderr
    by_code: dict[str, set[str]] = {}
    for finding in json.loads(done.stdout)["findings"]:
        by_code.setdefault(finding["code"], set()).add(finding["path"])
    return done.returncode, by_code


def write_claim(root: Path, title: str, body: str = "") -> Path:
    path = root / "kb" / "optimizer" / f"{title}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CLAIM.format(title=title, body=body), encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return init_workspace(tmp_path / "ws", "--no-git")


@pytest.fixture
def hostile_links(root: Path, tmp_path: Path) -> Path:
    """A vault with symlinks out of it (to a file, to /proc/self/environ, to a folder, into
    its own .git) next to one that stays inside (to another note), which is fine."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(f"---\ntype: claim\n---\nAPI_KEY={CANARY}\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(f"url = https://user:{CANARY}@example.com/x.git\n")
    write_claim(root, "Real claim", "An argument about learning rates.")
    kb = root / "kb" / "optimizer"
    (kb / "Leak.md").symlink_to(outside / "secret.md")
    (kb / "Environ.md").symlink_to("/proc/self/environ")
    (kb / "Git config.md").symlink_to(root / ".git" / "config")
    (root / "kb" / "elsewhere").symlink_to(outside, target_is_directory=True)
    (kb / "Alias of real.md").symlink_to("Real claim.md")
    return root


OUT_LINKS = {
    "kb/optimizer/Leak.md",
    "kb/optimizer/Environ.md",
    "kb/optimizer/Git config.md",
    "kb/elsewhere",
}


def test_symlinks_out_of_the_workspace_are_never_read_and_lint_names_each(
    hostile_links: Path,
) -> None:
    root = hostile_links
    search = claimledger(root, "search", CANARY, "--json")
    assert search.returncode == 0, search.stderr
    assert CANARY not in search.stdout and json.loads(search.stdout) == []
    for title in ("Leak", "Environ", "Git config"):
        shown = claimledger(root, "show", title)
        assert shown.returncode != 0 and CANARY not in shown.stdout + shown.stderr
    inside = claimledger(root, "show", "Alias of real", "--json")
    assert inside.returncode == 0, inside.stderr
    assert "learning rates" in json.loads(inside.stdout)["body"]
    code, findings = lint_findings(root)
    assert code == 1
    assert findings.get("symlink-outside") == OUT_LINKS


def test_the_report_publishes_nothing_from_outside(hostile_links: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = claimledger(hostile_links, "report", "--out", str(site))
    assert built.returncode == 0, built.stderr
    pages = [p for p in site.rglob("*") if p.is_file() and p.suffix in (".html", ".js", ".json")]
    assert len(pages) > 3
    assert not [p for p in pages if CANARY in p.read_text(encoding="utf-8", errors="replace")]


def test_mcp_read_claim_refuses_a_symlink_out_of_the_workspace(hostile_links: Path) -> None:
    async def steps(client: ClientSession) -> tuple[str, dict[str, Any], dict[str, Any]]:
        refused = await fail(client, "read_claim", {"title": "Leak"})
        inside = await call(client, "read_claim", title="Alias of real")
        found = await call(client, "search_claims", query=CANARY)
        return refused, inside, found

    refused, inside, found = with_server(hostile_links, steps)
    assert CANARY not in refused and "no note titled" in refused
    assert "learning rates" in inside["body"]
    assert found["count"] == 0


def test_a_yaml_alias_bomb_is_a_broken_yaml_finding_and_the_rest_still_works(root: Path) -> None:
    write_claim(root, "Real claim", "An argument about learning rates.")
    bomb = root / "kb" / "optimizer" / "Bomb.md"
    bomb.write_text(BOMB + "---\n# Bomb\n", encoding="utf-8")
    assert len(BOMB.encode()) < 500
    shown = claimledger(root, "show", "Real claim", "--json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "learning rates" in json.loads(shown.stdout)["body"]
    code, findings = lint_findings(root)
    assert code == 1 and "kb/optimizer/Bomb.md" in findings["broken-yaml"]


def test_recursive_and_deeply_nested_yaml_are_broken_yaml_not_a_crash() -> None:
    from claimledger.kb.notes import json_safe, parse_text

    for yaml_text in ("a: &a [1, *a]\n", "a: " + "[" * 5000 + "]" * 5000 + "\n"):
        note = parse_text(f"---\n{yaml_text}---\nbody\n")
        assert [p.code for p in note.problems] == ["broken-yaml"]
        json.dumps(json_safe(note.metadata))


@settings(max_examples=1500, deadline=None)
@given(text=st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join))
def test_the_bounded_note_loader_agrees_with_the_safe_loader(text: str) -> None:
    """Within its budget, the loader notes are read with builds exactly what PyYAML's safe
    loader builds, and fails alike; it refuses only what aliases make recursive."""
    from claimledger.kb.notes import BaseSafeLoader, NoteLoader

    ours = safe_load_outcome(text, NoteLoader)
    theirs = safe_load_outcome(text, BaseSafeLoader)
    if ours[0] == "ConstructorError" and "contains it" in str(ours[1]):
        return  # a recursive document: refused by design
    if ours[0] == theirs[0] == "ok" and ours != theirs:  # NaN is never equal to itself
        assert repr(ours) == repr(theirs)
    else:
        assert ours == theirs


def test_bounded_loader_keeps_merge_keys_and_a_few_aliases() -> None:
    from claimledger.kb.notes import NoteLoader

    text = "base: &b {lr: 0.1, wd: [1, 2]}\nrun:\n  <<: *b\n  lr: 0.2\nagain: *b\n"
    assert yaml.load(text, Loader=NoteLoader) == yaml.safe_load(text)


def test_a_huge_note_is_never_read_whole_and_lint_names_it(root: Path) -> None:
    write_claim(root, "Real claim", "An argument about learning rates.")
    huge = root / "kb" / "optimizer" / "Huge.md"
    with open(huge, "wb") as handle:  # sparse: 3 GiB that take no disk, over the memory cap
        handle.write(b"---\ntype: claim\n---\n")
        handle.truncate(3 << 30)
    shown = claimledger(root, "show", "Real claim", "--json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    code, findings = lint_findings(root)
    assert code == 1 and findings.get("note-too-large") == {"kb/optimizer/Huge.md"}
    refused = claimledger(root, "show", "Huge")
    assert refused.returncode != 0 and "too large" in refused.stderr


def test_a_note_just_over_the_limit_is_indexed_by_name_only(root: Path) -> None:
    write_claim(root, "Long claim", "An argument. " + "padding " * 140_000 + CANARY)
    code, findings = lint_findings(root)
    assert code == 1 and findings.get("note-too-large") == {"kb/optimizer/Long claim.md"}
    search = claimledger(root, "search", CANARY, "--json")
    assert json.loads(search.stdout) == []


def test_a_claim_whose_frontmatter_never_closes_fails_lint(root: Path) -> None:
    write_claim(root, "Real claim", "An argument about learning rates.")
    path = root / "kb" / "optimizer" / "Unclosed.md"
    path.write_text(CLAIM.format(title="Unclosed", body="x").replace("---\n# ", "# ", 1))
    code, findings = lint_findings(root)
    assert code == 1
    assert findings.get("unclosed-frontmatter") == {"kb/optimizer/Unclosed.md"}
    plain = claimledger(root, "lint")
    assert "kb/optimizer/Unclosed.md:1: error: unclosed-frontmatter" in plain.stdout


def test_new_and_rewritten_notes_keep_the_umask_and_the_existing_mode(root: Path) -> None:
    title = "Doubling the embedding learning rate lowers val_bpb at depth 4"
    made = claimledger(
        root,
        *("new", "claim", title, "--domain", "optimizer"),
        *("--description", "d", "--source", "tests"),
        umask=0o002,
    )
    assert made.returncode == 0, made.stderr
    path = root / "kb" / "optimizer" / f"{title}.md"
    assert path.stat().st_mode & 0o777 == 0o664
    path.chmod(0o640)
    retired = claimledger(root, "review", "retire", title, "--reason", "tests", umask=0o002)
    assert retired.returncode == 0, retired.stderr
    assert "retired" in path.read_text(encoding="utf-8")
    assert path.stat().st_mode & 0o777 == 0o640


def test_every_atomic_writer_uses_the_umask(tmp_path: Path) -> None:
    """The shared writer (notes, records, the trainer's data cache, plots): new files get the
    umask's mode, rewritten ones keep theirs, exclusive ones never replace a file."""
    from claimledger.files import write_atomic

    old = os.umask(0o027)
    try:
        path = tmp_path / "a" / "f.json"
        write_atomic(path, "x")
        assert path.stat().st_mode & 0o777 == 0o640
        path.chmod(0o604)
        write_atomic(path, b"y", durable=False)
        assert path.stat().st_mode & 0o777 == 0o604 and path.read_text() == "y"
        with pytest.raises(FileExistsError):
            write_atomic(path, "z", exclusive=True)
        assert path.read_text() == "y" and os.listdir(path.parent) == ["f.json"]
    finally:
        os.umask(old)
