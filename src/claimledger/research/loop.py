"""The closed research loop: plan -> lease -> run -> record -> report -> extract -> evidence.

Each iteration plans one proposal on the platform, leases it (so that another agent running
the loop on the same ledger takes a different one), runs it with `research.run` (which
records the runs, writes the run report, marks the proposal answered and releases the lease),
lets the inbox worker extract claims from the new report, and applies the evidence of the
ledger to the claims. It stops early when the planner has nothing left to propose.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from claimledger.errors import ClaimledgerError, LeaseHeldError
from claimledger.ledger import default_agent, take_lease
from claimledger.planner.evidence import assess, observations
from claimledger.planner.plan import default_platform, plan
from claimledger.planner.updates import ClaimChange, apply_changes, plan_changes
from claimledger.research.running import LEASE_TIME, run
from claimledger.trainer import TrainerOptions, identify_corpus
from claimledger.workspace import CONFIG_NAME, Workspace, load_config

log = logging.getLogger(__name__)

LEASE_TRIES = 3
Event = Callable[[str], None]


@dataclass
class Iteration:
    """One turn of the loop."""

    proposal: str
    why: str
    config_diff: dict[str, list[Any]]
    tests: list[str]
    status: str  # keep | discard | crash
    mean_val_bpb: float | None
    report: str | None
    extracted: list[str] = field(default_factory=list)  # claims the worker wrote or enriched
    changes: list[ClaimChange] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["changes"] = [c.to_dict() for c in self.changes]
        return data


@dataclass
class LoopResult:
    """Every iteration, and why the loop stopped."""

    platform: str
    iterations: list[Iteration] = field(default_factory=list)
    stopped: str = "done"

    @property
    def changes(self) -> list[ClaimChange]:
        return [c for it in self.iterations for c in it.changes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "stopped": self.stopped,
            "iterations": [it.to_dict() for it in self.iterations],
        }


def scratch_workspace(ws: Workspace, name: str = "demo-workspace") -> Workspace:
    """A fresh copy of a workspace's notes, ledger and config under its cache folder.

    The demo runs its loop there, so that the workspace itself (a git repository) is left as
    it was; the copy lives in the gitignored cache and is replaced on the next call."""
    import shutil

    target = ws.cache_dir / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for folder in ("claims_dir", "inbox_dir", "ledger_dir", "schemas_dir"):
        source = ws.path(folder)
        if source.is_dir():
            shutil.copytree(source, target / ws.relative(source), dirs_exist_ok=True)
    if (ws.root / CONFIG_NAME).exists():
        shutil.copy2(ws.root / CONFIG_NAME, target / CONFIG_NAME)
    copy = Workspace(root=target, config=load_config(target / CONFIG_NAME))
    # The copy shares the prepared trainer data; preparing the corpus again costs seconds.
    data = ws.cache_dir / "trainer-data"
    if data.is_dir() and not (copy.cache_dir / "trainer-data").exists():
        copy.cache_dir.mkdir(parents=True, exist_ok=True)
        (copy.cache_dir / "trainer-data").symlink_to(data.resolve())
    return copy


def extract(ws: Workspace) -> list[str]:
    """One pass of the inbox worker; the claims it wrote or enriched (none if unavailable)."""
    try:
        from claimledger.inbox.worker import run_once
    except ImportError:
        log.info("the inbox worker is not available: extraction skipped")
        return []
    try:
        summary = run_once(ws)
    except ClaimledgerError as exc:
        log.warning("extraction failed, the loop goes on: %s", exc)
        return []
    return [title for r in summary.results for title in [*r.claims, *r.enrichments]]


def run_loop(
    ws: Workspace,
    iterations: int,
    seeds: int = 2,
    *,
    options: TrainerOptions | None = None,
    platform: str | None = None,
    strategy: str = "claims",
    agent: str | None = None,
    on_event: Event | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> LoopResult:
    """Run the loop for `iterations` turns (fewer when nothing is left to propose)."""
    options = options or TrainerOptions(device="cpu")
    # Runs on another corpus than the bundled one have their own platform (see trainer.corpus).
    _, corpus = identify_corpus(ws, options.data)
    platform = corpus.platform(platform or default_platform(ws))
    agent = agent or default_agent()
    say = on_event or (lambda text: log.info("%s", text))
    result = LoopResult(platform)
    if not observations(ws, platform):
        say(f"[baseline] no runs on {platform} yet: the trainer defaults first")
        run(ws, options, seeds, platform=platform, agent=agent, progress=progress)
    for turn in range(1, iterations + 1):
        proposal = _next_proposal(ws, platform, strategy, agent, turn)
        if proposal is None:
            result.stopped = "nothing left to propose"
            break
        say(
            f"[{turn}/{iterations}] {proposal.id} ({proposal.why}): {_change(proposal.config_diff)}"
        )
        experiment = run(
            ws,
            options,
            seeds,
            proposal=proposal.id,
            platform=platform,
            agent=agent,
            progress=progress,
        )
        iteration = Iteration(
            proposal.id,
            proposal.why,
            proposal.config_diff,
            proposal.tests,
            experiment.status,
            experiment.mean_val_bpb,
            str(experiment.report) if experiment.report else None,
        )
        say(f"  mean val_bpb {experiment.mean_val_bpb}: {experiment.status}")
        iteration.extracted = extract(ws)
        iteration.changes = update_claims(ws, platform)
        for change in iteration.changes:
            say(f"  {change.title}: {change.old_confidence} -> {change.new_confidence}")
        result.iterations.append(iteration)
    return result


def _next_proposal(ws: Workspace, platform: str, strategy: str, agent: str, turn: int) -> Any:
    """The next proposal, leased to this agent; None when there is nothing left to propose.

    Another agent may lease the same proposal between planning and leasing: planning again
    then sees its lease and proposes something else."""
    for _ in range(LEASE_TRIES):
        planned = plan(ws, platform, k=1, strategy=strategy, seed=turn)
        if not planned:
            return None
        try:
            take_lease(ws, planned[0].id, agent, LEASE_TIME, note="claimledger loop")
        except LeaseHeldError:
            continue
        return planned[0]
    return None


def update_claims(ws: Workspace, platform: str) -> list[ClaimChange]:
    """Apply the ledger's evidence to the claims with an effect on the platform."""
    results = assess(ws, platform)
    return apply_changes(ws, plan_changes(results), results)


def _change(config_diff: dict[str, list[Any]]) -> str:
    return ", ".join(f"{k} {old} -> {new}" for k, (old, new) in config_diff.items())
