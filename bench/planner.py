"""Benchmark of the planner strategies on a cached table of real trainer results.

bench/data/planner_table.json (built by bench/build_planner_table.py) holds real val_bpb of the
bundled trainer for every point of a small grid (muon_lr x embed_lr x batch_size x
warmdown_frac) with three seeds, on a 200K-token budget. A simulated run of a config returns
the table's result for one seed: as with `claimledger run`, the k-th run of every config uses
the same seed (the k-th of an order drawn per repetition), so noise is real and runs of
different configs pair by seed as real ones do. Each strategy starts
from one run of the trainer defaults and proposes one config at a time through the same
`PlanState` / `propose` code that `claimledger plan` uses; the noise floor it sees is
estimated from its own repeated runs, as in a workspace.

Runs-to-target: the number of runs until the strategy's incumbent (the config with the lowest
observed mean) has a true mean (over the table's seeds) at or below the target, the 4th best
true mean of the grid (the top 10%). Median over the repetitions; a repetition that never gets
there counts as the run limit.

    .venv/bin/python bench/planner.py                 # 30 repetitions
    .venv/bin/python bench/planner.py --reps 5        # quick look

Strategies: random search, Optuna TPE, the claims planner with the workspace's seed claims
(those whose effect is on the table's platform), and the claims planner with deliberately wrong
claims (for every knob: the truly worst value claimed best and the truly best claimed worst, at
confidence `likely`). Prints `name: value` lines, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from claimledger.planner.claims import ClaimEffect, effect_claims
from claimledger.planner.evidence import Observation, identity, noise_floor
from claimledger.planner.guided import ClaimGuided
from claimledger.planner.strategies import PlanState, RandomSearch, TPESearch, incumbent
from claimledger.trainer import trainer_defaults
from claimledger.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "bench" / "data" / "planner_table.json"
PLATFORM = "cpu-2core-tok200K"
MAX_RUNS = 40
TARGET_RANK = 4  # the target is the 4th best true mean of the grid


class Table:
    """The cached results: each point's val_bpb by seed, and its true mean."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.space: dict[str, list[Any]] = data["space"]
        self.defaults = trainer_defaults()
        self.results: dict[str, dict[int, float]] = {}
        for point in data["points"].values():
            by_seed = {r["seed"]: r["val_bpb"] for r in point["runs"] if r["val_bpb"] is not None}
            if by_seed:
                self.results[self.key(point["config"])] = by_seed
        self.seeds = sorted({seed for by_seed in self.results.values() for seed in by_seed})
        self.means = {k: statistics.fmean(v.values()) for k, v in self.results.items()}
        self.target = sorted(self.means.values())[TARGET_RANK - 1]
        self.default_key = self.key(self.defaults)

    def key(self, config: dict[str, Any]) -> str:
        return identity({k: config[k] for k in self.space})

    def seed_spread(self) -> float:
        """Pooled seed-to-seed standard deviation of val_bpb over the points."""
        squares = dof = 0.0
        for by_seed in self.results.values():
            mean = statistics.fmean(by_seed.values())
            squares += sum((v - mean) ** 2 for v in by_seed.values())
            dof += len(by_seed) - 1
        return (squares / dof) ** 0.5 if dof else 0.0


class Simulation:
    """One repetition: the runs so far, and the order in which seeds are used.

    As with `claimledger run`, the k-th run of any config uses the same seed (here the k-th of
    a seed order drawn per repetition), so runs of different configs pair by seed as real
    ones do."""

    def __init__(self, table: Table, rng: random.Random) -> None:
        self.table = table
        self.seed_order = rng.sample(table.seeds, k=len(table.seeds))
        self.trials: list[Observation] = []

    def run(self, config: dict[str, Any]) -> None:
        key = self.table.key(config)
        done = sum(self.table.key(t.config) == key for t in self.trials)
        by_seed = self.table.results[key]
        order = [s for s in self.seed_order if s in by_seed]
        seed = order[done % len(order)]
        self.trials.append(Observation(f"r{len(self.trials)}", dict(config), seed, by_seed[seed]))

    def reached(self) -> bool:
        best = incumbent(self.trials, self.table.defaults)
        return self.table.means[self.table.key(best)] <= self.table.target


