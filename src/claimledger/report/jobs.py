"""What a report build wrote (ReportResult), and where its work runs: a pool of worker
processes for a large vault, or this process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Below this many notes, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 400


@dataclass
class ReportResult:
    """What a build wrote."""

    out_dir: Path
    pages: int = 0
    notes: int = 0
    platforms: int = 0
    plots: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out_dir": str(self.out_dir)}


def worker_count(requested: int | None) -> int:
    """Processes to use: as requested, else one per CPU this process may run on."""
    if requested:
        return max(1, requested)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_pool(notes: int, workers: int | None) -> Executor | None:
    """A pool of worker processes, or None when the vault is too small to gain from one."""
    count = worker_count(workers)
    if notes < PARALLEL_THRESHOLD or count < 2:
        return None
    return ProcessPoolExecutor(max_workers=count, mp_context=fork_context())


def fork_context() -> multiprocessing.context.BaseContext | None:
    """fork where the platform has it: workers then inherit the pages instead of unpickling."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return None


class _Done(Future):
    """A finished future, for work done in this process when there is no pool."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.set_result(value)


def run_job(pool: Executor | None, fn: Any, *args: Any) -> Future:
    """fn(*args) in the pool, or here and now when there is none."""
    if pool is None:
        return _Done(fn(*args))
    return pool.submit(fn, *args)
