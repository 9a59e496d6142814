"""Running a proposal or a config: the one way `claimledger run`, the MCP run tool and the loop
run the trainer.

`run` resolves what to run and on which budget, holds the proposal's lease while it runs, and
closes the proposal with the runs:

- the settings: the caller's overrides, with the proposal's `set` over them (runs that answer a
  proposal run what it proposes; the caller's overrides set the rest, a smaller model, say);
- the budget (`run_budget`): as given, else the one the platform names (the caller's platform,
  else the proposal's), else the default platform's;
- the corpus: a folder inside the workspace, or the bundled one (trainer.corpus), and for a
  proposal the corpus its platform names;
- the lease: this agent's lease on the proposal, taken unless it holds it already (refused with
  LeaseHeldError when another agent holds it) and always released at the end, even on a crash;
- the ledger: `run_experiment` records one run per seed and the run report, then the proposal
  is marked answered by those runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from claimledger.errors import InvalidArgumentError
from claimledger.ledger import (
    default_agent,
    lease_holder,
    platform_budget,
    release_lease,
    take_lease,
)
from claimledger.ledger.platforms import CORPUS_DIGITS, CORPUS_PART
from claimledger.planner.plan import default_platform
from claimledger.planner.proposals import Proposal, mark_answered, read_proposal
from claimledger.research.executors import Executor
from claimledger.research.experiment import ExperimentResult, Progress, run_experiment
from claimledger.trainer.corpus import Corpus, identify_corpus
from claimledger.trainer.runner import TrainerOptions
from claimledger.workspace import Workspace

LEASE_TIME = timedelta(hours=2)


def run_budget(ws: Workspace, options: TrainerOptions, platform: str | None) -> TrainerOptions:
    """The options with a budget: theirs when they have one, else the one the platform names,
    else the default platform's (claimledger.toml [planner] platform, else 200K tokens)."""
    if options.time_budget is not None or options.token_budget is not None:
        return options
    for name in (platform, default_platform(ws)):
        seconds, tokens = platform_budget(name) if name else (None, None)
        if seconds is not None or tokens is not None:
            return replace(options, time_budget=seconds, token_budget=tokens)
    return options


def run(
    ws: Workspace,
    options: TrainerOptions,
    seeds: int | Sequence[int] = 1,
    *,
    proposal: str | None = None,
    platform: str | None = None,
    branch: str | None = None,
    agent: str | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> ExperimentResult:
    """Run a config (or the proposal `proposal` names) once per seed and record every run.

    `platform` names the budget when `options` has none (default: the proposal's platform).
    `executor` trains the seeds (default: one after another here; see research.executors);
    the records, the report and the lease are written by this process either way.
    Raises NotFoundError for an unknown proposal, LeaseHeldError when another agent holds
    it and InvalidArgumentError for a corpus outside the workspace or not the proposal's.
    """
    agent = agent or default_agent()
    prepared = prepare_run(ws, options, proposal=proposal, platform=platform, agent=agent)
    answered = prepared.proposal
    if answered is None:
        return run_experiment(
            ws,
            prepared.options,
            seeds,
            branch=branch,
            agent=agent,
            progress=progress,
            executor=executor,
        )
    try:
        result = run_experiment(
            ws,
            prepared.options,
            seeds,
            proposal=answered,
            branch=branch,
            agent=agent,
            progress=progress,
            executor=executor,
        )
        mark_answered(ws, answered.id, [seed_run.record_id for seed_run in result.runs])
    finally:
        release_lease(ws, answered.id, agent)
    return result


@dataclass
class PreparedRun:
    """What `prepare_run` resolved: the options to train with, the proposal and its corpus."""

    options: TrainerOptions
    corpus: Corpus
    proposal: Proposal | None = None


def prepare_run(
    ws: Workspace,
    options: TrainerOptions,
    *,
    proposal: str | None = None,
    platform: str | None = None,
    agent: str | None = None,
) -> PreparedRun:
    """The settings, budget and corpus of a run, and for a proposal this agent's lease on it
    (taken unless held already; LeaseHeldError when another agent holds it). The caller
    trains, records (`record_experiment`), marks it answered and releases the lease."""
    agent = agent or default_agent()
    answered = read_proposal(ws, proposal) if proposal else None
    folder, corpus = identify_corpus(ws, options.data)
    options = replace(options, data=folder)
    if answered is None:
        return PreparedRun(run_budget(ws, options, platform), corpus)
    _check_corpus(answered, corpus)
    options = replace(options, overrides={**options.overrides, **answered.set})
    options = run_budget(ws, options, platform or answered.platform)
    holder = lease_holder(ws, answered.id)
    if holder is None or holder["agent"] != agent:
        take_lease(ws, answered.id, agent, LEASE_TIME, note="claimledger run")
    return PreparedRun(options, corpus, answered)


def _check_corpus(proposal: Proposal, corpus: Corpus) -> None:
    """Refuse to answer a proposal with runs on another corpus than its platform names."""
    named = next(
        (part for part in proposal.platform.split("-") if CORPUS_PART.fullmatch(part)), None
    )
    ran = None if corpus.bundled else f"corpus{corpus.hash[:CORPUS_DIGITS]}"
    if named != ran:
        wanted = f"the corpus of {named}" if named else "the bundled corpus"
        raise InvalidArgumentError(
            f"proposal {proposal.id} is for {proposal.platform}: train on {wanted}, "
            f"not on {corpus.name}",
            proposal.path,
        )
