"""The extraction worker: take waiting sources, extract, write claims, record the outcome.

`run_once` is what cron calls; `run_loop` repeats it. Each source is leased (see lifecycle),
extracted (up to the extractor's `concurrency` sources at once, in threads: LLM calls wait on
the network), then written in order and completed. A failure is recorded on the source and the
worker carries on. Killed at any moment, a later run takes the source again when its lease
expires and finishes the job without doubling it (see claims).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimledger.errors import ClaimledgerError
from claimledger.inbox import lifecycle
from claimledger.inbox.claims import apply_extraction
from claimledger.inbox.dedup import ClaimIndex, make_backend
from claimledger.inbox.extractors import (
    Context,
    Extraction,
    Extractor,
    SourceDoc,
    extractor_name_for,
    make_extractor,
)
from claimledger.inbox.settings import Settings
from claimledger.inbox.sources import source_paths
from claimledger.kb.notes import blocking_problems, read_note
from claimledger.workspace import Workspace

log = logging.getLogger("claimledger.inbox")
Job = tuple[lifecycle.Lease, SourceDoc]
TEMP_SUFFIX = ".tmp"


@dataclass
class SourceResult:
    """What happened to one source in one run."""

    path: str
    status: str  # processed | null-result | unprocessed (failed, will retry)
    extractor: str
    claims: list[str] = field(default_factory=list)
    enrichments: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


@dataclass
class WorkerSummary:
    """The outcome of one pass over the inbox."""

    owner: str
    results: list[SourceResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it cannot be edited
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Sources per final status, plus claims, enrichments and flags written."""
        counts = Counter(r.status for r in self.results)
        return {
            "sources": len(self.results),
            "processed": counts["processed"],
            "null_result": counts["null-result"],
            "failed": counts["unprocessed"],
            "claims": sum(len(r.claims) for r in self.results),
            "enrichments": sum(len(r.enrichments) for r in self.results),
            "flagged": sum(len(r.flagged) for r in self.results),
        }

    def to_dict(self) -> dict[str, Any]:
        results = [r.__dict__ for r in self.results]
        return {
            "owner": self.owner,
            **self.counts(),
            "seconds": self.seconds,
            "results": results,
            "skipped": self.skipped,
        }


def default_owner() -> str:
    """host:pid, so that a lease names the process that holds it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """One worker process's state: settings, extractors and the claim index (loaded once)."""

    def __init__(
        self,
        ws: Workspace,
        settings: Settings | None = None,
        *,
        owner: str | None = None,
        extractors: dict[str, Extractor] | None = None,
    ) -> None:
        self.ws = ws
        self.settings = settings or Settings.from_workspace(ws)
        self.owner = owner or default_owner()
        self.extractors: dict[str, Extractor] = dict(extractors or {})
        self._context: Context | None = None

    def extractor(self, name: str) -> Extractor:
        if name not in self.extractors:
            self.extractors[name] = make_extractor(name, self.ws, self.settings)
        return self.extractors[name]

    def context(self) -> Context:
        """The claim index and friends, built on first need and kept for the process."""
        if self._context is None:
            backend = make_backend(self.ws, self.settings.similarity)
            claims = ClaimIndex.load(self.ws, backend)
            self._context = Context(self.ws, self.settings, claims, dt.date.today())
        self._context.today = dt.date.today()
        return self._context

    def forget_claims(self) -> None:
        """Reload the claim index on next need: other writers may have added claims."""
        self._context = None

    def run_once(
        self,
        max_sources: int | None = None,
        on_result: Callable[[SourceResult, int], None] | None = None,
    ) -> WorkerSummary:
        """One pass: process up to `max_sources` waiting sources, oldest first.

        Up to the extractor's `concurrency` sources are extracted at once in threads; each
        result is written as soon as it arrives, while the others are still in flight."""
        start = time.perf_counter()
        sweep_temp_files(self.ws, self.settings.lease_seconds)
        summary = WorkerSummary(self.owner)
        waiting = waiting_sources(self.ws, summary.skipped)
        for rel, reason in summary.skipped.items():
            log.warning("%s: skipped: %s", rel, reason)
        limit = len(waiting) if max_sources is None else max_sources
        width = self.extractor(self.settings.extractor).concurrency
        in_flight: dict[Future[Any], Job] = {}
        taken = 0

        def record(result: SourceResult) -> None:
            summary.results.append(result)
            log.info("%s: %s %s", result.path, result.status, _detail(result))
            if on_result:
                on_result(result, limit)

        with ThreadPoolExecutor(max_workers=width) as pool:
            while True:
                while waiting and taken < limit and len(in_flight) < width:
                    lease = lifecycle.take(self.ws, waiting.pop(0), self.owner, self.settings)
                    taken += lease is not None
                    job = self._start(lease, pool, record) if lease else None
                    if job is not None:
                        in_flight[job[0]] = job[1]
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: str(in_flight[f][0].path)):
                    record(self._finish(in_flight.pop(future), future.result()))
        summary.seconds = time.perf_counter() - start
        return summary

    def _start(
        self,
        lease: lifecycle.Lease,
        pool: ThreadPoolExecutor,
        record: Callable[[SourceResult], None],
    ) -> tuple[Future[Any], Job] | None:
        """Submit a leased source for extraction; record it at once if there is nothing to do."""
        if lease.given_up:
            record(self._given_up(lease))
            return None
        try:
            source = self._load(lease)
            self.context()  # built once, before any thread needs it
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            status = lifecycle.fail(self.ws, lease, error, self.settings)
            record(SourceResult(self.ws.relative(lease.path), status, "", error=error))
            return None
        return pool.submit(self._extract, lease, source), (lease, source)

    def _load(self, lease: lifecycle.Lease) -> SourceDoc:
        note = read_note(lease.path)
        return SourceDoc(lease.path, self.ws.relative(lease.path), note.metadata, note.body)

    def _extract(
        self, lease: lifecycle.Lease, source: SourceDoc
    ) -> tuple[str, Extraction | Exception]:
        name = extractor_name_for(source, self.settings.extractor)
        try:
            return name, self.extractor(name).extract(source, self.context())
        except Exception as exc:  # any extractor failure is this source's problem only
            return name, exc

    def _finish(self, job: Job, extracted: tuple[str, Any]) -> SourceResult:
        (lease, source), (name, extraction) = job, extracted
        started = time.perf_counter()
        result = SourceResult(source.rel, "unprocessed", name)
        try:
            if isinstance(extraction, Exception):
                raise extraction
            self._write(lease, source, extraction, result)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.status = lifecycle.fail(self.ws, lease, result.error, self.settings)
        result.seconds = time.perf_counter() - started
        return result

    def _write(
        self,
        lease: lifecycle.Lease,
        source: SourceDoc,
        extraction: Extraction,
        result: SourceResult,
    ) -> None:
        context = self.context()
        outcome = apply_extraction(context, source, extraction.candidates)
        notes = "; ".join(filter(None, [extraction.notes, *outcome.rejected]))
        status = lifecycle.complete(
            self.ws,
            lease,
            processed_by=f"claimledger worker ({result.extractor})",
            claims=outcome.extracted,
            enrichments=outcome.enrichments,
            notes=notes,
            today=context.today,
        )
        result.status = status or "processed"
        result.claims, result.enrichments = outcome.extracted, outcome.enrichments
        result.flagged, result.rejected = outcome.flagged, outcome.rejected

    def _given_up(self, lease: lifecycle.Lease) -> SourceResult:
        return SourceResult(self.ws.relative(lease.path), "null-result", "", error="gave up")


