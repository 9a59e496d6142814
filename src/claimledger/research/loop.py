"""The closed research loop: plan -> lease -> run -> record -> report -> extract -> evidence.

Each iteration plans one proposal on the platform, leases it (so that another agent running
the loop on the same ledger takes a different one), runs it with `research.run` (which
records the runs, writes the run report, marks the proposal answered and releases the lease),
lets the inbox worker extract claims from the new report, and applies the evidence of the
ledger to the claims. It stops early when the planner has nothing left to propose.

With a git remote (`sync="origin"`, or `[loop] sync = "origin"` in claimledger.toml) the loop
shares its ledger while it runs, so that loops on several machines never train the same
experiment: it syncs before it plans, and pushes each lease as soon as it takes it. A lease
that another machine pushed first (for the same experiment) is then in the ledger: the loop
gives its own up and plans something else. The git remote orders the pushes, so of two
machines that leased the same experiment at once exactly one sees the other's lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from claimledger.errors import ClaimledgerError, LeaseHeldError
from claimledger.ledger import (
    active_leases,
    default_agent,
    experiment_key,
    experiment_leases,
    lease_holder,
    release_lease,
    runs,
    sync,
    take_lease,
)
from claimledger.planner.evidence import assess, observations
from claimledger.planner.plan import default_platform, plan
from claimledger.planner.proposals import Proposal, mark_answered, read_proposal
from claimledger.planner.updates import ClaimChange, apply_changes, plan_changes
from claimledger.research.executors import Done, Executor, Job, LocalExecutor, job_timeout
from claimledger.research.experiment import record_experiment, workspace_dirty
from claimledger.research.running import LEASE_TIME, PreparedRun, prepare_run, run
from claimledger.trainer import TrainerOptions, identify_corpus
from claimledger.workspace import CONFIG_NAME, Workspace, load_config

log = logging.getLogger(__name__)

LEASE_TRIES = 8  # plans per proposal: each lease found held elsewhere is planned around
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
    config = load_config(target / CONFIG_NAME)
    # A scratch copy never shares its ledger: `[loop] sync` would reach the workspace's remote.
    loop = {k: v for k, v in config.section("loop").items() if k != "sync"}
    sections = {**config.sections, "loop": loop}
    copy = Workspace(root=target, config=replace(config, sections=sections))
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
    executor: Executor | None = None,
    remote: str | None = None,
) -> LoopResult:
    """Run the loop for `iterations` proposals (fewer when nothing is left to propose).

    With an executor that runs N trainings at once (LocalExecutor(parallel=N), RayExecutor),
    about N / seeds proposals are in flight: each new one is planned knowing the others
    (pending), and each is recorded, answered and judged as soon as its seeds are back. The
    leases this agent still holds on unanswered proposals (a loop that was killed) are run
    first, without the seeds already recorded: a restart resumes, it does not duplicate.
    `remote` (default: claimledger.toml `[loop] sync`) is a git remote to sync the ledger
    with while the loop runs (see the module's docstring)."""
    options = options or TrainerOptions(device="cpu")
    # Runs on another corpus than the bundled one have their own platform (see trainer.corpus).
    _, corpus = identify_corpus(ws, options.data)
    platform = corpus.platform(platform or default_platform(ws))
    agent = agent or default_agent()
    say = on_event or (lambda text: log.info("%s", text))
    result = LoopResult(platform)
    owned = executor is None
    executor = executor or LocalExecutor(ws.cache_dir, 1, progress)
    remote = remote or configured_remote(ws)
    batch = _Batch(ws, platform, seeds, options, strategy, agent, say, executor, result, remote)
    try:
        batch.sync()
        if not observations(ws, platform):
            batch.baseline()
        batch.run(iterations)
    finally:
        if owned:
            executor.close()
        batch.sync()  # the last records and the released leases
    return result


@dataclass
class _Flight:
    """A proposal in flight: what it trains with and the seeds back so far."""

    proposal: Proposal
    prepared: PreparedRun
    turn: int
    dirty: bool | None
    seeds: list[int]
    leased: float
    done: dict[int, Done] = field(default_factory=dict)


@dataclass
class _Batch:
    """Keeps the executor full: plan (knowing what is in flight), lease, submit, record."""

    ws: Workspace
    platform: str
    seeds: int
    options: TrainerOptions
    strategy: str
    agent: str
    say: Event
    executor: Executor
    result: LoopResult
    remote: str | None = None
    flights: dict[str, _Flight] = field(default_factory=dict)

    def sync(self) -> None:
        sync_ledger(self.ws, self.remote)

    def baseline(self) -> None:
        """The trainer defaults, once per platform: leased too, so only one machine runs it."""
        key = f"baseline-{self.platform}"
        holder = lease_shared(self.ws, key, self.agent, self.remote, "claimledger loop baseline")
        if holder is not None:
            self.say(f"[baseline] {holder} runs the defaults on {self.platform}")
            return
        self.say(f"[baseline] no runs on {self.platform} yet: the trainer defaults first")
        try:
            run(self.ws, self.options, self.seeds, platform=self.platform, agent=self.agent,
                executor=self.executor)  # fmt: skip
        finally:
            release_lease(self.ws, key, self.agent)

    def run(self, iterations: int) -> None:
        resume = _own_leases(self.ws, self.platform, self.agent)
        width = max(1, -(-self.executor.parallel // self.seeds))  # proposals in flight
        started, stop = 0, False
        try:
            while True:
                self.sync()  # what the other machines ran and leased, before planning
                while not stop and started < iterations and len(self.flights) < width:
                    proposal = resume.pop(0) if resume else self._plan(started + 1)
                    if proposal is None:
                        self.result.stopped = "nothing left to propose"
                        stop = True
                        break
                    started += 1
                    self._launch(proposal, started, iterations)
                if not self.flights:
                    return
                for done in self.executor.wait(timeout=60):
                    self._collect(done)
                self._renew()
        finally:
            for pid in list(self.flights):  # stopped early (Ctrl-C, an error): free the rest
                release_lease(self.ws, pid, self.agent)

    def _plan(self, turn: int) -> Proposal | None:
        """The next proposal, leased to this agent; None when there is nothing left to propose.

        Planning knows this loop's proposals in flight (pending: see plan, the constant liar).
        A proposal another agent holds (leased between planning and leasing, or on another
        machine whose proposal note this workspace lacks) is planned around as pending too."""
        pending = [f.proposal for f in self.flights.values()]
        for _ in range(LEASE_TRIES):
            planned = plan(self.ws, self.platform, 1, self.strategy, seed=turn, pending=pending)
            if not planned:
                return None
            holder = lease_shared(
                self.ws, planned[0].id, self.agent, self.remote, "claimledger loop"
            )
            if holder is None:
                return planned[0]
            self.say(f"  {planned[0].id}: leased by {holder}: planning around it")
            pending.append(planned[0])
        return None

    def _launch(self, proposal: Proposal, turn: int, iterations: int) -> None:
        prepared = prepare_run(
            self.ws, self.options, proposal=proposal.id, platform=self.platform, agent=self.agent
        )
        first = prepared.options.seed
        wanted = [first + i for i in range(self.seeds)]
        recorded = _recorded(self.ws, proposal.id)
        flight = _Flight(
            proposal,
            prepared,
            turn,
            workspace_dirty(self.ws),
            [s for s in wanted if s not in recorded],
            time.monotonic(),
        )
        self.say(
            f"[{turn}/{iterations}] {proposal.id} ({proposal.why}): {_change(proposal.config_diff)}"
            + (f" (resumed; seeds {flight.seeds} left)" if recorded else "")
        )
        self.flights[proposal.id] = flight
        if not flight.seeds:  # every seed recorded before a restart: only close it
            self._finish(flight, [recorded[s] for s in wanted])
            return
        for seed in flight.seeds:
            options = replace(prepared.options, seed=seed)
            self.executor.submit(Job(proposal.id, options, job_timeout(options)))

    def _collect(self, done: Done) -> None:
        flight = self.flights.get(done.job.key)
        if flight is None:
            return
        flight.done[done.job.seed] = done
        if done.result.ok:
            log.info("%s seed %d: %s", done.job.key, done.job.seed, done.result.val_bpb)
        else:
            self.say(f"  {done.job.key} seed {done.job.seed}: crash ({done.result.crash_reason})")
        if len(flight.done) == len(flight.seeds):
            trained = [
                (s, flight.done[s].result, flight.done[s].started, flight.done[s].finished)
                for s in flight.seeds
            ]
            experiment = record_experiment(
                self.ws,
                flight.prepared.options,
                trained,
                flight.prepared.corpus,
                proposal=flight.proposal,
                agent=self.agent,
                dirty=flight.dirty,
            )
            earlier = _recorded(self.ws, flight.proposal.id, exclude=experiment.runs)
            self._finish(flight, [*earlier.values(), *[r.record_id for r in experiment.runs]])
            self._judge(flight, experiment)

    def _finish(self, flight: _Flight, run_ids: list[str]) -> None:
        mark_answered(self.ws, flight.proposal.id, run_ids)
        release_lease(self.ws, flight.proposal.id, self.agent)
        del self.flights[flight.proposal.id]

    def _judge(self, flight: _Flight, experiment: Any) -> None:
        proposal = flight.proposal
        iteration = Iteration(
            proposal.id,
            proposal.why,
            proposal.config_diff,
            proposal.tests,
            experiment.status,
            experiment.mean_val_bpb,
            str(experiment.report) if experiment.report else None,
        )
        self.say(f"  {proposal.id}: mean val_bpb {experiment.mean_val_bpb}: {experiment.status}")
        iteration.extracted = extract(self.ws)
        iteration.changes = update_claims(self.ws, self.platform)
        for change in iteration.changes:
            self.say(f"  {change.title}: {change.old_confidence} -> {change.new_confidence}")
        self.result.iterations.append(iteration)

    def _renew(self) -> None:
        """Renew the leases of long runs before they lapse (another agent would take them)."""
        now = time.monotonic()
        for flight in self.flights.values():
            if now - flight.leased > LEASE_TIME.total_seconds() / 2:
                try:
                    take_lease(self.ws, flight.proposal.id, self.agent, LEASE_TIME, note="renewed")
                except LeaseHeldError as exc:  # an earlier lease synced in: it runs anyway
                    log.warning("lease not renewed: %s", exc)
                flight.leased = now


def configured_remote(ws: Workspace) -> str | None:
    """The git remote of claimledger.toml `[loop] sync` ("origin", or true for origin)."""
    value = ws.config.section("loop").get("sync")
    if value is True:
        return "origin"
    return value if isinstance(value, str) and value else None


def sync_ledger(ws: Workspace, remote: str | None) -> None:
    """Share the ledger through the remote, if any; a failed sync is tried again next time."""
    if remote is None:
        return
    try:
        sync(ws, remote)
    except ClaimledgerError as exc:  # offline for a while: the loop goes on alone
        log.warning("ledger sync with %s failed, the loop goes on: %s", remote, exc)


def lease_shared(
    ws: Workspace, pid: str, agent: str, remote: str | None, note: str | None = None
) -> str | None:
    """Lease pid's experiment to `agent`; None when it is ours, else the agent who holds it.

    With a remote, the lease is pushed at once and kept only if no other agent's lease on the
    experiment came back with the sync. The remote orders pushes, and each push follows a
    pull: of two machines that leased at once, the later pusher sees the other's lease and
    gives its own up (whatever their `since`), and the earlier one does not see it."""
    try:
        take_lease(ws, pid, agent, LEASE_TIME, note=note)
    except LeaseHeldError:
        holder = lease_holder(ws, pid)
        return holder["agent"] if holder else "another agent"
    if remote is None:
        return None
    sync_ledger(ws, remote)
    rivals = [lease for lease in experiment_leases(ws, pid) if lease["agent"] != agent]
    if not rivals:
        return None
    release_lease(ws, pid, agent)
    sync_ledger(ws, remote)  # at once: until the release arrives, ours may look the holder
    return str(rivals[0]["agent"])


def _own_leases(ws: Workspace, platform: str, agent: str) -> list[Proposal]:
    """The unanswered proposals on the platform this agent still holds a lease on."""
    found = []
    for lease in active_leases(ws):
        if lease["agent"] != agent:
            continue
        try:
            proposal = read_proposal(ws, lease["proposal"])
        except ClaimledgerError:
            continue
        if proposal.platform == platform and proposal.status != "answered":
            found.append(proposal)
    return found


def _recorded(ws: Workspace, proposal: str, exclude: Iterable[Any] = ()) -> dict[int, str]:
    """The seeds already recorded for a proposal's experiment, under any of its ids (by a loop
    that was stopped, or by another machine): seed -> run."""
    skip = {getattr(r, "record_id", r) for r in exclude}
    key = experiment_key(proposal)
    return {
        run["seed"]: run["id"]
        for run in runs(ws)
        if experiment_key(run.get("proposal") or "") == key
        and run["id"] not in skip
        and run.get("seed") is not None
    }


def update_claims(ws: Workspace, platform: str) -> list[ClaimChange]:
    """Apply the ledger's evidence to the claims with an effect on the platform."""
    results = assess(ws, platform)
    return apply_changes(ws, plan_changes(results), results)


def _change(config_diff: dict[str, list[Any]]) -> str:
    return ", ".join(f"{k} {old} -> {new}" for k, (old, new) in config_diff.items())
