"""`claimledger ledger ...`: every sub-command through CliRunner, and verify's exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimledger.cli import main
from claimledger.ledger import record_path
from claimledger.workspace import Workspace

from .conftest import FIXTURES

H100 = FIXTURES / "h100-mar8-results.tsv"
GPU = "cuda-H100-300s"


def cli(root: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["-C", str(root), "ledger", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def cli_json(root: Path, *args: str, code: int = 0) -> object:
    return json.loads(cli(root, *args, "--json", code=code))


def add_args(commit: str, *extra: str) -> list[str]:
    return ["add-run", "--branch", "exp/a", "--commit", commit, "--platform", GPU, *extra]


def test_add_run_log_best_and_show(workspace: Path) -> None:
    first = cli(
        workspace,
        *add_args(
            "c1",
            "--status",
            "keep",
            "--val-bpb",
            "0.99",
            "--config",
            "lr=0.02",
            "--config",
            "name=muon",
        ),
    ).strip()
    record = cli_json(
        workspace,
        *add_args(
            "c2",
            "--status",
            "keep",
            "--val-bpb",
            "0.98",
            "--parent-commit",
            "c1",
            "--config",
            "lr=0.04",
            "--config",
            "name=muon",
            "--metric",
            "memory_gb=44.5",
            "-m",
            "double lr",
            "--agent",
            "alice",
        ),
    )
    assert record["config_diff"] == {"lr": [0.02, 0.04]}
    assert record["metrics"] == {"memory_gb": 44.5, "val_bpb": 0.98}
    cli(workspace, *add_args("c3", "--status", "crash", "--crash-reason", "OOM"))
    log = cli_json(workspace, "log", "--all")
    assert [r["commit"] for r in log] == ["c1", "c2", "c3"]
    assert "double lr" in cli(workspace, "log", "-n", "2")
    assert [r["commit"] for r in cli_json(workspace, "best")] == ["c2"]
    assert cli_json(workspace, "show", first[:8])["commit"] == "c1"


def test_add_run_from_json_and_usage_errors(workspace: Path, tmp_path: Path) -> None:
    fields = {
        "branch": "exp/j",
        "commit": "j1",
        "platform": GPU,
        "status": "keep",
        "metrics": {"val_bpb": 1.0},
        "config": {"depth": 8},
    }
    (tmp_path / "run.json").write_text(json.dumps(fields))
    record = cli_json(workspace, "add-run", "--from-json", str(tmp_path / "run.json"))
    assert record["config"] == {"depth": 8} and record["agent"]
    assert "missing --commit" in cli(workspace, "add-run", "--branch", "x", code=2)
    bad = cli_json(workspace, *add_args("c", "--status", "crash"), code=1)
    assert bad["type"] == "RecordError" and "crash_reason" in bad["error"]
    assert "KEY=VALUE" in cli(
        workspace, *add_args("c", "--status", "keep", "--metric", "x"), code=2
    )


@pytest.mark.skipif(not H100.exists(), reason="../shared/fixtures is absent")
def test_import_twice_then_best_branches_adopt_plot(workspace: Path, tmp_path: Path) -> None:
    first = cli_json(workspace, "import", str(H100), "--branch", "mar8", "--platform", GPU)
    assert (first["added"], first["best"]["commit"]) == (126, "438a26e")
    again = cli_json(workspace, "import", str(H100), "--branch", "mar8", "--platform", GPU)
    assert (again["added"], again["existing"]) == (0, 126)
    cli(workspace, *add_args("w1", "--status", "keep", "--val-bpb", "0.9691"))
    adopted = cli_json(workspace, "adopt", "exp/a", "--from", "mar8", "--reason", "best so far")
    assert adopted["commit"] == "438a26e"
    board = cli_json(workspace, "best", "--platform", GPU)
    assert [r["branch"] for r in board] == ["exp/a", "mar8"]
    tree = cli(workspace, "branches", "--platform", GPU)
    assert "└─ exp/a (adopted mar8 at 438a26e)" in tree
    png = tmp_path / "progress.png"
    assert cli_json(workspace, "plot", str(png))["runs"] == 127
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_import_reports_bad_rows_with_exit_1(workspace: Path, tmp_path: Path) -> None:
    tsv = tmp_path / "results.tsv"
    tsv.write_text(
        "commit\tval_bpb\tmemory_gb\tstatus\tdescription\na\t1.0\t1\tkeep\tok\nb\tx\t1\tkeep\tbad\n"
    )
    result = cli_json(workspace, "import", str(tsv), "--branch", "b", "--platform", GPU, code=1)
    assert result["added"] == 1 and result["problems"][0]["line"] == 3


def test_lease_take_conflict_list_release(workspace: Path) -> None:
    held = cli_json(workspace, "lease", "p-1", "--agent", "alice", "--for", "90m")
    assert held["agent"] == "alice"
    conflict = cli_json(workspace, "lease", "p-1", "--agent", "bob", code=1)
    assert conflict["type"] == "LeaseHeldError"
    assert [x["proposal"] for x in cli_json(workspace, "lease")] == ["p-1"]
    assert cli_json(workspace, "lease", "p-1", "--agent", "alice", "--release")["released"]
    assert "no active leases" in cli(workspace, "lease")
    assert "90m, 2h" in cli(workspace, "lease", "p-2", "--for", "soon", code=2)


def test_retract_and_index(workspace: Path) -> None:
    rid = cli(workspace, *add_args("c1", "--status", "keep", "--val-bpb", "0.9")).strip()
    cli(workspace, "retract", rid, "--reason", "wrong data")
    assert cli_json(workspace, "best") == []
    assert cli_json(workspace, "index", "--rebuild")["indexed"] == 2


def test_verify_exit_codes_in_a_real_process(workspace: Path) -> None:
    exe = Path(sys.executable).parent / "claimledger"
    rid = cli(workspace, *add_args("c1", "--status", "keep", "--val-bpb", "0.9")).strip()
    ok = subprocess.run([exe, "-C", workspace, "ledger", "verify"], capture_output=True, text=True)
    assert (ok.returncode, ok.stdout.strip()) == (0, "ledger ok")
    record_path(Workspace.open(workspace), rid).write_text('{"edited": true}')
    bad = subprocess.run(
        [exe, "-C", workspace, "ledger", "verify", "--json"], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "does not match its name" in json.loads(bad.stdout)["findings"][0]["problem"]
    usage = subprocess.run(
        [exe, "-C", workspace, "ledger", "verify", "--nope"], capture_output=True
    )
    assert usage.returncode == 2


def test_every_ledger_command_teaches_with_an_example() -> None:
    group = main.commands["ledger"]
    for name, command in group.commands.items():
        assert command.help and len(command.help) > 40, name
        assert "claimledger ledger" in command.help, f"{name} has no example"
