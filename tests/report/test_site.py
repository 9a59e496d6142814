"""The report's files: every page and link is there, nothing points at the network, and
each page holds what it should. (The browser tests open the same site in Chromium.)"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from claimledger.cli import main
from claimledger.report import build_report
from claimledger.report.catalog import page_name
from claimledger.workspace import Workspace
from tests.report.conftest import CITING, FLAGGED, TESTED

LINK = re.compile(r'(?:href|src)="([^"]*)"')


def local_targets(page: Path) -> list[str]:
    return [u for u in LINK.findall(page.read_text(encoding="utf-8")) if not u.startswith("#")]


def test_every_link_and_asset_of_every_page_exists(site) -> None:
    _, out, result = site
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == result.pages and result.problems == []
    for page in pages:
        for url in local_targets(page):
            assert not re.match(r"^[a-z]+:", url), f"{page.name} reaches out to {url}"
            target = (page.parent / unquote(url.split("#")[0])).resolve()
            assert target.is_file(), f"{page.relative_to(out)} links to missing {url}"


def test_claim_page_shows_body_links_backlinks_and_evidence_runs(site) -> None:
    _, out, _ = site
    html = (out / "notes" / page_name(CITING)).read_text(encoding="utf-8")
    assert '<a class="wikilink" href="' in html and "Backlinks (" in html
    assert "Evidence runs" in html and "val_bpb 2.3100" in html and "not in the ledger" in html
    assert "lr: 0.003 → 0.006" in html


def test_ledger_pages_show_leaderboard_forest_and_plots(site) -> None:
    _, out, result = site
    board = (out / "leaderboard.html").read_text(encoding="utf-8")
    assert board.index("research/wide") < board.index("<td>main</td>")  # 2.29 beats 2.31
    forest = (out / "branches.html").read_text(encoding="utf-8")
    assert "from main at <code>0000003</code>" in forest and "└ " in forest
    assert result.plots == 3 and len(list((out / "plots").glob("*.png"))) == 3


def test_review_and_proposal_pages(site) -> None:
    _, out, _ = site
    review = (out / "review.html").read_text(encoding="utf-8")
    assert "possible-duplicate" in review and page_name(FLAGGED) in review
    proposals = (out / "proposals.html").read_text(encoding="utf-8")
    assert (
        "replication" in proposals and proposals.count(page_name(f"kb/optimizer/{TESTED}.md")) == 2
    )


def small_vault(root: Path, bodies: dict[str, str]) -> Path:
    for title, body in bodies.items():
        note = root / "kb" / "optimizer" / f"{title}.md"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(f"---\ntype: claim\n---\n# {title}\n\n{body}\n", encoding="utf-8")
    (root / "ledger").mkdir(exist_ok=True)
    return root


def test_hostile_markup_in_a_note_is_escaped(tmp_path: Path) -> None:
    body = "<script>alert(1)</script> [[<img src=x>]] [[B|<b>bold</b>]]"
    root = small_vault(tmp_path / "ws", {"A": body, "B": ""})
    build_report(Workspace.open(root), tmp_path / "site")
    html = (tmp_path / "site" / "notes" / page_name("kb/optimizer/A.md")).read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<img src=x>" not in html and "<b>bold" not in html


def test_a_vault_above_the_threshold_is_written_by_worker_processes(tmp_path: Path, runner) -> None:
    root = tmp_path / "ws"
    for i in range(450):
        note = root / "kb" / "optimizer" / f"Claim number {i}.md"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(
            f"---\ntype: claim\n---\n# Claim number {i}\n\nSee [[Claim number {i // 2}]].\n"
        )
    (root / "ledger").mkdir()
    out = tmp_path / "site"
    done = runner.invoke(main, ["-C", str(root), "report", "--out", str(out), "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert len(list((out / "notes").glob("*.html"))) == 450
    page = (out / "notes" / page_name("kb/optimizer/Claim number 7.md")).read_text()
    assert page_name("kb/optimizer/Claim number 3.md") in page and "Backlinks (2)" in page


def test_a_rebuild_drops_the_pages_of_notes_that_are_gone(tmp_path: Path) -> None:
    root = small_vault(tmp_path / "ws", {"A": "see [[B]]", "B": ""})
    build_report(Workspace.open(root), tmp_path / "site")
    (root / "kb" / "optimizer" / "B.md").rename(root / "kb" / "optimizer" / "C.md")
    build_report(Workspace.open(root), tmp_path / "site")
    names = {p.name for p in (tmp_path / "site" / "notes").iterdir()}
    assert names == {page_name("kb/optimizer/A.md"), page_name("kb/optimizer/C.md")}
