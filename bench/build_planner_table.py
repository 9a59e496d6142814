"""Fill the lazy table of the planner benchmark with its design points, by the real trainer.

bench/data/planner_cache.json maps (task, config, seed) -> val_bpb of the bundled trainer
(bench/plannerbench/table.py). This script trains, for every task and seed, the design that
every strategy needs and the surrogate is fitted on: the trainer defaults, every one-knob
neighbour of them, random start points of the whole space (seeded), and one-knob neighbours
of the random points. Bounded by --max-new-runs (each run is one process-free call of the
trainer on one thread, 4-8 s); without it, it only prints what the cache covers.

With --from-reads, it then trains what the benchmark's strategies read: it plays the bench's
repetitions on the cached runs and the surrogate, counts the points the surrogate answered,
trains the most-read ones for real, and plays again, until the budget is spent. That is the
lazy table of the issue: real runs where the strategies go, in the order they go there.

    .venv/bin/python bench/build_planner_table.py --max-new-runs 200
    .venv/bin/python bench/build_planner_table.py --from-reads --max-new-runs 2000 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plannerbench.space import SEEDS, SPACE, TASKS, canonical, defaults
from plannerbench.table import Table, run_point

RANDOM_STARTS = 8


def design(extra_random: int = 0) -> list[dict]:
    base = defaults()
    found = [base] + [{**base, k: v} for k, values in SPACE.items() for v in values if v != base[k]]
    rng = random.Random(18)
    starts = [
        {k: rng.choice(v) for k, v in SPACE.items()} for _ in range(RANDOM_STARTS + extra_random)
    ]
    found += starts
    for start in starts[:2]:
        found += [{**start, k: v} for k, values in SPACE.items() for v in values if v != start[k]]
    seen, unique = set(), []
    for c in found:
        if canonical(c) not in seen:
            seen.add(canonical(c))
            unique.append(c)
    return unique


def fill_design(table: Table, budget: int) -> list[dict]:
    """Train the design points (design-major: the defaults and their neighbours first)."""
    points = design()
    for config in points:
        for task in TASKS:
            for seed in SEEDS:
                if table.new_runs < budget and table.cached(task, config, seed) is None:
                    table.train(task, config, seed)
    return points


def fill_from_reads(table: Table, budget: int, reps: int, per_round: int, jobs: int) -> None:
    """Train the points the bench's strategies read from the surrogate, most-read first."""
    import planner

    while table.new_runs < budget:
        table.misses.clear()
        budget_left, table.budget = table.budget, table.new_runs  # play without training
        for make, claims in planner.make_arms(table, "A").values():
            for rep in range(reps):
                planner.trajectory(table, "A", make(rep), claims, rep, planner.MAX_RUNS)
        planner.transfer_runs(table, "A", "B", reps)
        table.budget = budget_left
        wanted = [point for point, _ in table.misses.most_common(per_round)]
        wanted = wanted[: budget - table.new_runs]
        print(f"round: {sum(table.misses.values())} surrogate reads, training {len(wanted)}")
        if not wanted:
            return
        train_all(table, [(task, json.loads(config), seed) for task, config, seed in wanted], jobs)


def train_all(table: Table, points: list[tuple[str, dict, int]], jobs: int) -> None:
    """Train points in `jobs` processes (one thread each); this process caches each result as
    it arrives, so an interrupted fill keeps what it finished."""
    if jobs < 2:
        for point in points:
            table.train(*point)
        return
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_point, *point): point for point in points}
        for future in as_completed(futures):
            table.store(*futures[future], future.result())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-new-runs", type=int, default=0)
    parser.add_argument("--from-reads", action="store_true", help="then train what the bench reads")
    parser.add_argument("--reps", type=int, default=100, help="repetitions played per round")
    parser.add_argument("--per-round", type=int, default=40, help="points trained per round")
    parser.add_argument("--jobs", type=int, default=1, help="trainer processes at once")
    args = parser.parse_args()
    table = Table(max_new_runs=args.max_new_runs)
    start = time.time()
    points = fill_design(table, args.max_new_runs)
    if args.from_reads:
        fill_from_reads(table, args.max_new_runs, args.reps, args.per_round, args.jobs)
    runs = table.data["runs"]
    print(f"design_points: {len(points)}")
    print(f"cached_runs: {len(runs)}")
    for task in TASKS:
        full = sum(len(v) == len(SEEDS) for v in table.real_points(task).values())
        print(f"task_{task}_configs_all_seeds: {full}")
    print(f"new_runs: {table.new_runs}")
    secs = [r["seconds"] for r in runs.values()]
    print(f"cpu_seconds_in_cache: {sum(secs):.0f}")
    print(
        json.dumps(
            {
                "cached_runs": len(runs),
                "new_runs": table.new_runs,
                "seconds": round(time.time() - start, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
