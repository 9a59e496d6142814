"""Benchmark of the planner against tuned baselines on a lazy table of real trainer runs.

The world: bench/data/planner_cache.json, (task, config, seed) -> val_bpb of the bundled
trainer over ten knobs (bench/plannerbench/space.py; two tasks, the bundled corpus on 50K and
100K tokens, three seeds), filled by bench/build_planner_table.py and, with --max-new-runs,
by this script as strategies ask for points; past that, a surrogate fitted on the cached runs
answers, and every figure says what share of its points were real (bench/plannerbench/table.py).

A repetition draws a seed order (the k-th run of any config uses its k-th seed, as `claimledger
run` does) and a tie-breaking stream, starts from one run of the defaults and lets a strategy
propose one config at a time, for 40 runs. Simple regret after r runs: the true mean of the
incumbent (lowest observed mean) minus the best true mean known. Runs-to-target: runs until
the incumbent's true mean is 90% of the way from the defaults to the best known.

Arms. Claims planner (the library's ClaimGuided through PlanState/propose) with: no claims;
`literature` (the offline extractor over inbox/) and `placebo` (blind moves, random signs),
registered in bench/claims/MANIFEST.json before the table held any result; `blind`
(bench/claims/blind_fresh.json: general priors by a fresh agent that read only the space and
the trainer's source, registered in MANIFEST-blind-fresh.json before it was scored); the
earlier hand-written priors, printed as `planner_blind_contaminated` (their writer had seen an
older table) and kept out of the goals; `oracle` (true deltas of every one-knob move from the
defaults, the ceiling); `adversarial` (true deltas with the sign flipped, confidence likely);
`transfer` (claims the loop learned from 20 runs of the no-claims planner on task A, each in
the context it was measured in, scored on B). Every arm file is checked against its manifest's
sha256. Baselines: random search; Optuna TPE with 3 start-up trials; TPE with the blind claims'
predicted-good moves enqueued first (enqueue_trial). Medians of runs-to-target carry a 95%
bootstrap interval. TPE is also rerun with five independent sampler seed sets on the same
repetitions: the spread of its median shows how far a 100-repetition median moves by a
strategy's own randomness, and the goals compare against its median pooled over the five.

    .venv/bin/python bench/planner.py  # 300 repetitions, draws docs/planner-{regret,figures}.png
    .venv/bin/python bench/planner.py --reps 5 --no-plot

Prints `name: value` lines, PASS/FAIL against the goals of issue 18, then one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from claimledger.planner.claims import ClaimEffect
from claimledger.planner.evidence import Observation, comparisons, judge, noise_floor
from claimledger.planner.guided import ClaimGuided
from claimledger.planner.strategies import (
    Candidate,
    PlanState,
    RandomSearch,
    diff,
    incumbent,
    random_config,
)
from plannerbench.space import PLATFORM, SEEDS, SPACE, TASKS, canonical, defaults
from plannerbench.table import Table

REPO = Path(__file__).resolve().parents[1]
CLAIMS = REPO / "bench" / "claims"
FIGURES = REPO / "bench" / "data" / "planner_figures.json"
PLOT = REPO / "docs" / "planner-regret.png"
FIGURES_PLOT = REPO / "docs" / "planner-figures.png"
MAX_RUNS = 40
TRANSFER_RUNS = 20
TARGET_SHARE = 0.9  # of the way from the defaults to the best known config
SIGN_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
# TPE is rerun with this many independent sampler seed sets on the same repetitions: how far
# a 100-repetition median moves by the strategy's own randomness alone, and a pooled baseline.
TPE_SEED_SETS = 5


# --- claims arms ---------------------------------------------------------------------------
def load_arm(name: str) -> list[ClaimEffect]:
    """A pre-registered arm, refused if its file no longer matches its manifest."""
    path = CLAIMS / f"{name}.json"
    registered = {}
    for manifest in sorted(CLAIMS.glob("MANIFEST*.json")):
        registered.update(json.loads(manifest.read_text())["sha256"])
    if hashlib.sha256(path.read_bytes()).hexdigest() != registered.get(name):
        raise SystemExit(f"{path}: does not match its bench/claims/MANIFEST*.json; not scored")
    return [
        claim(c["title"], c["param"], c["from"], c["to"], c["delta"], c["confidence"])
        for c in json.loads(path.read_text())["claims"]
    ]


def claim(
    title: str,
    param: str,
    old: Any,
    new: Any,
    delta: float,
    conf: str,
    runs: tuple[str, ...] = (),
    context: tuple[tuple[str, Any], ...] = (),
) -> ClaimEffect:
    return ClaimEffect(
        title,
        f"bench/{title}.md",
        param,
        old,
        new,
        delta,
        0,
        PLATFORM,
        conf,
        "active",
        context=context,
        runs=runs,
    )


def true_deltas(table: Table, task: str) -> list[tuple[str, Any, Any, float]]:
    """Every one-knob move from the defaults with its true effect on a task."""
    base = defaults()
    base_mean = table.true_mean(task, base)
    return [
        (k, base[k], v, table.true_mean(task, {**base, k: v}) - base_mean)
        for k, values in SPACE.items()
        for v in values
        if v != base[k]
    ]


def oracle(table: Table, task: str, sign: int = 1) -> list[ClaimEffect]:
    conf = "likely"
    return [
        claim(f"oracle {k} {a}->{b}", k, a, b, sign * d, conf)
        for k, a, b, d in true_deltas(table, task)
    ]


def mixed_signs(table: Table, task: str, fraction: float, rng: random.Random) -> list[ClaimEffect]:
    """True magnitudes, the right sign on `fraction` of the moves (chosen at random)."""
    moves = true_deltas(table, task)
    right = set(rng.sample(range(len(moves)), round(fraction * len(moves))))
    return [
        claim(f"mixed {k} {a}->{b}", k, a, b, d if i in right else -d, "experimental")
        for i, (k, a, b, d) in enumerate(moves)
    ]


def learned_claims(trials: list[Observation], ledger: str) -> list[ClaimEffect]:
    """What a loop learns from its runs: one claim per measured one-knob move in the context it
    was measured in (the other knobs' values, paired by seed), confidence experimental when the
    mean is beyond the noise floor, else speculative, citing the runs it was measured on (in
    `ledger`, so they are not mistaken for the runs of another)."""
    floor = noise_floor(trials).value
    seen, found = set(), []
    configs = {canonical(t.config): t.config for t in trials}
    for a in configs.values():
        for b in configs.values():
            changed = [k for k in SPACE if a[k] != b[k]]
            if len(changed) != 1:
                continue
            k = changed[0]
            context = tuple(sorted((x, a[x]) for x in SPACE if x != k))
            if (k, context) in seen:
                continue
            seen.add((k, context))
            diffs, used = comparisons(trials, k, a[k], b[k], dict(context))
            if diffs:
                mean = statistics.fmean(diffs)
                conf = "experimental" if abs(mean) > floor else "speculative"
                runs = tuple(f"{ledger}/{run}" for run in used)
                title = f"learned {k} {a[k]}->{b[k]} in {canonical(a)}"
                found.append(claim(title, k, a[k], b[k], mean, conf, runs, context))
    return found


# --- strategies ----------------------------------------------------------------------------
class TPE:
    """Optuna TPE with few start-up trials, one study per repetition, told every result;
    `enqueue` configs are asked first (Optuna's enqueue_trial)."""

    name = "tpe"

    def __init__(self, seed: int, startup: int = 3, enqueue: list[dict] | None = None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.dist = {k: optuna.distributions.CategoricalDistribution(v) for k, v in SPACE.items()}
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
        self.study = optuna.create_study(sampler=sampler)
        for config in enqueue or []:
            self.study.enqueue_trial(config)
        self.told = 0

    def propose(self, state: PlanState, k: int) -> list[Candidate]:
        for trial in state.trials[self.told :]:
            params = {key: trial.config[key] for key in SPACE}
            self.study.add_trial(
                self.optuna.trial.create_trial(
                    params=params, distributions=self.dist, value=trial.val_bpb
                )
            )
        self.told = len(state.trials)
        for _ in range(8):
            trial = self.study.ask(self.dist)
            config = {**state.base, **trial.params}
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)  # told for real later
            if state.allowed(config):
                return [Candidate(config, diff(state.base, config), "exploration")]
        config = random_config(state)
        return [Candidate(config, diff(state.base, config), "exploration")] if config else []


def good_moves(claims: list[ClaimEffect]) -> list[dict]:
    """The configs of the moves claims predict to help, best predicted first (for TPE)."""
    base = defaults()
    ranked = sorted((c for c in claims if c.delta < 0), key=lambda c: c.delta)
    return [{**base, c.param: c.new} for c in ranked if c.param in SPACE and base[c.param] == c.old]


# --- one repetition ------------------------------------------------------------------------
class Simulation:
    def __init__(self, table: Table, task: str, rng: random.Random) -> None:
        self.table, self.task = table, task
        self.seed_order = rng.sample(list(SEEDS), k=len(SEEDS))
        self.trials: list[Observation] = []

    def run(self, config: dict[str, Any]) -> None:
        key = canonical(config)
        done = sum(canonical(t.config) == key for t in self.trials)
        seed = self.seed_order[done % len(SEEDS)]
        value = self.table.value(self.task, config, seed)
        self.trials.append(Observation(f"r{len(self.trials)}", dict(config), seed, value))


def trajectory(
    table: Table, task: str, strategy: Any, claims: list[ClaimEffect], rep: int, runs: int
) -> tuple[list[float], list[Observation]]:
    """The incumbent's true mean after each run, 1..runs, and the runs."""
    rng = random.Random(rep * 7919 + 1)
    sim = Simulation(table, task, rng)
    base = defaults()
    sim.run(base)
    means = [table.true_mean(task, base)]
    while len(sim.trials) < runs:
        state = PlanState(
            space=SPACE,
            base=incumbent(sim.trials, base),
            trials=sim.trials,
            claims=claims,
            noise=noise_floor(sim.trials).value,
            rng=rng,
        )
        proposed = strategy.propose(state, 1)
        if not proposed:
            break
        sim.run(proposed[0].config)
        means.append(table.true_mean(task, incumbent(sim.trials, base)))
    means += [means[-1]] * (runs - len(means))
    return means, sim.trials


def median_interval(values: list[int], draws: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval of the median (percentile method, fixed seed)."""
    rng = random.Random(18)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


# --- the judge's error rates ---------------------------------------------------------------
def judge_rates(table: Table, task: str, reps: int) -> dict[str, dict[int, float]]:
    """False support (true effect 0, claimed -0.03) and false contradiction (true effect =
    claimed, the median real one-knob effect) of the evidence judge at n paired comparisons,
    with paired differences drawn from the table's own paired-difference spread."""
    sd_pair = paired_sd(table, task)
    floor = seed_sd(table, task)
    moves = [d for *_, d in true_deltas(table, task) if abs(d) > 2 * sd_pair]
    real_effect = statistics.median(abs(d) for d in moves) if moves else 0.05
    rng = random.Random(18)
    rates: dict[str, dict[int, float]] = {"false_support": {}, "false_contradiction": {}}
    null = claim("null", "x", 0, 1, -0.03, "speculative")
    real = claim("real", "x", 0, 1, -real_effect, "speculative")
    for n in (2, 3, 6):
        fs = fc = 0
        for _ in range(reps):
            diffs0 = [rng.gauss(0.0, sd_pair) for _ in range(n)]
            fs += judge(null, diffs0, floor)[0] == "supported"
            diffs1 = [rng.gauss(-real_effect, sd_pair) for _ in range(n)]
            fc += judge(real, diffs1, floor)[0] == "contradicted"
        rates["false_support"][n] = fs / reps
        rates["false_contradiction"][n] = fc / reps
    rates["paired_sd"] = {0: sd_pair}
    rates["noise_floor"] = {0: floor}
    return rates


def star(table: Table, task: str) -> dict[str, dict[int, float]]:
    """The real runs of the defaults and their one-knob neighbours: where claims speak."""
    base = defaults()
    keys = {canonical(base)} | {
        canonical({**base, k: v}) for k, values in SPACE.items() for v in values
    }
    return {c: v for c, v in table.real_points(task).items() if c in keys and len(v) == len(SEEDS)}


def paired_sd(table: Table, task: str) -> float:
    """The spread of seed-paired differences of real one-knob moves around their mean."""
    points = star(table, task)
    base = points.get(canonical(defaults()))
    if not base:
        return 0.02
    residuals = []
    for by_seed in points.values():
        d = [by_seed[s] - base[s] for s in SEEDS]
        m = statistics.fmean(d)
        residuals += [x - m for x in d]
    dof = max(1, len(residuals) - len(residuals) // len(SEEDS))
    return (sum(r * r for r in residuals) / dof) ** 0.5


def seed_sd(table: Table, task: str) -> float:
    obs = [
        Observation("x", json.loads(c), s, v)
        for c, by_seed in star(table, task).items()
        for s, v in by_seed.items()
    ]
    return noise_floor(obs).value


# --- the arms ------------------------------------------------------------------------------
def make_arms(table: Table, task: str) -> dict[str, tuple[Any, list[ClaimEffect]]]:
    """name -> (strategy factory taking the repetition, claims) of every arm scored on a task."""
    return {
        "random": (lambda rep: RandomSearch(), []),
        "tpe3": (lambda rep: TPE(rep), []),
        "tpe3_blind_enqueued": (
            lambda rep: TPE(rep, enqueue=good_moves(load_arm("blind_fresh"))),
            [],
        ),
        "planner_none": (lambda rep: ClaimGuided(), []),
        "planner_literature": (lambda rep: ClaimGuided(), load_arm("literature")),
        "planner_blind": (lambda rep: ClaimGuided(), load_arm("blind_fresh")),
        "planner_blind_contaminated": (lambda rep: ClaimGuided(), load_arm("blind")),
        "planner_placebo": (lambda rep: ClaimGuided(), load_arm("placebo")),
        "planner_oracle": (lambda rep: ClaimGuided(), oracle(table, task)),
        "planner_adversarial": (lambda rep: ClaimGuided(), oracle(table, task, sign=-1)),
    }


def tpe_seed_sets(
    table: Table, task: str, reps: int, first: list[list[float]]
) -> list[list[list[float]]]:
    """TPE's trajectories under TPE_SEED_SETS sampler seed sets; the first is figure 1's."""
    return [first] + [
        [
            trajectory(table, task, TPE(rep + 100_000 * s), [], rep, MAX_RUNS)[0]
            for rep in range(reps)
        ]
        for s in range(1, TPE_SEED_SETS)
    ]


def transfer_runs(table: Table, task: str, other: str, reps: int) -> dict[str, list[list[float]]]:
    """On `other`: the no-claims planner, and the planner with the claims it learned on `task`."""
    found: dict[str, list[list[float]]] = {"planner_none": [], "planner_transfer": []}
    for rep in range(reps):
        _, trials = trajectory(table, task, ClaimGuided(), [], rep, TRANSFER_RUNS)
        learned = learned_claims(trials, task)
        found["planner_transfer"].append(
            trajectory(table, other, ClaimGuided(), learned, rep, MAX_RUNS)[0]
        )
        found["planner_none"].append(trajectory(table, other, ClaimGuided(), [], rep, MAX_RUNS)[0])
    return found


# --- main ----------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 300, not 100: TPE's own median over 100 repetitions moves from 31 to 39.5 between
    # sampler seed sets (tpe3_seed_sets), more than the differences the goals look for.
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--max-new-runs", type=int, default=0, help="real runs it may add")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where to write the figures")
    args = parser.parse_args()
    table = Table(max_new_runs=args.max_new_runs)
    start = time.perf_counter()
    if not table.manifest_ok:
        print("FAIL: the table was started under another claims manifest")
    task, other = "A", "B"
    arms = make_arms(table, task)
    base_mean = table.true_mean(task, defaults())
    runs: dict[str, list[list[float]]] = {}
    reads: dict[str, float] = {}
    for name, (make, claims) in arms.items():
        before = dict(table.reads)
        runs[name] = [
            trajectory(table, task, make(rep), claims, rep, MAX_RUNS)[0] for rep in range(args.reps)
        ]
        real = table.reads["real"] - before["real"]
        reads[name] = real / max(1, real + table.reads["surrogate"] - before["surrogate"])
    tpe_sets = tpe_seed_sets(table, task, args.reps, runs["tpe3"])
    # transfer: learned on A by the no-claims planner, scored on B against no claims on B
    runs_b = transfer_runs(table, task, other, args.reps)
    # runs-to-target against the fraction of right-sign claims
    sign_runs: dict[float, list[list[float]]] = {}
    for fraction in SIGN_FRACTIONS:
        sign_runs[fraction] = [
            trajectory(
                table,
                task,
                ClaimGuided(),
                mixed_signs(table, task, fraction, random.Random(rep)),
                rep,
                MAX_RUNS,
            )[0]
            for rep in range(args.reps)
        ]
    # the best known true mean: over every config any repetition's incumbent reached
    best = {
        task: min(
            [m for r in [*runs.values(), *sign_runs.values()] for t in r for m in t]
            + [table.true_mean(task, json.loads(c)) for c in table.real_points(task)]
        ),
        other: min(
            [m for r in runs_b.values() for t in r for m in t]
            + [table.true_mean(other, json.loads(c)) for c in table.real_points(other)]
        ),
    }
    target = {
        t: best[t] + (1 - TARGET_SHARE) * (table.true_mean(t, defaults()) - best[t])
        for t in (task, other)
    }

    def rtts(trajs: list[list[float]], t: str) -> list[int]:
        return [
            next((i + 1 for i, m in enumerate(tr) if m <= target[t] + 1e-12), MAX_RUNS + 1)
            for tr in trajs
        ]

    def rtt(trajs: list[list[float]], t: str) -> float:
        return statistics.median(rtts(trajs, t))

    def regret(trajs: list[list[float]], t: str, r: int) -> tuple[float, float, float]:
        return quantiles([tr[r - 1] - best[t] for tr in trajs])

    figures: dict[str, Any] = {"reps": args.reps, "max_runs": MAX_RUNS, "task": task}
    cached = table.data["runs"]
    print(f"cached_real_runs: {len(cached)}")
    for t in (task, other):
        check = table.surrogate_check(t)
        print(f"task_{t}_tokens: {TASKS[t]}")
        print(f"task_{t}_real_configs_all_seeds: {check['configs']}")
        print(
            f"task_{t}_surrogate_loo_rmse: {check['rmse']:.4f} (spread of true means "
            f"{check['spread']:.4f}, seed residual sd {check.get('seed_sd', 0):.4f})"
        )
        print(f"task_{t}_default_val_bpb: {table.true_mean(t, defaults()):.4f}")
        print(f"task_{t}_best_known_val_bpb: {best[t]:.4f}")
        print(f"task_{t}_target_val_bpb: {target[t]:.4f}")
        figures[f"task_{t}"] = {**check, "best": best[t], "target": target[t]}
    print(f"default_val_bpb: {base_mean:.4f}")

    def reached(trajs: list[list[float]], t: str) -> float:
        return sum(n <= MAX_RUNS for n in rtts(trajs, t)) / len(trajs)

    def mean_regret(trajs: list[list[float]], t: str) -> float:
        """Regret averaged over runs 1-40 and repetitions: the area under the curve, which a
        median near the cap of runs-to-target hides."""
        return statistics.fmean(m - best[t] for tr in trajs for m in tr)

    print("figure 1: simple regret on task A (median [IQR]) after 5 / 10 / 20 / 40 runs")
    for name, trajs in runs.items():
        cells = [regret(trajs, task, r) for r in (5, 10, 20, 40)]
        figures[name] = {
            "runs_to_target": rtt(trajs, task),
            "reached_target": reached(trajs, task),
            "mean_regret": round(mean_regret(trajs, task), 4),
            "regret": {r: c for r, c in zip((5, 10, 20, 40), cells, strict=True)},
            "curve": [quantiles([tr[i] - best[task] for tr in trajs]) for i in range(MAX_RUNS)],
            "real_share": round(reads[name], 3),
            "runs_to_target_ci95": median_interval(rtts(trajs, task)),
        }
        text = "  ".join(f"{m:.4f} [{lo:.4f},{hi:.4f}]" for lo, m, hi in cells)
        lo, hi = figures[name]["runs_to_target_ci95"]
        print(
            f"  {name}: runs_to_target {rtt(trajs, task)} (95% CI {lo}-{hi})  regret {text}  "
            f"real_share {reads[name]:.2f}  reached {figures[name]['reached_target']:.2f}  "
            f"mean_regret {figures[name]['mean_regret']:.4f}"
        )
    set_medians = [rtt(trajs, task) for trajs in tpe_sets]
    pooled = rtt([tr for trajs in tpe_sets for tr in trajs], task)
    figures["tpe3_seed_sets"] = {
        "runs_to_target": set_medians,
        "reached_target": [reached(trajs, task) for trajs in tpe_sets],
        "pooled_runs_to_target": pooled,
    }
    print(
        f"  tpe3 over {TPE_SEED_SETS} sampler seed sets: runs_to_target {set_medians} "
        f"(pooled over {TPE_SEED_SETS * args.reps} trajectories: {pooled})  reached "
        f"{[round(x, 2) for x in figures['tpe3_seed_sets']['reached_target']]}"
    )
    print("figure 1b: task B (transfer)")
    for name, trajs in runs_b.items():
        b = figures[f"B_{name}"] = {
            "runs_to_target": rtt(trajs, other),
            "regret10": regret(trajs, other, 10),
            "reached_target": reached(trajs, other),
            "mean_regret": round(mean_regret(trajs, other), 4),
        }
        lo, m, hi = b["regret10"]
        print(
            f"  B_{name}: runs_to_target {b['runs_to_target']}  regret@10 {m:.4f} "
            f"[{lo:.4f},{hi:.4f}]  reached {b['reached_target']:.2f}  "
            f"mean_regret {b['mean_regret']:.4f}"
        )
    print("figure 2: runs-to-target on A against the fraction of right-sign claims")
    figures["sign_fraction"] = {}
    for fraction, trajs in sign_runs.items():
        figures["sign_fraction"][fraction] = rtt(trajs, task)
        print(f"  right_sign_{fraction:.2f}: {rtt(trajs, task)}")
    rates = judge_rates(table, task, 2000)
    figures["judge"] = rates
    print(
        f"figure 3: evidence judge (noise floor {rates['noise_floor'][0]:.4f}, paired sd "
        f"{rates['paired_sd'][0]:.4f}, 2000 draws each)"
    )
    for n in (2, 3, 6):
        print(
            f"  n={n}: false_support {rates['false_support'][n]:.3f}  "
            f"false_contradiction {rates['false_contradiction'][n]:.3f}"
        )

    def r(name: str) -> float:
        return figures[name]["runs_to_target"]

    def reg10(name: str) -> float:
        return figures[name]["regret"][10][1]

    tpe = figures["tpe3_seed_sets"]["pooled_runs_to_target"]  # the baseline, measured 5x over
    goals = [
        (
            "literature or blind <= 0.8x TPE runs-to-target (pooled over its seed sets)",
            min(r("planner_literature"), r("planner_blind")) <= 0.8 * tpe,
        ),
        (
            "literature or blind: lower median regret at 10 runs than TPE",
            min(reg10("planner_literature"), reg10("planner_blind")) < reg10("tpe3"),
        ),
        ("no-claims planner <= TPE runs-to-target (pooled)", r("planner_none") <= tpe),
        ("placebo <= 1.2x no-claims", r("planner_placebo") <= 1.2 * r("planner_none")),
        (
            "transfer A->B <= 0.7x no-claims on B",
            figures["B_planner_transfer"]["runs_to_target"]
            <= 0.7 * figures["B_planner_none"]["runs_to_target"],
        ),
        (
            "false support under a null effect <= 5% at n = 2, 3, 6",
            all(v <= 0.05 for v in rates["false_support"].values()),
        ),
        ("claims arms match their pre-registered sha256", table.manifest_ok),
    ]
    for text, ok in goals:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    figures["goals"] = {text: ok for text, ok in goals}
    figures["seconds"] = round(time.perf_counter() - start, 1)
    print(f"new_real_runs: {table.new_runs}")
    print(f"seconds: {figures['seconds']}")
    args.figures.write_text(json.dumps(figures, indent=1, default=str) + "\n")
    if not args.no_plot:
        plot(figures, runs)
    summary = {
        name: figures[name]["runs_to_target"] for name in [*runs, *(f"B_{n}" for n in runs_b)]
    }
    print(json.dumps({"reps": args.reps, "runs_to_target": summary, "goals": figures["goals"]}))
    return 0


def plot(figures: dict[str, Any], runs: dict[str, list[list[float]]]) -> None:
    """docs/planner-regret.png (figure 1) and docs/planner-figures.png (figures 2 and 3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    xs = list(range(1, MAX_RUNS + 1))
    for name in runs:
        curve = figures[name]["curve"]
        ax.plot(xs, [c[1] for c in curve], label=name)
        ax.fill_between(xs, [c[0] for c in curve], [c[2] for c in curve], alpha=0.12)
    ax.set_xlabel("runs")
    ax.set_ylabel("simple regret (val_bpb above best known)")
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_title(f"Task A, median and IQR over {figures['reps']} repetitions")
    ax.legend(fontsize=7)
    save(fig, PLOT)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    fractions = sorted(figures["sign_fraction"], key=float)
    left.plot([float(f) for f in fractions], [figures["sign_fraction"][f] for f in fractions], "o-")
    left.set_xlabel("fraction of claims with the right sign")
    left.set_ylabel("median runs to target (task A)")
    for kind, style in (("false_support", "o-"), ("false_contradiction", "s--")):
        rates = figures["judge"][kind]
        right.plot(list(rates), list(rates.values()), style, label=kind.replace("_", " "))
    right.axhline(0.05, color="grey", linewidth=0.8)
    right.set_xlabel("paired comparisons n")
    right.set_ylabel("rate")
    right.set_title("evidence judge against the table's effects")
    right.legend(fontsize=8)
    save(fig, FIGURES_PLOT)


def save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
