"""Train once per seed, record every run, write a run report (what `research.run` runs).

`run_experiment` runs the trainer in a subprocess per seed (a crash never takes the caller
down), then writes one ledger `run` record per seed and a run report into inbox/ through
`claimledger.inbox.add_source`. Every record names its platform (device, budget and corpus),
its corpus (see corpus.py: the bundled one or a folder inside the workspace), the workspace's
git commit, the full config and its diff against the baseline: the branch's best run on that
platform, or the trainer defaults when the branch has none there yet. The runs keep
the branch's new best (`keep`) when their mean val_bpb beats the baseline config's mean over
the same seeds (or its best run, when it never ran them), else `discard`; a
seed that crashed is a `crash` with its reason.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
import subprocess
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from claimledger import deadline
from claimledger.inbox import add_source
from claimledger.ledger import add_run, best_run, default_agent, diff_configs, platform_id, runs
from claimledger.ledger.records import utc_now
from claimledger.planner.proposals import Proposal
from claimledger.research.executors import Executor, Job, job_timeout, run_all
from claimledger.research.runreport import (
    REPORT_SCHEMA,
    SeedRun,
    change_text,
    mean_bpb,
    report_body,
    report_fields,
    report_title,
)
from claimledger.trainer.corpus import Corpus, identify_corpus
from claimledger.trainer.params import TRAIN_PY, trainer_defaults
from claimledger.trainer.runner import TrainerOptions, TrainerResult, run_trainer
from claimledger.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_BRANCH = "main"
DEFAULT_TIME_BUDGET = 60.0  # the trainer's own default when no budget is given
Progress = Callable[[int, str], None]  # (seed, a line the trainer printed)


@dataclass
class ExperimentResult:
    """What `run_experiment` did: where, against which baseline, each seed, and the report."""

    platform: str
    branch: str
    commit: str
    config_diff: dict[str, list[Any]]
    baseline: dict[str, Any] | None  # {run, val_bpb} of the best run before these
    status: str  # keep | discard | crash (every seed crashed)
    parent_commit: str | None = None  # the commit of the baseline run
    runs: list[SeedRun] = field(default_factory=list)
    report: Path | None = None
    proposal: str | None = None
    corpus: Corpus | None = None
    dirty: bool | None = None  # uncommitted changes in the workspace when it ran
    paired: dict[str, Any] | None = None  # against the baseline config's runs of the same seeds
    context: dict[str, Any] | None = None  # the baseline config without the changed keys

    @property
    def mean_val_bpb(self) -> float | None:
        return mean_bpb(self.runs)

    @property
    def all_crashed(self) -> bool:
        return all(run.status == "crash" for run in self.runs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the result."""
        return {
            "platform": self.platform,
            "branch": self.branch,
            "commit": self.commit,
            "config_diff": self.config_diff,
            "baseline": self.baseline,
            "status": self.status,
            "mean_val_bpb": self.mean_val_bpb,
            "runs": [run.to_dict() for run in self.runs],
            "report": str(self.report) if self.report else None,
            "proposal": self.proposal,
            "corpus": self.corpus.to_record() if self.corpus else None,
            "dirty": self.dirty,
        }


