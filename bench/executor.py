"""Benchmark of the executors: 8 short CPU runs at once (--parallel 2) against one after another.

Each run is a real trainer subprocess (`run_trainer`, as `claimledger run` and the loop do) on
the bundled corpus with a small model and one thread (`--threads 1` in both batches, as the
issue states), so that two runs fit two cores. Reports the wall-clock of the sequential and
the parallel batch, the speedup (target >= 1.7 on 2 cores), and the scheduling overhead per
task: the time from submitting a job to getting its result back, beyond the trainer
process's own duration. `--executor ray` measures Ray instead (a private local instance with
as many CPUs as --parallel).

On a machine that others share the speedup is what the free cores allow, so each batch also
reports the cores its trainers got (their CPU seconds over the batch's wall-clock: 1.0 for
the sequential batch, up to --parallel for the parallel one) and their CPU seconds per run
(equal in both batches when running two at once costs no extra work). The batches alternate
(`--repeat`) and the load average is printed with every figure.

    .venv/bin/python bench/executor.py                      # local, 8 runs, parallel 2
    .venv/bin/python bench/executor.py --repeat 3
    .venv/bin/python bench/executor.py --executor ray
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from claimledger.research.executors import Job, make_executor, run_all
from claimledger.trainer import TrainerOptions, prepare_data

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.7


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the local trainers; not Ray's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def batch(kind: str, parallel: int, jobs: list[Job], cache: Path) -> dict[str, Any]:
    """Wall-clock seconds of the batch, each task's overhead and where a run's time goes."""
    extra = {"num_cpus": parallel} if kind == "ray" else {}
    executor = make_executor(kind, cache, parallel, **extra)
    try:
        cpu, started = children_cpu(), time.monotonic()
        done = list(run_all(executor, jobs))
        wall = time.monotonic() - started
        cpu = children_cpu() - cpu
    finally:
        executor.close()
    crashed = [d.result.crash_reason for d in done if not d.result.ok]
    if crashed:
        sys.exit(f"runs crashed: {crashed[:2]}")
    summaries = [d.result.summary for d in done]
    # Ray's workers are not this process's children: their CPU time is not in its rusage.
    seen = kind == "local"
    return {
        "wall": wall,
        "cores": cpu / wall if seen else None,
        "cpu_per_run": cpu / len(done) if seen else None,
        "overheads": [d.overhead for d in done],
        "process_s": statistics.fmean(d.result.duration for d in done),
        "training_s": statistics.fmean(s["training_seconds"] for s in summaries),
        "load": load(),
    }


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def jobs(runs: int, tokens: int) -> list[Job]:
    overrides = {"depth": 1, "width": 32, "n_head": 1, "batch_size": 8, "seq_len": 128}
    options = TrainerOptions(token_budget=tokens, device="cpu", threads=1, overrides=overrides)
    return [Job("bench", replace(options, seed=seed)) for seed in range(runs)]


def one_round(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """The sequential and the parallel batch, with their loads and the cores they got."""
    work = jobs(args.runs, args.tokens)
    sequential = batch("local", 1, work, cache)
    parallel = batch(args.executor, args.parallel, work, cache)
    return {
        "sequential_s": round(sequential["wall"], 2),
        "sequential_load": sequential["load"],
        "parallel_s": round(parallel["wall"], 2),
        "parallel_load": parallel["load"],
        "cores_sequential": rounded(sequential["cores"]),
        "cores_parallel": rounded(parallel["cores"]),
        "cpu_per_run_s": [rounded(sequential["cpu_per_run"]), rounded(parallel["cpu_per_run"])],
        "speedup": round(sequential["wall"] / parallel["wall"], 3),
        "overhead_per_task_ms": round(1000 * statistics.fmean(parallel["overheads"]), 1),
        "run_process_s": round(sequential["process_s"], 2),
        "run_training_s": round(sequential["training_s"], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, alternating the batches")
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    args = parser.parse_args()
    cache = REPO / ".claimledger"
    prepare_data(None, cache)  # prepared once, outside the timings
    print(f"load_before: {load()} on {os.cpu_count()} cores")
    rounds = []
    for number in range(1, args.repeat + 1):
        rounds.append(one_round(args, cache))
        print(f"round {number}: {json.dumps(rounds[-1])}", flush=True)
    speedup = statistics.median(r["speedup"] for r in rounds)
    verdict = "PASS" if speedup >= TARGET else "FAIL"
    figures = {
        "runs": args.runs,
        "parallel": args.parallel,
        "executor": args.executor,
        "tokens_per_run": args.tokens,
        "speedup_median": speedup,
        "load_after": load(),
        "rounds": rounds,
    }
    print(f"speedup: {speedup:.2f} ({verdict} >= {TARGET})")
    print(json.dumps(figures))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
