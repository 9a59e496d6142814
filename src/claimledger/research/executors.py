"""Executors: where the trainer runs. One job is one (proposal, seed); the driver records.

An executor takes `Job`s (the trainer options of one seed, with the seed set) and hands back
`Done`s (the job, its TrainerResult, when it started and finished, how many attempts it took)
as they finish, in any order. It only trains: records, leases and claim updates are written
by the caller, the driver, on its own machine (no SQLite or file lock over a network file
system). Every job ends in exactly one Done: a trainer crash, a worker that dies or a node
that is preempted is a crash result with its reason, after `retries` more attempts, never an
exception and never two results.

- `LocalExecutor(parallel=N)`: N trainer subprocesses at once on this machine (a thread each,
  waiting on `run_trainer`); N=1 is what `claimledger run` always did.
- `RayExecutor(address, parallel)`: each job is a Ray task (`num_gpus=1` where the cluster
  has GPUs, so that Ray's device assignment, CUDA_VISIBLE_DEVICES, pins it; else `num_cpus`)
  that runs the same `run_trainer` on a worker. `address=None` starts a private local Ray
  instance; "auto" or "ray://host:10001" joins a cluster. Ray is imported only here, and only
  when a RayExecutor is made.

`make_executor("local" | "ray", ...)` is what the CLI calls.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from claimledger.errors import ClaimledgerError
from claimledger.ledger.records import utc_now
from claimledger.trainer.runner import TrainerOptions, TrainerResult, run_trainer

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
RAY_TEMP_DIR = "/tmp/clray"  # Ray's socket paths must stay under 107 characters
DEFAULT_RETRIES = 1  # a worker that dies (not a trainer crash) is tried once more
OnLine = Callable[[int, str], None]  # (seed, a line the trainer printed)


@dataclass(frozen=True)
class Job:
    """One training: the options of one seed, and what it belongs to (`key`: a proposal id)."""

    key: str
    options: TrainerOptions
    timeout: float | None = None

    @property
    def seed(self) -> int:
        return self.options.seed


@dataclass
class Done:
    """A finished job: its result (a crash is a result), when, where and after how many tries."""

    job: Job
    result: TrainerResult
    started: str
    finished: str
    attempts: int = 1
    node: str | None = None
    overhead: float = 0.0  # seconds between submitting and finishing, beyond the trainer's own


def job_timeout(options: TrainerOptions) -> float | None:
    """The hard limit of one run: three times a time budget plus start-up, none for tokens."""
    return None if options.time_budget is None else 3 * options.time_budget + 300


def crash_result(job: Job, kind: str, reason: str, duration: float = 0.0) -> TrainerResult:
    """A crash result for a job whose worker, not its trainer, failed."""
    summary = {"status": "crash", "crash_kind": kind, "crash_reason": reason}
    return TrainerResult("crash", kind, reason, summary, None, duration, [])


class Executor(Protocol):
    """Runs jobs and hands back their results as they finish."""

    name: str
    parallel: int

    def submit(self, job: Job) -> None: ...

    def in_flight(self) -> int: ...

    def wait(self, timeout: float | None = None) -> list[Done]: ...

    def close(self) -> None: ...


def run_all(executor: Executor, jobs: Iterable[Job]) -> Iterator[Done]:
    """Run jobs, at most `executor.parallel` at once, yielding each as it finishes."""
    waiting = list(jobs)
    while waiting or executor.in_flight():
        while waiting and executor.in_flight() < executor.parallel:
            executor.submit(waiting.pop(0))
        yield from executor.wait()


def split_threads(options: TrainerOptions, parallel: int) -> TrainerOptions:
    """With N runs on one machine, each trainer gets its share of the cores (unless set)."""
    if options.threads is not None or parallel <= 1 or options.device not in ("cpu", "auto"):
        return options
    return replace(options, threads=max(1, (os.cpu_count() or 1) // parallel))


class LocalExecutor:
    """N trainer subprocesses at once on this machine."""

    name = "local"

    def __init__(self, cache_dir: Path, parallel: int = 1, on_line: OnLine | None = None):
        if parallel < 1:
            raise ClaimledgerError("--parallel must be 1 or more")
        self.cache_dir, self.parallel, self.on_line = Path(cache_dir), parallel, on_line
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="trainer")
        self._futures: dict[Future[Done], tuple[Job, str]] = {}

    def _train(self, job: Job, submitted: float) -> Done:
        seed = job.seed
        on_line = (lambda line: self.on_line(seed, line)) if self.on_line else None
        started = utc_now()
        options = split_threads(job.options, self.parallel)
        result = run_trainer(options, self.cache_dir, job.timeout, on_line)
        overhead = max(0.0, time.monotonic() - submitted - result.duration)
        return Done(job, result, started, utc_now(), 1, socket.gethostname(), overhead)

    def submit(self, job: Job) -> None:
        future = self._pool.submit(self._train, job, time.monotonic())
        self._futures[future] = (job, utc_now())

    def in_flight(self) -> int:
        return len(self._futures)

    def wait(self, timeout: float | None = None) -> list[Done]:
        if not self._futures:
            return []
        finished, _ = wait_futures(list(self._futures), timeout, return_when=FIRST_COMPLETED)
        done = []
        for future in finished:
            job, submitted_at = self._futures.pop(future)
            try:
                done.append(future.result())
            except ClaimledgerError:
                raise  # invalid options: the caller's mistake, not a run's
            except Exception as exc:  # a bug in a thread must not lose the job
                log.exception("the trainer thread failed")
                crashed = crash_result(job, "error", f"error: {exc}")
                done.append(Done(job, crashed, submitted_at, utc_now()))
        return done

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def task_resources(
    gpus: int, cpus: int, parallel: int | None = None, cpus_per_task: float | None = None
) -> tuple[int, dict[str, Any]]:
    """How many tasks at once on a cluster of `gpus` GPUs and `cpus` CPUs, and what each asks
    Ray for: one GPU (Ray then pins the task to it with CUDA_VISIBLE_DEVICES) and one CPU
    where there are GPUs, else its share of the CPUs."""
    parallel = parallel or (gpus or cpus)
    if gpus:
        return parallel, {"num_gpus": 1, "num_cpus": cpus_per_task or 1}
    return parallel, {"num_cpus": cpus_per_task or max(1, cpus // parallel)}


def task_device(device: str, cuda_visible: str | None) -> str:
    """The device of a task: `auto` on a task Ray gave a GPU is that GPU (cuda)."""
    return "cuda" if device == "auto" and cuda_visible else device


def task_threads(options: TrainerOptions, resources: dict[str, Any]) -> TrainerOptions:
    """A CPU task trains with the CPUs it asked for (unless set); a GPU task leaves it."""
    if options.threads is not None or "num_gpus" in resources:
        return options
    return replace(options, threads=max(1, int(resources["num_cpus"])))


def _ray_train(
    options: TrainerOptions, cache_dir: str, host: str, timeout: float | None
) -> dict[str, Any]:
    """The Ray task: train with run_trainer on this worker; a result, never an exception."""
    cache = Path(cache_dir)
    if socket.gethostname() != host:  # another machine: a node-local cache, no shared lock
        cache = Path(os.environ.get("CLAIMLEDGER_WORKER_CACHE") or Path.home() / ".cache")
        cache = cache / "claimledger"
    device = task_device(options.device, os.environ.get("CUDA_VISIBLE_DEVICES"))
    started = utc_now()
    result = run_trainer(replace(options, device=device), cache, timeout)
    return {
        "result": result.to_dict(),
        "started": started,
        "finished": utc_now(),
        "node": socket.gethostname(),
        "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


class RayExecutor:
    """Each job a Ray task on a local instance or a cluster; results come back to the driver."""

    name = "ray"

    def __init__(
        self,
        cache_dir: Path,
        address: str | None = None,
        parallel: int | None = None,
        *,
        num_cpus: int | None = None,
        cpus_per_task: float | None = None,
        retries: int = DEFAULT_RETRIES,
        temp_dir: str = RAY_TEMP_DIR,
    ):
        import ray  # imported here: `claimledger --help` must not pay for it

        self._ray, self.cache_dir, self.retries = ray, Path(cache_dir), retries
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "ignore_reinit_error": True,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address in (None, "", "local"):
                # A private instance on this machine; Ray cannot download anything here.
                kwargs.update(num_cpus=num_cpus or os.cpu_count(), _temp_dir=temp_dir)
                address = None
            ray.init(address=address, **kwargs)
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        self.parallel, self._resources = task_resources(self.gpus, cpus, parallel, cpus_per_task)
        self._remote = ray.remote(_ray_train).options(
            max_retries=retries, retry_exceptions=False, **self._resources
        )
        self._refs: dict[Any, tuple[Job, float, str]] = {}
        self._host = socket.gethostname()

    def submit(self, job: Job) -> None:
        options = task_threads(job.options, self._resources)
        ref = self._remote.remote(options, str(self.cache_dir), self._host, job.timeout)
        self._refs[ref] = (job, time.monotonic(), utc_now())

    def in_flight(self) -> int:
        return len(self._refs)

    def wait(self, timeout: float | None = None) -> list[Done]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        return [self._collect(ref) for ref in ready]

    def _collect(self, ref: Any) -> Done:
        job, submitted, submitted_at = self._refs.pop(ref)
        elapsed = time.monotonic() - submitted
        try:
            out = self._ray.get(ref)
        except Exception as exc:  # the worker or its node died, after every retry
            first = (str(exc).splitlines() or [""])[0][:200]
            reason = f"killed: the Ray worker died ({type(exc).__name__}) after "
            reason += f"{self.retries + 1} attempt(s): {first}"
            crashed = crash_result(job, "killed", reason, elapsed)
            return Done(job, crashed, submitted_at, utc_now(), self.retries + 1)
        result = TrainerResult(**out["result"])
        overhead = max(0.0, elapsed - result.duration)
        return Done(job, result, out["started"], out["finished"], 1, out["node"], overhead)

    def close(self) -> None:
        for ref in list(self._refs):
            self._ray.cancel(ref, force=True)
        self._refs.clear()


def make_executor(
    kind: str,
    cache_dir: Path,
    parallel: int | None = None,
    address: str | None = None,
    on_line: OnLine | None = None,
    **ray_options: Any,
) -> Executor:
    """An executor by name: local (the default, `parallel` subprocesses) or ray."""
    if kind == "local":
        if address:
            raise ClaimledgerError("--address needs --executor ray")
        return LocalExecutor(cache_dir, parallel or 1, on_line)
    if kind == "ray":
        try:
            return RayExecutor(cache_dir, address, parallel, **ray_options)
        except ImportError as exc:
            raise ClaimledgerError(
                "--executor ray needs Ray: pip install 'claimledger[ray]'"
            ) from exc
    raise ClaimledgerError(f"unknown executor {kind!r} (known: {', '.join(EXECUTORS)})")
