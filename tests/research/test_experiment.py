"""`claimledger run`: real trainer subprocesses, real ledger records, a valid run report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claimledger.kb.notes import json_safe, read_note
from claimledger.ledger import read_record, verify
from claimledger.schemas import validation_errors
from claimledger.trainer import DOMAIN_OF_PARAM, trainer_defaults
from claimledger.workspace import Workspace
from tests.trainer.conftest import TINY

TOKENS = "4000"
CLAIMLEDGER = str(Path(sys.executable).with_name("claimledger"))


def claimledger_run(root: Path, corpus: Path, *args: str, code: int = 0) -> dict[str, Any]:
    """`claimledger run` as a subprocess on the tiny model, on a copy of the corpus inside the
    workspace (a run trains on nothing outside it); its --json output."""
    data = root / "corpus"
    if not data.exists():
        shutil.copytree(corpus, data)
    command = [CLAIMLEDGER, "-C", str(root), "run", "--json"]
    command += ["--token-budget", TOKENS, "--data", str(data), "--device", "cpu"]
    command += ["--threads", "1", *(f"--set={s}" for s in TINY), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout)


def report_meta(ws: Workspace, result: dict[str, Any]) -> dict[str, Any]:
    meta = json_safe(read_note(Path(result["report"])).metadata)
    assert validation_errors(ws.schemas_dir, "source", meta) == []
    assert validation_errors(ws.schemas_dir, "run-report", meta) == []
    return meta


@pytest.fixture
def git_workspace(workspace: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "research/tiny", str(workspace)], check=True)
    return workspace


@pytest.mark.slow
def test_run_records_each_seed_and_writes_a_run_report(git_workspace: Path, corpus: Path) -> None:
    ws = Workspace.open(git_workspace)
    first = claimledger_run(git_workspace, corpus, "--seeds", "2")
    assert first["corpus"]["name"] == "corpus"  # its own platform: -tok4K-corpus<hash>
    assert first["platform"].split("-")[-2:] == ["tok4K", f"corpus{first['corpus']['hash'][:8]}"]
    assert first["branch"] == "research/tiny" and first["commit"] == "uncommitted"
    assert [r["seed"] for r in first["runs"]] == [0, 1]
    assert first["status"] == "keep" and first["baseline"] is None
    records = [read_record(ws, r["record_id"]) for r in first["runs"]]
    assert {r["status"] for r in records} == {"keep"}
    assert records[0]["config"]["width"] == 32 and records[0]["token_budget"] == 4000
    # Provenance: what code trained, not only HEAD (here no commit yet, nothing tracked).
    code = records[0]["code"]
    assert len(code["train_py_sha256"]) == 64 and code["dirty"] is False
    # Against the trainer defaults: the tiny model's changes.
    assert records[0]["config_diff"]["width"] == [trainer_defaults()["width"], 32]
    meta = report_meta(ws, first)
    assert meta["format"] == "run-report" and meta["status"] == "unprocessed"
    assert meta["runs"] == [r["record_id"] for r in first["runs"]] and meta["seeds"] == [0, 1]
    assert Path(first["report"]).name.endswith(
        f"run-report-{first['platform'].lower()}-{meta['runs'][0][:8]}.md"
    )
    assert len(meta["results"]["val_bpb"]) == 2 and meta["results"]["status"] == "keep"

    second = claimledger_run(git_workspace, corpus, "--set", "embed_lr=0.01")
    meta = report_meta(ws, second)
    assert meta["config_diff"] == {"embed_lr": [0.03, 0.01]}
    assert meta["domain"] == DOMAIN_OF_PARAM["embed_lr"]
    best = min(first["runs"], key=lambda r: r["val_bpb"])
    assert meta["baseline"]["run"] == best["record_id"]
    assert "embed_lr 0.03 -> 0.01" in meta["title"]
    # Seed 0 against the baseline config's seed 0, not against the better of its two seeds.
    paired = next(r["val_bpb"] for r in first["runs"] if r["seed"] == 0)
    assert second["status"] == ("keep" if second["runs"][0]["val_bpb"] < paired else "discard")
    assert verify(ws) == []


def test_crash_gives_a_crash_record_with_its_reason_and_exit_1(
    workspace: Path, corpus: Path
) -> None:
    ws = Workspace.open(workspace)
    result = claimledger_run(workspace, corpus, "--set", "inject_nan_at_step=2", code=1)
    assert result["commit"] == "none" and result["branch"] == "main"
    record = read_record(ws, result["runs"][0]["record_id"])
    assert record["status"] == "crash" and "loss is nan at step 2" in record["crash_reason"]
    meta = report_meta(ws, result)
    assert meta["results"]["status"] == "crash" and meta["results"]["val_bpb"] == []
    assert meta["results"]["crashes"][0].startswith("seed 0: nan")
    assert verify(ws) == []


def test_code_provenance_hashes_the_script_and_reports_dirty(tmp_path: Path) -> None:
    import hashlib

    from claimledger.research.experiment import code_provenance, workspace_dirty
    from claimledger.trainer.params import TRAIN_PY
    from claimledger.trainer.runner import TrainerOptions

    root = tmp_path / "ws"
    root.mkdir()
    (root / "claimledger.toml").write_text("")
    ws = Workspace.open(root)
    assert workspace_dirty(ws) is None  # not a git repository
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "train.py").write_text("x = 1\n")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    assert workspace_dirty(ws) is False
    (root / "train.py").write_text("x = 2\n")
    assert workspace_dirty(ws) is True
    options = TrainerOptions(token_budget=1000)
    expected = hashlib.sha256(TRAIN_PY.read_bytes()).hexdigest()
    assert code_provenance(ws, options, {}, True) == {"train_py_sha256": expected, "dirty": True}
    given = {"train_py_sha256": "a" * 64}
    assert code_provenance(ws, options, given, None) == {"train_py_sha256": "a" * 64, "dirty": None}