def _git(root: Path, *args: str) -> str | None:
    """The output of a git command in the workspace, None when git or the answer is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def measured_context(base_config: dict[str, Any], changed: Collection[str]) -> dict[str, Any]:
    """The context a change was measured in: the baseline config without the changed keys."""
    scalar = str | int | float | bool | None
    return {k: v for k, v in base_config.items() if k not in changed and isinstance(v, scalar)}


def workspace_commit(ws: Workspace) -> str:
    """The workspace's git HEAD as a short sha; "uncommitted" before the first commit, "none"
    outside git."""
    if _git(ws.root, "rev-parse", "--git-dir") is None:
        return "none"
    return _git(ws.root, "rev-parse", "--short", "HEAD") or "uncommitted"


def paired_baseline(
    ws: Workspace,
    platform: str,
    base_config: dict[str, Any],
    runs: Sequence[SeedRun],
) -> dict[str, Any]:
    """These runs against the baseline config's own runs of the same seeds on the platform
    (not against the best single run): the deltas, their mean and the noise floor."""
    from claimledger.planner.evidence import identity, noise_floor, observations

    mine = {r.record_id for r in runs}
    obs = [o for o in observations(ws, platform) if o.run_id not in mine]
    base_key = identity(base_config)
    by_seed: dict[Any, list[Any]] = {}
    for o in obs:
        if identity(o.config) == base_key:
            by_seed.setdefault(o.seed, []).append(o)
    deltas, used = [], []
    for run in runs:
        if run.val_bpb is None or run.seed not in by_seed:
            continue
        base = by_seed[run.seed]
        deltas.append(round(run.val_bpb - statistics.fmean(o.val_bpb for o in base), 6))
        used += [o.run_id for o in base]
    paired: dict[str, Any] = {
        "n": len(deltas),
        "baseline_runs": used,
        "deltas": deltas,
        "noise_floor": round(noise_floor(obs).value, 6),
    }
    if deltas:
        paired["delta"] = round(statistics.fmean(deltas), 6)
    return paired


def workspace_dirty(ws: Workspace) -> bool | None:
    """True when the workspace has uncommitted changes to tracked files; None outside git."""
    if _git(ws.root, "rev-parse", "--git-dir") is None:
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(ws.root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(done.stdout.strip()) if done.returncode == 0 else None


def code_provenance(
    ws: Workspace, options: TrainerOptions, summary: dict[str, Any], dirty: bool | None
) -> dict[str, Any] | None:
    """The `code` field of a run record: the trainer's content hash and the dirty flag."""
    digest = summary.get("train_py_sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        script = Path(options.script) if options.script else TRAIN_PY
        try:
            digest = hashlib.sha256(script.read_bytes()).hexdigest()
        except OSError:
            return None
    return {"train_py_sha256": digest, "dirty": dirty}


def workspace_branch(ws: Workspace) -> str:
    """The workspace's git branch, or "main" (no git, or a detached HEAD)."""
    return _git(ws.root, "symbolic-ref", "--quiet", "--short", "HEAD") or DEFAULT_BRANCH


def experiment_platform(options: TrainerOptions, summary: dict[str, Any]) -> str:
    """The platform of a run: the device the trainer reported (else the one asked) and the
    budget. A CPU is named by its core count, a GPU by its model."""
    device = str(summary.get("device") or "").split(":")[0]
    if not device:
        device = options.device if options.device != "auto" else "cpu"
    name = summary.get("device_name") if device != "cpu" else None
    seconds = options.time_budget
    if seconds is None and options.token_budget is None:
        seconds = DEFAULT_TIME_BUDGET
    return platform_id(device, name, seconds, options.token_budget)


def _config(options: TrainerOptions, summary: dict[str, Any]) -> dict[str, Any]:
    """The resolved config of a run; defaults plus overrides when the trainer left none."""
    config = summary.get("config")
    if isinstance(config, dict):
        return config
    return {**trainer_defaults(options.script), **options.overrides}


def _metrics(result: TrainerResult) -> dict[str, Any]:
    summary = result.summary
    memory = summary.get("peak_memory_mb")
    return {
        "val_bpb": result.val_bpb,
        "training_seconds": summary.get("training_seconds"),
        "total_tokens": summary.get("total_tokens"),
        "num_params": summary.get("num_params"),
        "num_steps": summary.get("num_steps"),
        "tokens_per_second": summary.get("tokens_per_second"),
        "mfu_percent": summary.get("mfu_percent"),
        "memory_gb": round(memory / 1024, 4) if memory else None,
    }


def _seed_list(options: TrainerOptions, seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, int):
        return [options.seed + i for i in range(max(seeds, 1))]
    return list(seeds) or [options.seed]


Trained = tuple[int, TrainerResult, str, str]  # (seed, result, started, finished)


def _train_seeds(
    ws: Workspace,
    options: TrainerOptions,
    seeds: list[int],
    progress: Progress | None,
    executor: Executor | None = None,
) -> list[Trained]:
    """Train each seed: in turn here, or through an executor (in parallel, on Ray)."""
    if executor is not None:
        jobs = [Job("run", replace(options, seed=seed), job_timeout(options)) for seed in seeds]
        finished = {d.job.seed: d for d in run_all(executor, jobs)}
        return [(s, finished[s].result, finished[s].started, finished[s].finished) for s in seeds]
    done = []
    for seed in seeds:
        on_line = (lambda line, s=seed: progress(s, line)) if progress else None
        started = utc_now()
        timeout = job_timeout(options)
        result = run_trainer(replace(options, seed=seed), ws.cache_dir, timeout, on_line)
        done.append((seed, result, started, utc_now()))
        log.info("seed %d: %s %s", seed, result.status, result.val_bpb or result.crash_reason)
    return done


def run_experiment(
    ws: Workspace,
    options: TrainerOptions,
    seeds: int | Sequence[int] = 1,
    *,
    proposal: Proposal | None = None,
    branch: str | None = None,
    agent: str | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> ExperimentResult:
    """Train once per seed, record one ledger run per seed and write the run report.

    `seeds` is a count (seeds options.seed, options.seed + 1, ...) or the seeds themselves.
    With `proposal`, the runs and the report name it and the claims it tests; marking it
    answered, its budget and its lease are `research.run`'s. With `executor`, the seeds train
    there (at once, on Ray); the records are written here either way.
    """
    seed_list = _seed_list(options, seeds)
    # The checked real path: a link swapped in later cannot send the trainer elsewhere.
    folder, corpus = identify_corpus(ws, options.data)
    options = replace(options, data=folder)
    dirty = workspace_dirty(ws)  # before training: the state of the code that runs
    trained = _train_seeds(ws, options, seed_list, progress, executor)
    return record_experiment(
        ws, options, trained, corpus, proposal=proposal, branch=branch, agent=agent, dirty=dirty
    )


def record_experiment(
    ws: Workspace,
    options: TrainerOptions,
    trained: list[Trained],
    corpus: Corpus,
    *,
    proposal: Proposal | None = None,
    branch: str | None = None,
    agent: str | None = None,
    dirty: bool | None = None,
) -> ExperimentResult:
    """Record seeds trained elsewhere (an executor, the loop's batch): one ledger run per
    seed and the run report, written by this process alone (the driver)."""
    tests = proposal.tests if proposal else []
    branch = branch or workspace_branch(ws)
    agent = agent or default_agent()
    seed_list = [seed for seed, _, _, _ in trained]
    trained = [_same_corpus(t, corpus) for t in trained]
    deadline.check()  # past the caller's time limit nothing is recorded: it was told so
    summaries = [r.summary for _, r, _, _ in trained]
    device = next((s for s in summaries if s.get("device")), {})
    platform = corpus.platform(experiment_platform(options, device))
    best = best_run(ws, platform, branch)
    baseline = {"run": best["id"], "val_bpb": best["metrics"]["val_bpb"]} if best else None
    base_config = (best or {}).get("config") or trainer_defaults(options.script)
    experiment = ExperimentResult(
        platform=platform,
        branch=branch,
        commit=workspace_commit(ws),
        dirty=dirty,
        config_diff=diff_configs(base_config, _config(options, summaries[0])),
        baseline=baseline,
        status=_status([r for _, r, _, _ in trained], _reference(ws, best, seed_list)),
        parent_commit=best["commit"] if best else None,
        proposal=proposal.id if proposal else None,
        corpus=corpus,
    )
    for seed, result, started, finished in trained:
        experiment.runs.append(
            _record(ws, experiment, options, base_config, (seed, result, started, finished), agent)
        )
    if experiment.config_diff:  # a change: compare it with the baseline config's own seeds
        experiment.paired = paired_baseline(ws, platform, base_config, experiment.runs)
        experiment.context = measured_context(base_config, experiment.config_diff)
    experiment.report = _write_report(ws, experiment, agent, tests)
    return experiment


def _same_corpus(
    trained: tuple[int, TrainerResult, str, str], corpus: Corpus
) -> tuple[int, TrainerResult, str, str]:
    """The seed as trained, or a crash when the trainer read other text than was hashed (the
    folder changed meanwhile): its result would be recorded under the wrong corpus."""
    seed, result, started, finished = trained
    read = result.summary.get("corpus_hash")
    if not result.ok or read in (None, corpus.hash):
        return trained
    reason = f"corpus: the trainer read corpus {read}, not {corpus.hash} (it changed meanwhile)"
    summary = {**result.summary, "status": "crash", "crash_kind": "corpus", "crash_reason": reason}
    crashed = replace(
        result, status="crash", crash_kind="corpus", crash_reason=reason, summary=summary
    )
    return seed, crashed, started, finished


def _reference(ws: Workspace, best: dict[str, Any] | None, seeds: list[int]) -> float | None:
    """What the new runs must beat: the best config's mean over the same seeds where it ran
    them, else its best run (a mean is only fairly compared with a mean)."""
    if best is None:
        return None
    same = [
        run["metrics"]["val_bpb"]
        for run in runs(ws, best["platform"], best["branch"])
        if run.get("config") == best.get("config")
        and run.get("seed") in seeds
        and "val_bpb" in run["metrics"]
    ]
    return sum(same) / len(same) if same else best["metrics"]["val_bpb"]


def _status(results: list[TrainerResult], reference: float | None) -> str:
    """keep when the mean val_bpb of the finished seeds beats the reference (or there is none)."""
    values = [r.val_bpb for r in results if r.val_bpb is not None]
    if not values:
        return "crash"
    mean = sum(values) / len(values)
    return "keep" if reference is None or mean < reference else "discard"


def _record(
    ws: Workspace,
    experiment: ExperimentResult,
    options: TrainerOptions,
    base_config: dict[str, Any],
    trained: tuple[int, TrainerResult, str, str],
    agent: str,
) -> SeedRun:
    """Write the ledger record of one seed."""
    seed, result, started, finished = trained
    status = "crash" if not result.ok else experiment.status
    config = _config(options, result.summary)
    rid = add_run(
        ws,
        branch=experiment.branch,
        commit=experiment.commit,
        parent_commit=experiment.parent_commit,
        platform=experiment.platform,
        status=status,
        metrics=_metrics(result),
        crash_reason=result.crash_reason if not result.ok else None,
        config=config,
        config_diff=diff_configs(base_config, config),
        seed=seed,
        time_budget=options.time_budget,
        token_budget=options.token_budget,
        agent=agent,
        started=started,
        finished=finished,
        proposal=experiment.proposal,
        corpus=experiment.corpus.to_record() if experiment.corpus else None,
        code=code_provenance(ws, options, result.summary, experiment.dirty),
        description=f"{change_text(experiment.config_diff)} (seed {seed})",
    )
    return SeedRun(seed, rid, status, result.val_bpb, result.crash_reason, result.duration)


def _write_report(
    ws: Workspace, experiment: ExperimentResult, agent: str, tests: Sequence[str]
) -> Path:
    fields = report_fields(
        platform=experiment.platform,
        branch=experiment.branch,
        agent=agent,
        runs=experiment.runs,
        config_diff=experiment.config_diff,
        baseline=experiment.baseline,
        status=experiment.status,
        proposal=experiment.proposal,
        tests=tests,
        corpus=experiment.corpus.to_record() if experiment.corpus else None,
        paired=experiment.paired,
        context=experiment.context,
    )
    return add_source(
        ws,
        title=report_title(experiment.config_diff, experiment.platform, len(experiment.runs)),
        body=report_body(
            experiment.platform,
            experiment.runs,
            experiment.config_diff,
            experiment.baseline,
            experiment.status,
        ),
        fields=fields,
        slug=f"run-report-{experiment.platform}-{experiment.runs[0].record_id[:8]}",
        schema=REPORT_SCHEMA,  # nothing is written unless it meets run-report.schema.json
    )
