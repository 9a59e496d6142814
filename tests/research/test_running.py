"""research.run and research.write_claim through the real CLI: one rule for every front end."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claimledger.ledger import (
    active_leases,
    add_run,
    lease_holder,
    read_record,
    release_lease,
    take_lease,
)
from claimledger.planner import Proposal, proposal_id, read_proposal, write_proposal
from claimledger.research import run_budget
from claimledger.trainer import TrainerOptions, identify_corpus
from claimledger.workspace import Workspace
from tests.trainer.conftest import TINY

CLAIMLEDGER = str(Path(sys.executable).with_name("claimledger"))
PLATFORM = f"cpu-{os.cpu_count()}core-tok4K"
EFFECT = ["param=muon_lr", "from=0.03", "to=0.06", "metric=val_bpb", "delta=-0.02"]


def cli(root: Path, *args: str, agent: str = "tester") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLAIMLEDGER_AGENT": agent}
    command = [CLAIMLEDGER, "-C", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fresh workspace with the lexical similarity backend (no model to load)."""
    root = tmp_path / "ws"
    subprocess.run([CLAIMLEDGER, "init", str(root), "--no-git"], check=True, capture_output=True)
    with open(root / "claimledger.toml", "a", encoding="utf-8") as config:
        config.write('\n[inbox]\nsimilarity = "lexical"\n')
    return root


def new_claim(root: Path, title: str, *options: str) -> subprocess.CompletedProcess[str]:
    fields = ["--domain", "optimizer", "--description", "Seen on the tiny model.", "--source", "s"]
    return cli(root, "new", "claim", title, *fields, *options, "--json")


def test_run_budget_as_given_else_the_platform_else_the_default(root: Path) -> None:
    ws = Workspace.open(root)

    def budget(platform: str | None, **given: Any) -> tuple[float | None, int | None]:
        options = run_budget(ws, TrainerOptions(**given), platform)
        return options.time_budget, options.token_budget

    assert budget("cuda-H100-300s") == (300.0, None)
    assert budget(PLATFORM) == (None, 4000)
    assert budget(PLATFORM, token_budget=9000) == (None, 9000)  # what the caller asks wins
    assert budget(None) == (None, 200_000)  # the default platform's budget


def test_new_claim_checks_duplicates_and_provenance_and_proposes(root: Path) -> None:
    ws = Workspace.open(root)
    rid = add_run(
        ws, branch="main", commit="c0", platform=PLATFORM, status="keep", metrics={"val_bpb": 2.5}
    )
    title = "Raising muon_lr from 0.03 to 0.06 lowers val_bpb on the tiny model"
    effect = [f"--effect={item}" for item in [*EFFECT, f"platform={PLATFORM}"]]
    written = new_claim(root, title, "--run", rid[:10], *effect)
    assert written.returncode == 0, written.stderr
    meta = json.loads(written.stdout)
    assert meta["status"] == "proposed" and meta["possible_duplicate_of"] is None
    text = (root / meta["path"]).read_text()
    assert "status: proposed" in text and rid in text and "delta: -0.02" in text

    before = sorted(root.rglob("*.md"))
    same_effect = new_claim(root, "Muon at 0.06 beats 0.03 on this model", *effect)
    assert same_effect.returncode == 1 and f"[[{title}]] already makes this claim" in (
        same_effect.stdout + same_effect.stderr
    )
    unknown_run = new_claim(root, "Warmup is not needed at four thousand tokens", "--run", "f" * 12)
    assert unknown_run.returncode != 0 and "no ledger record" in (
        unknown_run.stdout + unknown_run.stderr
    )
    no_source = new_claim(
        root, "Warmup is not needed at four thousand tokens", "--source-file", "kb/x.md"
    )
    assert no_source.returncode != 0 and "no source file" in no_source.stdout + no_source.stderr
    assert sorted(root.rglob("*.md")) == before


@pytest.mark.slow
def test_run_of_a_proposal_takes_its_platform_budget_and_releases_its_lease(
    root: Path, corpus: Path
) -> None:
    ws = Workspace.open(root)
    data = shutil.copytree(corpus, root / "corpus")  # runs train only inside the workspace
    platform = identify_corpus(ws, data)[1].platform(PLATFORM)
    diff = {"muon_lr": [0.03, 0.06]}
    pid = proposal_id(platform, diff, dt.date.today())
    fields = dict(platform=platform, created=dt.date.today().isoformat(), strategy="test")
    proposal = Proposal(
        id=pid, why="exploration", config_diff=diff, set={"muon_lr": 0.06}, **fields
    )
    write_proposal(ws, proposal)
    tiny = [f"--set={setting}" for setting in TINY]
    args = ["run", "--proposal", pid, "--data", str(data), "--device", "cpu", "--threads", "1"]

    take_lease(ws, pid, "someone-else", dt.timedelta(minutes=5))
    held = cli(root, *args, *tiny, "--json")
    assert held.returncode == 1 and "leased by someone-else" in held.stdout + held.stderr
    assert not list((root / "inbox").glob("*run-report*"))
    release_lease(ws, pid, "someone-else")

    done = cli(root, *args, *tiny, "--set=muon_lr=0.01", "--json")  # no budget given
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["platform"] == platform and result["proposal"] == pid
    record = read_record(ws, result["runs"][0]["record_id"])
    assert record["token_budget"] == 4000 and record.get("time_budget") is None
    assert record["config"]["muon_lr"] == 0.06  # the proposal's setting, over --set
    assert lease_holder(ws, pid) is None and active_leases(ws) == []
    answered = read_proposal(ws, pid)
    assert answered.status == "answered" and answered.answered_by == [record["id"]]
