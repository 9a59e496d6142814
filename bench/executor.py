"""Benchmark of the executors: 8 short CPU runs at once (--parallel 2) against one after another.

Each run is a real trainer subprocess (`run_trainer`, as `claimledger run` and the loop do) on
the bundled corpus with a small model and one thread, so that two runs fit two cores. Reports
the wall-clock of the sequential and the parallel batch, the speedup (target >= 1.7 on 2
cores), and the scheduling overhead per task: the time from submitting a job to getting its
result back, beyond the trainer process's own duration. `--executor ray` measures Ray instead
(a private local instance with as many CPUs as --parallel).

    .venv/bin/python bench/executor.py                      # local, 8 runs, parallel 2
    .venv/bin/python bench/executor.py --executor ray

On a machine that others share the speedup is what the free cores allow: the load average is
printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from claimledger.research.executors import Job, make_executor, run_all
from claimledger.trainer import TrainerOptions, prepare_data

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.7


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def batch(kind: str, parallel: int, jobs: list[Job], cache: Path) -> tuple[float, list[float]]:
    """Wall-clock seconds of the batch and each task's overhead (seconds)."""
    extra = {"num_cpus": parallel} if kind == "ray" else {}
    executor = make_executor(kind, cache, parallel, **extra)
    try:
        started = time.monotonic()
        done = list(run_all(executor, jobs))
        wall = time.monotonic() - started
    finally:
        executor.close()
    crashed = [d.result.crash_reason for d in done if not d.result.ok]
    if crashed:
        sys.exit(f"runs crashed: {crashed[:2]}")
    return wall, [d.overhead for d in done]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=60_000)
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    args = parser.parse_args()
    cache = REPO / ".claimledger"
    prepare_data(None, cache)  # prepared once, outside the timings
    overrides = {"depth": 1, "width": 32, "n_head": 1, "batch_size": 8, "seq_len": 128}
    jobs = [
        Job(
            "bench",
            TrainerOptions(
                token_budget=args.tokens, seed=seed, device="cpu", threads=1, overrides=overrides
            ),
        )
        for seed in range(args.runs)
    ]
    print(f"load_before: {load()} on {os.cpu_count()} cores")
    sequential, _ = batch("local", 1, jobs, cache)
    parallel, overheads = batch(args.executor, args.parallel, jobs, cache)
    speedup = sequential / parallel
    verdict = "PASS" if speedup >= TARGET else "FAIL"
    figures = {
        "runs": args.runs,
        "parallel": args.parallel,
        "executor": args.executor,
        "tokens_per_run": args.tokens,
        "sequential_s": round(sequential, 2),
        "parallel_s": round(parallel, 2),
        "speedup": round(speedup, 3),
        "overhead_per_task_ms": round(1000 * statistics.fmean(overheads), 1),
        "load_after": load(),
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(f"speedup: {speedup:.2f} ({verdict} >= {TARGET})")
    print(json.dumps(figures))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