def runs_to_target(table: Table, strategy: Any, claims: list[ClaimEffect], rep: int) -> int:
    """Runs until the incumbent's true mean reaches the target (MAX_RUNS if never)."""
    rng = random.Random(rep)
    sim = Simulation(table, rng)
    sim.run(table.defaults)
    while len(sim.trials) < MAX_RUNS:
        if sim.reached():
            return len(sim.trials)
        state = PlanState(
            space=table.space,
            base=incumbent(sim.trials, table.defaults),
            trials=sim.trials,
            claims=claims,
            noise=noise_floor(sim.trials).value,
            rng=rng,
        )
        proposed = strategy.propose(state, 1)
        if not proposed:
            break
        sim.run(proposed[0].config)
    return len(sim.trials) if sim.reached() else MAX_RUNS


def seed_claims(table: Table) -> list[ClaimEffect]:
    """The workspace's claims with an effect on the table's platform and a knob of its space."""
    claims = effect_claims(Workspace.open(REPO), PLATFORM)
    return [c for c in claims if c.param in table.space]


def wrong_claims(table: Table) -> list[ClaimEffect]:
    """For every knob: its truly worst value claimed best, its truly best claimed worst."""
    claims = []
    for param, values in table.space.items():
        default = table.defaults[param]
        effects = {v: table.means[table.key({**table.defaults, param: v})] for v in values}
        best, worst = min(effects, key=effects.get), max(effects, key=effects.get)
        for value, delta in ((worst, -0.05), (best, 0.05)):
            if value != default:
                claims.append(
                    _claim(f"wrong: {param} {default} -> {value}", param, default, value, delta)
                )
    return claims


def _claim(title: str, param: str, old: Any, new: Any, delta: float) -> ClaimEffect:
    return ClaimEffect(
        title, f"bench/{title}.md", param, old, new, delta, 0, PLATFORM, "likely", "active"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--table", type=Path, default=TABLE)
    args = parser.parse_args()
    table = Table(args.table)
    arms = {
        "random": (RandomSearch(), []),
        "tpe": (TPESearch(), []),
        "planner_seed_claims": (ClaimGuided(), seed_claims(table)),
        "planner_wrong_claims": (ClaimGuided(), wrong_claims(table)),
    }
    print(f"points: {len(table.results)}")
    print(f"runs_per_point: {statistics.fmean(len(v) for v in table.results.values()):.1f}")
    print(f"seed_spread_val_bpb: {table.seed_spread():.4f}")
    print(f"target_val_bpb: {table.target:.4f}")
    print(f"default_val_bpb: {table.means[table.default_key]:.4f}")
    print(f"best_val_bpb: {min(table.means.values()):.4f}")
    print(f"seed_claims_used: {len(arms['planner_seed_claims'][1])}")
    figures: dict[str, Any] = {}
    for name, (strategy, claims) in arms.items():
        start = time.perf_counter()
        if isinstance(strategy, TPESearch):
            counts = [
                runs_to_target(table, TPESearch(seed=rep), claims, rep) for rep in range(args.reps)
            ]
        else:
            counts = [runs_to_target(table, strategy, claims, rep) for rep in range(args.reps)]
        figures[name] = {
            "median": statistics.median(counts),
            "mean": round(statistics.fmean(counts), 2),
            "reached": sum(c < MAX_RUNS for c in counts),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(f"{name}_median_runs: {figures[name]['median']}")
        print(f"{name}_mean_runs: {figures[name]['mean']}")
    ratios = {
        "seed_claims_vs_random": figures["planner_seed_claims"]["median"]
        / figures["random"]["median"],
        "seed_claims_vs_tpe": figures["planner_seed_claims"]["median"] / figures["tpe"]["median"],
        "wrong_claims_vs_tpe": figures["planner_wrong_claims"]["median"] / figures["tpe"]["median"],
    }
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    print(
        json.dumps(
            {"reps": args.reps, "max_runs": MAX_RUNS, "target": table.target, **figures, **ratios}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
