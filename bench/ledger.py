"""Ledger benchmark: 100,000 run records over 200 branches.

Measures the cold index (no .claimledger/ledger.sqlite) against a naive baseline that reads
and parses every record file with json.load in a loop, the warm index (nothing changed), the
`best` and `branches` queries, and adding one record (fsync'd, as agents do). Targets on 2
cores: cold < 15 s, warm < 0.5 s, queries < 50 ms, add < 20 ms.

    .venv/bin/python bench/ledger.py [--records 100000] [--branches 200]

Prints `name: value` lines, then one JSON line. Works in a temporary folder outside the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claimledger.ledger import (
    add_run,
    append_records,
    best_run,
    branches,
    build_run,
    leaderboard,
    refresh_index,
    verify,
)
from claimledger.ledger.index import index_path
from claimledger.ledger.store import records_dir
from claimledger.workspace import Workspace

PLATFORMS = ("cpu-2core-60s", "cuda-H100-300s")
SETTLE_SECONDS = 3.2  # folders younger than 3 s are re-listed on purpose (racy timestamps)


def make_records(count: int, n_branches: int, seed: int = 0) -> list[dict[str, Any]]:
    """Plausible run records: 90% on one platform, 30% kept, 10% crashed."""
    rng = random.Random(seed)
    base = time.time() - 86400 * 30
    records = []
    for i in range(count):
        status = rng.choices(("keep", "discard", "crash"), weights=(3, 6, 1))[0]
        metrics = {"memory_gb": round(rng.uniform(2, 80), 1), "num_params": 11_500_000}
        if status != "crash":
            metrics["val_bpb"] = round(rng.uniform(0.95, 1.2), 6)
        records.append(
            build_run(
                branch=f"research/branch-{i % n_branches:03d}",
                commit=f"{rng.getrandbits(28):07x}",
                parent_commit=f"{rng.getrandbits(28):07x}",
                platform=PLATFORMS[0] if rng.random() < 0.9 else PLATFORMS[1],
                status=status,
                crash_reason="OOM" if status == "crash" else None,
                metrics=metrics,
                config={"lr": rng.choice((0.01, 0.02, 0.04)), "depth": rng.choice((4, 6, 8))},
                agent=f"agent-{i % 16}",
                started=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + i * 20)),
                description=f"experiment {i}",
            )
        )
    return records


def generate(ws: Workspace, count: int, n_branches: int) -> float:
    """Write the records through the store (no fsync: setting up, not measuring); seconds."""
    records = make_records(count, n_branches)
    return timed(lambda: append_records(ws, records, durable=False))


def naive_load(ws: Workspace) -> int:
    """The baseline: walk the records folder and json.load every file."""
    count = 0
    for folder, _, names in os.walk(records_dir(ws)):
        for name in names:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                json.load(handle)
            count += 1
    return count


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    """The median of `repeat` calls, in milliseconds."""
    return statistics.median(timed(fn) for _ in range(repeat)) * 1000


def main() -> None:
    """Parse the options, run the benchmark in a temporary folder, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--branches", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="claimledger-bench-"))
    try:
        results = run(root, args.records, args.branches)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, value in results.items():
        print(f"{name}: {value}")
    print(json.dumps(results))


def run(root: Path, count: int, n_branches: int) -> dict[str, Any]:
    """Every measurement, on a new workspace under `root`."""
    (root / "kb").mkdir()
    (root / "ledger").mkdir()
    ws = Workspace.open(root)
    results: dict[str, Any] = {"records": count, "branches": n_branches, "cores": os.cpu_count()}
    results["generate_s"] = round(generate(ws, count, n_branches), 2)
    time.sleep(SETTLE_SECONDS)
    results["baseline_json_load_s"] = round(timed(lambda: naive_load(ws)), 2)
    index_path(ws).unlink(missing_ok=True)
    results["cold_index_s"] = round(timed(lambda: refresh_index(ws)), 2)
    results["cold_vs_baseline"] = round(
        results["cold_index_s"] / results["baseline_json_load_s"], 2
    )
    results["warm_index_ms"] = round(median_ms(lambda: refresh_index(ws), 7), 1)
    platform = PLATFORMS[0]
    results["best_ms"] = round(median_ms(lambda: best_run(ws, platform), 21), 2)
    results["best_branch_ms"] = round(
        median_ms(lambda: best_run(ws, platform, "research/branch-007"), 21), 2
    )
    results["leaderboard_ms"] = round(median_ms(lambda: leaderboard(ws, platform), 11), 1)
    results["branches_ms"] = round(median_ms(lambda: branches(ws, platform), 11), 1)
    results["branches_all_platforms_ms"] = round(median_ms(lambda: branches(ws), 5), 1)
    results["add_one_ms"] = round(median_ms(lambda: _add_one(ws), 21), 2)
    results["add_then_best_ms"] = round(
        median_ms(lambda: (_add_one(ws), best_run(ws, platform)), 11), 2
    )
    results["verify_s"] = round(timed(lambda: verify(ws)), 2)
    results["targets_met"] = (
        results["cold_index_s"] < 15
        and results["warm_index_ms"] < 500
        and max(results["best_ms"], results["branches_ms"]) < 50
        and results["add_one_ms"] < 20
    )
    return results


def _add_one(ws: Workspace) -> str:
    return add_run(
        ws,
        branch="research/branch-000",
        commit=f"{random.getrandbits(28):07x}",
        platform=PLATFORMS[0],
        status="discard",
        metrics={"val_bpb": 1.1},
        agent="bench",
    )


if __name__ == "__main__":
    main()