def _detail(result: SourceResult) -> str:
    if result.error:
        return f"(error: {result.error[:200]})"
    return (
        f"({len(result.claims)} claims, {len(result.enrichments)} enrichments, "
        f"{len(result.flagged)} flagged, {result.extractor})"
    )


def waiting_sources(ws: Workspace, skipped: dict[str, str] | None = None) -> list[Path]:
    """Sources a worker may take now: unprocessed, or processing under an expired lease.

    Sources it cannot safely edit (not UTF-8, broken YAML) or must not read (a symlink out of
    the workspace) go into `skipped` with the reason: rewriting fields of a note whose YAML does
    not parse could lose what a human wrote."""
    now = lifecycle.utcnow()
    waiting = []
    skipped = {} if skipped is None else skipped
    for path in source_paths(ws, outside=skipped):
        try:
            note = read_note(path)
        except ClaimledgerError as exc:
            skipped[ws.relative(path)] = exc.problem
            continue
        if blocking_problems(note):
            skipped[ws.relative(path)] = blocking_problems(note)[0].message
        elif lifecycle.is_open(note.metadata, now):
            waiting.append(path)
    return waiting


def sweep_temp_files(ws: Workspace, older_than: float) -> int:
    """Delete temporary files left by writers killed mid-write, once they are stale."""
    cutoff = time.time() - older_than
    removed = 0
    for folder in (ws.claims_dir, ws.inbox_dir):
        for path in folder.rglob(f".*{TEMP_SUFFIX}"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


def run_once(ws: Workspace, **options: Any) -> WorkerSummary:
    """One pass of a fresh worker: `max_sources`, `extractor` and `on_result` are optional."""
    settings = Settings.from_workspace(ws, extractor=options.pop("extractor", None))
    return Worker(ws, settings).run_once(**options)


def run_loop(
    ws: Workspace,
    interval: float,
    passes: int | None = None,
    on_summary: Callable[[WorkerSummary], None] | None = None,
    **options: Any,
) -> int:
    """Repeat passes every `interval` seconds (forever when `passes` is None); returns the
    number of passes made."""
    settings = Settings.from_workspace(ws, extractor=options.pop("extractor", None))
    worker = Worker(ws, settings)
    done = 0
    while passes is None or done < passes:
        summary = worker.run_once(**options)
        done += 1
        if on_summary:
            on_summary(summary)
        worker.forget_claims()
        if passes is None or done < passes:
            time.sleep(interval)
    return done
