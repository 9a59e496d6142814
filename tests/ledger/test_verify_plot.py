"""verify's reference checks, and the progress plot."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from claimledger.errors import NotFoundError
from claimledger.ledger import append_record, build_run, plot_progress, retract, verify
from claimledger.workspace import Workspace

from .conftest import FIXTURES, PLATFORM, run

T = "2026-11-22T10:00:00.000000Z"


def problems(ws: Workspace) -> list[str]:
    return [f["problem"] for f in verify(ws)]


def test_a_clean_ledger_verifies(ws: Workspace) -> None:
    rid = run(ws, "a", 1.0, proposal="p-7")
    (ws.ledger_dir / "proposals").mkdir(exist_ok=True)
    (ws.ledger_dir / "proposals" / "p-7.md").write_text("# p-7\n")
    retract(ws, rid, "typo")
    assert verify(ws) == []


def test_references_that_do_not_resolve_are_named(ws: Workspace) -> None:
    run(ws, "a", 1.0, branch="A")
    run(ws, "b", 1.0, proposal="nowhere")
    lease = {
        "kind": "lease",
        "schema_version": 1,
        "proposal": "p",
        "agent": "x",
        "since": "2026-11-22T11:00:00.000000Z",
        "until": T,
        "created": T,
    }
    adopt = {
        "kind": "adopt",
        "schema_version": 1,
        "branch": "B",
        "from_branch": "A",
        "commit": "zzz",
        "agent": "x",
        "created": T,
    }
    lease_id = append_record(ws, lease)
    append_record(ws, adopt)
    append_record(ws, {**adopt, "from_branch": "ghost", "commit": "a"})
    append_record(
        ws,
        {
            "kind": "retract",
            "schema_version": 1,
            "supersedes": "f" * 64,
            "agent": "x",
            "created": T,
            "reason": "r",
        },
    )
    append_record(
        ws,
        build_run(
            branch="A",
            commit="c",
            platform=PLATFORM,
            status="keep",
            metrics={"val_bpb": 1.0},
            agent="x",
            supersedes=lease_id,
        ),
    )
    found = sorted(problems(ws))
    assert len(found) == 6
    for text in (
        "lease ends",
        "which no run of A recorded",
        "adopts branch ghost",
        "supersedes ffff",
        "a run record cannot supersede a lease",
        "answers proposal nowhere",
    ):
        assert any(text in p for p in found), text


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_real_png(ws: Workspace, tmp_path: Path) -> None:
    for i, (status, value) in enumerate(
        [
            ("keep", 1.3),
            ("discard", 1.4),
            ("keep", 1.2),
            ("crash", None),
            ("discard", 9.0),
            ("keep", 1.1),
        ]
    ):
        reason = "OOM" if status == "crash" else None
        run(
            ws,
            f"a{i}",
            value,
            status=status,
            crash_reason=reason,
            branch="A",
            started=f"2026-11-22T10:00:0{i}Z",
        )
    run(ws, "b0", 1.05, branch="B", parent_commit="a5")
    out = tmp_path / "plots" / "progress.png"
    info = plot_progress(ws, out)
    assert info == {"path": str(out), "platform": PLATFORM, "branches": ["A", "B"], "runs": 7}
    width, height = png_size(out)
    assert width > 800 and height > 400
    assert out.stat().st_size > 20_000


@pytest.mark.skipif(not FIXTURES.exists(), reason="../shared/fixtures is absent")
def test_plot_of_the_h100_log(ws: Workspace, tmp_path: Path) -> None:
    from claimledger.ledger import import_tsv

    import_tsv(ws, FIXTURES / "h100-mar8-results.tsv", "mar8", "cuda-H100-300s")
    info = plot_progress(ws, tmp_path / "p.png")
    assert info["runs"] == 126 and png_size(tmp_path / "p.png")[0] > 800


def test_plot_of_an_empty_ledger_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no runs"):
        plot_progress(ws, tmp_path / "p.png")
