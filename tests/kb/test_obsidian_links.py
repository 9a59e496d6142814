"""Links resolve as Obsidian resolves them, on a vault with every case (issue 20).

The vault has no `type:` frontmatter and no claimledger layout: an ordinary Obsidian vault,
opened by an empty claimledger.toml. Each expectation is what Obsidian shows for that link.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claimledger.kb import build_graph, lint, open_index, show_note
from claimledger.workspace import Workspace

HOME = """---
related: "[[Other Note]]"
up:
  - "[[maps/Index]]"
note: plain text is not a link
---
# Home

Plain [[Target]], any case [[target]], with extension [[Target.md]].
Heading [[Target#Heading One]], block [[Target#^blk1]], alias [[Target|shown]].
Same note [[#Local heading]] and [[#^local]].

| column | link |
|---|---|
| row | [[Target\\|label in a table]] |

![[image.jpg]] and [[file.pdf]] and [[Board.canvas]].
![[voice.mp3]] ![[clip.mp4]] ![[pic.webp]]
Missing file [[missing.png]].
Alias [[Alias of target]], H1 [[Heading One]], title [[Frontmatter title]].
Markdown [text](notes/Target.md), [spaced](Other%20Note.md), [web](https://example.com),
[mail](mailto:a@b.c), ![alt](attachments/image.jpg), [anchor](#Local%20heading).
Outside the claim folders: [[maps/Index]].
Two notes named Same, neither nearer: [[Same]]; with a folder: [[a/Same]].
A root note and a nested one: [[Dup]].
In code: `[[Not a link]]`.

## Local heading
"""

FILES = {
    "Home.md": HOME,
    "Other Note.md": "Other.\n",
    "Dup.md": "Root dup.\n",
    "sub/Dup.md": "Nested dup.\n",
    "notes/Target.md": (
        "---\naliases: [Alias of target]\ntitle: Frontmatter title\n---\n"
        "# Heading One\n\nText ^blk1\n"
    ),
    "maps/Index.md": "A map: [[Target]].\n",
    "a/Same.md": "Same in a.\n",
    "b/Same.md": "Same in b.\n",
    "a/Linker.md": "[[Same]] is my neighbour; [[./Same]] and [[../b/Same]], [[../../Outside]].\n",
    "a/deep/Rel.md": "[[../Same]] and [[./Missing]] and [[/b/Same]] and [[/Same]].\n",
    "attachments/image.jpg": "jpg",
    "attachments/file.pdf": "pdf",
    "Board.canvas": "{}",
    "media/voice.mp3": "mp3",
    "media/clip.mp4": "mp4",
    "media/pic.webp": "webp",
}

# (target as written, path it resolves to or None, embed) for every link of Home.md.
HOME_LINKS = [
    ("Other Note", "Other Note.md", False),  # property link
    ("maps/Index", "maps/Index.md", False),  # property link in a list
    ("Target", "notes/Target.md", False),
    ("target", "notes/Target.md", False),
    ("Target.md", "notes/Target.md", False),
    ("Target", "notes/Target.md", False),  # #Heading One
    ("Target", "notes/Target.md", False),  # #^blk1
    ("Target", "notes/Target.md", False),  # |shown
    ("", "Home.md", False),  # [[#Local heading]]
    ("", "Home.md", False),  # [[#^local]]
    ("Target", "notes/Target.md", False),  # escaped pipe in a table
    ("image.jpg", "attachments/image.jpg", True),
    ("file.pdf", "attachments/file.pdf", False),
    ("Board.canvas", "Board.canvas", False),
    ("voice.mp3", "media/voice.mp3", True),
    ("clip.mp4", "media/clip.mp4", True),
    ("pic.webp", "media/pic.webp", True),
    ("missing.png", None, False),
    ("Alias of target", None, False),  # Obsidian does not resolve aliases
    ("Heading One", None, False),  # nor H1s
    ("Frontmatter title", None, False),  # nor frontmatter titles
    ("notes/Target.md", "notes/Target.md", False),
    ("Other Note.md", "Other Note.md", False),
    ("attachments/image.jpg", "attachments/image.jpg", True),
    ("", "Home.md", False),  # [anchor](#Local%20heading)
    ("maps/Index", "maps/Index.md", False),
    ("Same", "a/Same.md", False),  # ambiguous: reported, nearest-then-shortest still chosen
    ("a/Same", "a/Same.md", False),
    ("Dup", "Dup.md", False),  # the one in the linking note's folder
]


AMBIGUOUS = "ambiguous link [[Same]] matches a/Same.md, b/Same.md; using a/Same.md"


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (root / ".obsidian").mkdir()
    (root / ".obsidian" / "app.json").write_text("{}")
    (root / "claimledger.toml").write_text("")
    return root


def links_of(root: Path, name: str) -> list[tuple[str, str | None, bool]]:
    ws = Workspace.open(root)
    with open_index(ws) as conn:
        note = show_note(ws, conn, name)
    return [(lk["target"], lk["path"], lk["embed"]) for lk in note["links"]]


def test_every_link_of_the_home_note_resolves_as_in_obsidian(vault: Path) -> None:
    assert sorted(links_of(vault, "Home.md"), key=repr) == sorted(HOME_LINKS, key=repr)


def test_relative_and_root_paths_resolve_only_there(vault: Path) -> None:
    assert sorted(links_of(vault, "a/Linker.md")) == [
        ("../../Outside", None, False),  # climbs out of the vault
        ("../b/Same", "b/Same.md", False),
        ("./Same", "a/Same.md", False),
        ("Same", "a/Same.md", False),  # the note in the linking note's own folder
    ]
    assert sorted(links_of(vault, "a/deep/Rel.md")) == [
        ("../Same", "a/Same.md", False),
        ("./Missing", None, False),
        ("/Same", None, False),  # no Same.md at the root
        ("/b/Same", "b/Same.md", False),
    ]


def test_lint_reports_only_the_real_problems(vault: Path) -> None:
    ws = Workspace.open(vault)
    with open_index(ws) as conn:
        findings = lint(ws, conn)
    found = {(f.code, f.path, f.message.split(":")[0]) for f in findings}
    dangling = ["missing.png", "Alias of target", "Heading One", "Frontmatter title"]
    assert found == {
        *{("dangling-link", "Home.md", f"dangling link [[{t}]]") for t in dangling},
        ("dangling-link", "a/Linker.md", "dangling link [[../../Outside]]"),
        ("dangling-link", "a/deep/Rel.md", "dangling link [[./Missing]]"),
        ("dangling-link", "a/deep/Rel.md", "dangling link [[/Same]]"),
        ("ambiguous-link", "Home.md", AMBIGUOUS),
    }
    hint = next(f for f in findings if "[[Heading One]]" in f.message)
    assert "H1 of notes/Target.md" in hint.message


def test_backlinks_and_edges_follow_the_same_rules(vault: Path) -> None:
    ws = Workspace.open(vault)
    with open_index(ws) as conn:
        target = show_note(ws, conn, "notes/Target.md")
        index = show_note(ws, conn, "maps/Index.md")
        graph = build_graph(conn)
    sources = [b["path"] for b in target["backlinks"]]
    # Home's 7 wiki-links that name the file, plus the markdown link; maps/Index's one.
    assert sources.count("Home.md") == 8 and sources.count("maps/Index.md") == 1
    assert [b["path"] for b in index["backlinks"]] == ["Home.md", "Home.md"]
    assert not any(u == v for u, v in graph.edges())  # [[#Heading]] makes no self-edge
    assert "attachments/image.jpg" not in graph  # attachments are no nodes


def test_a_new_attachment_resolves_on_the_next_refresh(vault: Path) -> None:
    assert ("missing.png", None, False) in links_of(vault, "Home.md")
    (vault / "media" / "missing.png").write_bytes(b"png")
    assert ("missing.png", "media/missing.png", False) in links_of(vault, "Home.md")
    (vault / "media" / "missing.png").unlink()
    assert ("missing.png", None, False) in links_of(vault, "Home.md")
