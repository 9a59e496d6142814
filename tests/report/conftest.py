"""Report fixtures: the embedded workspace with runs on two branches, an adoption, a claim
that cites a run, a review flag and an open proposal; and the site built from it once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from claimledger.kb import new_claim, read_note, write_note
from claimledger.ledger import add_run, adopt
from claimledger.planner import Proposal, proposal_id, write_proposal
from claimledger.report import build_report
from claimledger.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
PLATFORM = "cpu-2core-60s"
CITING = "kb/optimizer/Fixture claim that cites runs.md"
FLAGGED = "kb/optimizer/Fixture claim flagged as a duplicate.md"
TESTED = "Fixture claim that a proposal tests"
FIXTURE_CLAIMS = {
    CITING: "Three runs on `cpu-2core-60s` back this: doubling `lr` from 0.003 to 0.006 took "
    "the best kept val_bpb of `main` from 2.40 to 2.31, and the branch `research/wide` that "
    "adopted it went on to 2.29.\n\nIt builds on [[Fixture claim that a proposal tests]] and "
    "says much the same as [[fixture claim flagged as a duplicate|the flagged claim]]; a run "
    "that [[Nobody wrote this claim yet]] would settle it.\n\n| seed | val_bpb |\n|---|---|\n"
    "| 0 | 2.40 |\n| 1 | 2.31 |",
    FLAGGED: "Says much the same as [[Fixture claim that a proposal tests#Evidence]].",
    f"kb/optimizer/{TESTED}.md": "## Evidence\n\nCited by [[Fixture claim that cites runs]].",
}


def _runs(ws: Workspace) -> list[str]:
    ids = []
    for i, (bpb, status) in enumerate([(2.40, "keep"), (2.45, "discard"), (2.31, "keep")]):
        ids.append(
            add_run(
                ws,
                branch="main",
                commit=f"{i + 1:07x}",
                platform=PLATFORM,
                status=status,
                agent="tester",
                metrics={"val_bpb": bpb},
                config_diff={"lr": [0.003, 0.006]},
                started=f"2026-11-2{i}T10:00:00Z",
            )
        )
    adopt(ws, "research/wide", "main", commit="0000003", agent="tester")
    for i, bpb in enumerate([2.29, 2.35]):
        ids.append(
            add_run(
                ws,
                branch="research/wide",
                commit=f"{i + 10:07x}",
                platform=PLATFORM,
                status="keep" if bpb < 2.3 else "discard",
                agent="tester",
                metrics={"val_bpb": bpb},
                started=f"2026-11-22T1{i}:00:00Z",
            )
        )
    ids.append(
        add_run(
            ws,
            branch="main",
            commit="00000ff",
            platform=PLATFORM,
            status="crash",
            agent="tester",
            metrics={},
            crash_reason="nan loss at step 40",
            started="2026-11-23T10:00:00Z",
        )
    )
    return ids


def _edit(ws: Workspace, rel: str, fields: dict[str, Any]) -> None:
    note = read_note(ws.root / rel)
    note.set_fields(fields)
    write_note(ws.root / rel, note)


def make_workspace(root: Path) -> Workspace:
    """A copy of the embedded workspace with a ledger, a flag and a proposal."""
    for folder in ("kb", "inbox", "ledger", "schemas"):
        shutil.copytree(REPO / folder, root / folder)
    ws = Workspace.open(root)
    for rel, body in FIXTURE_CLAIMS.items():
        title = Path(rel).stem
        new_claim(
            ws,
            title,
            {
                "domain": "optimizer",
                "description": "A fixture of the report tests, with runs, links and a flag.",
                "confidence": "likely",
                "source": "the report tests",
            },
            body,
        )
    ids = _runs(ws)
    _edit(ws, CITING, {"provenance": {"runs": [ids[0], ids[2], "f" * 64]}})
    flag = {
        "reason": "possible-duplicate",
        "related": f"[[{TESTED}]]",
        "score": 0.91,
        "date": "2026-11-23",
    }
    _edit(ws, FLAGGED, {"review": [flag]})
    diff = {"weight_decay": [0.0, 0.1]}
    write_proposal(
        ws,
        Proposal(
            id=proposal_id(PLATFORM, diff, __import__("datetime").date(2026, 11, 23)),
            platform=PLATFORM,
            created="2026-11-23",
            strategy="test",
            why="replication",
            config_diff=diff,
            set={"weight_decay": 0.1},
            tests=[f"[[{TESTED}]]"],
            expected={"metric": "val_bpb", "delta": 0.0},
            body=f"Replicate [[{TESTED}]] before building on it.\n",
        ),
    )
    return ws


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path, Any]:
    """The report of the fixture workspace, built once for the package's tests."""
    root = tmp_path_factory.mktemp("report") / "research"
    root.mkdir()
    ws = make_workspace(root)
    out = root.parent / "site"
    result = build_report(ws, out)
    return ws, out, result
