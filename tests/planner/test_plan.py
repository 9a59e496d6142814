"""Planning on constructed ledgers: valid proposals that test claims, never answered or leased."""

from __future__ import annotations

import datetime as dt
import random
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from claimledger.cli import main
from claimledger.kb.notes import json_safe, read_note
from claimledger.ledger import take_lease
from claimledger.planner import build_brief, list_proposals, mark_answered, plan, render_brief
from claimledger.planner.evidence import identity
from claimledger.planner.plan import plan_state, proposal_config
from claimledger.schemas import validation_errors
from claimledger.workspace import Workspace
from tests.planner.conftest import PLATFORM, add_seed_run

DAY = dt.date(2026, 11, 23)


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    ws = Workspace.open(workspace)
    rng = random.Random(3)
    for seed in range(2):
        add_seed_run(ws, seed, 3.40 + rng.gauss(0, 0.01))
    return ws


BATCH_CLAIM = (
    "[[Halving the batch to 8 sequences lowers val_bpb in a short CPU run "
    "because the critical batch size starts small]]"
)


def test_first_proposals_test_the_claims_one_knob_at_a_time_then_stack_them(
    ws: Workspace,
) -> None:
    first, second = plan(ws, PLATFORM, k=2, today=DAY)
    assert first.config_diff == {"batch_size": [16, 8]} and first.set == {"batch_size": 8}
    assert first.why == "value-of-information"
    assert first.tests == [BATCH_CLAIM]
    assert first.tests[0] in first.body and first.id in first.body
    meta = json_safe(read_note(first.path).metadata)
    assert validation_errors(ws.schemas_dir, "proposal", meta) == []
    assert len(second.config_diff) == 1 and second.tests and second.id != first.id
    # both claims borne out (two seeds each, a little better than the defaults): the runs have
    # tested as many claims as the prior is worth, and every helpful knob is stacked
    for proposal in (first, second):
        for seed in range(2):
            add_seed_run(ws, seed, 3.39, **proposal.set)
    stack = plan(ws, PLATFORM, k=1, today=DAY)[0]
    assert len(stack.config_diff) >= 3 and stack.why == "exploration"
    assert stack.expected["delta"] < 0 and len(stack.tests) >= 2


def test_answered_and_leased_configs_are_never_proposed_again(ws: Workspace) -> None:
    first = plan(ws, PLATFORM, k=1, today=DAY)[0]
    take_lease(ws, first.id, "agent-b", timedelta(hours=1))
    second = plan(ws, PLATFORM, k=1, today=DAY)[0]
    assert second.id != first.id
    mark_answered(ws, second.id, ["a" * 64])
    excluded = plan_state(ws, PLATFORM).excluded
    assert identity(proposal_config(first)) in excluded
    assert identity(proposal_config(second)) in excluded
    for proposal in plan(ws, PLATFORM, k=8, today=DAY):
        assert proposal.id not in (first.id, second.id)


def test_a_config_run_with_two_seeds_is_answered(ws: Workspace) -> None:
    for seed in range(2):
        add_seed_run(ws, seed, 3.30, batch_size=8)
    proposals = plan(ws, PLATFORM, k=5, today=DAY)
    assert all(p.set != {"batch_size": 8} for p in proposals)
    # batch 8 is now the incumbent: proposals move from it and keep it in `set`
    assert all(p.set.get("batch_size") == 8 or "batch_size" in p.config_diff for p in proposals)


@pytest.mark.parametrize("strategy", ["tpe", "random"])
def test_baseline_strategies_write_valid_proposals(ws: Workspace, strategy: str) -> None:
    proposals = plan(ws, PLATFORM, k=2, strategy=strategy, today=DAY)
    assert proposals and all(p.strategy == strategy for p in proposals)
    for proposal in list_proposals(ws):
        meta = json_safe(read_note(proposal.path).metadata)
        assert validation_errors(ws.schemas_dir, "proposal", meta) == []


def test_brief_keeps_the_most_useful_items_within_its_budget(ws: Workspace) -> None:
    full = build_brief(ws, PLATFORM, max_tokens=5000)
    short = build_brief(ws, PLATFORM, max_tokens=200)
    assert short["tokens"] <= 200 < full["tokens"] and short["dropped"] > full["dropped"]
    assert short["sections"]["Best run"] == full["sections"]["Best run"]
    assert (
        short["sections"]["Claims"]
        == full["sections"]["Claims"][: len(short["sections"]["Claims"])]
    )
    assert "noise floor" in render_brief(short)


def test_cli_plan_evidence_and_brief(ws: Workspace) -> None:
    runner = CliRunner()
    root = str(ws.root)
    planned = runner.invoke(main, ["-C", root, "plan", "--n", "2", "--platform", PLATFORM])
    assert planned.exit_code == 0 and "batch_size 16 -> 8" in planned.output
    shown = runner.invoke(main, ["-C", root, "evidence", "--platform", PLATFORM, "--json"])
    assert shown.exit_code == 0 and '"applied": false' in shown.output
    briefed = runner.invoke(main, ["-C", root, "brief", "--platform", PLATFORM, "--topic", "batch"])
    assert briefed.exit_code == 0 and "## Claims" in briefed.output


def test_a_close_call_stays_open_for_another_seed(ws: Workspace) -> None:
    """Two seeds within the noise floor of the best do not answer a config; far worse do."""
    from claimledger.planner.evidence import Observation
    from claimledger.planner.plan import excluded_configs

    best, close, far = {"x": 0}, {"x": 1}, {"x": 2}
    trials = [
        Observation(f"{i}{s}", c, s, v + 0.001 * s)
        for i, (c, v) in enumerate(((best, 3.0), (close, 3.005), (far, 3.3)))
        for s in (0, 1)
    ]
    excluded = excluded_configs(ws, "p", trials, noise=0.02)
    from claimledger.planner.evidence import identity

    assert identity(far) in excluded and identity(close) not in excluded
