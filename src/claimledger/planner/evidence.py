"""Evidence: check each claim's effect against the ledger's runs on its platform.

For a claim "changing `param` from A to B moves val_bpb by d on platform P" (optionally "in
the context C", `effect.context`: the other knobs' values it speaks about), the runs on P with
`param` = A and = B are grouped by the rest of their config (only groups that match the
context); within a group, runs of the same seed are paired (B - A), and a group with no
common seed gives one difference of means. The platform's noise floor is the pooled
seed-to-seed standard deviation of repeated runs.

The estimate is the mean difference with a Student-t 95% interval (n - 1 degrees of freedom:
two differences give an honest, wide interval, never a bootstrap of two points), and a
two-sided paired t-test. Two controls keep the error rate of the verdicts near the nominal
5%: optional stopping (the loop looks again after every run) is paid for by spending alpha
over the looks (look n uses alpha * 6 / (pi^2 (n-1)^2), which sums to alpha), and
`assess` applies Benjamini-Hochberg across the claims it judges together.

A difference is a finding only when it is larger than the noise floor AND its test passes.
A finding in the claimed direction supports the claim; one against it (or any finding for a
claim of no effect) contradicts it. A mean against the claim's sign by half the noise floor or
more, without a finding, weakens it: confidence comes down, and the log says why. A claim of no
effect is supported when at least three comparisons bound the effect within the noise floor.
`strong` marks support whose whole interval lies beyond the noise floor: what `likely` needs.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from claimledger.planner.claims import ClaimEffect, effect_claims, same_value
from claimledger.workspace import Workspace

IGNORED_KEYS = frozenset({"inject_nan_at_step"})  # test hooks, not part of a config's identity
DEFAULT_NOISE_FLOOR = 0.03  # bpb, until repeated runs measure the platform's own
BOOTSTRAP_SAMPLES = 2000
ALPHA = 0.05
NULL_CLAIM = 1e-3  # a claimed |delta| at or below this is a claim of no effect
MIN_NULL_COMPARISONS = 3


@dataclass(frozen=True)
class Observation:
    """One finished run as evidence sees it."""

    run_id: str
    config: dict[str, Any]
    seed: int | None
    val_bpb: float


@dataclass(frozen=True)
class NoiseFloor:
    """The platform's seed-to-seed standard deviation and where it came from."""

    value: float
    groups: int  # configs run with two seeds or more
    runs: int
    measured: bool


@dataclass
class ClaimEvidence:
    """What the ledger says about one claim's effect."""

    claim: ClaimEffect
    platform: str
    verdict: str  # supported | contradicted | inconclusive | no-data
    n: int = 0  # comparisons (paired seeds, or a difference of means per config group)
    delta: float | None = None
    interval: tuple[float, float] | None = None
    noise_floor: float = DEFAULT_NOISE_FLOOR
    runs: list[str] = field(default_factory=list)
    reason: str = ""
    p_value: float | None = None  # paired t-test, two-sided, before any correction
    diffs: list[float] = field(default_factory=list)
    strong: bool = False  # supported with the whole interval beyond the noise floor

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "claim": self.claim.title,
            "path": self.claim.path,
            "platform": self.platform,
            "effect": {"param": self.claim.param, "from": self.claim.old, "to": self.claim.new},
            "claimed_delta": self.claim.delta,
            "verdict": self.verdict,
            "n": self.n,
            "delta": self.delta,
            "interval": list(self.interval) if self.interval else None,
            "noise_floor": self.noise_floor,
            "runs": self.runs,
            "reason": self.reason,
            "p_value": self.p_value,
            "strong": self.strong,
        }


def observations(ws: Workspace, platform: str) -> list[Observation]:
    """The finished (non-crash) runs on a platform that carry a config."""
    from claimledger.ledger import runs

    found = []
    for run in runs(ws, platform=platform):
        bpb = run.get("metrics", {}).get("val_bpb")
        if run["status"] == "crash" or bpb is None or not isinstance(run.get("config"), dict):
            continue
        found.append(Observation(run["id"], run["config"], run.get("seed"), float(bpb)))
    return found


def identity(config: dict[str, Any], leave_out: str | None = None) -> str:
    """A config as a comparable key, without test hooks (and without one param)."""
    try:
        # the type is part of the key: True == 1 and 0 == 0.0 would share a cache entry
        items = tuple(sorted((k, type(v).__name__, v) for k, v in config.items()))
        return _identity(items, leave_out)
    except TypeError:  # an unhashable value (a nested config): the uncached way
        return _identity_of(config, leave_out)


@lru_cache(maxsize=65536)
def _identity(items: tuple[tuple[str, str, Any], ...], leave_out: str | None) -> str:
    return _identity_of({k: v for k, _, v in items}, leave_out)


def _identity_of(config: dict[str, Any], leave_out: str | None) -> str:
    kept = {k: v for k, v in config.items() if k not in IGNORED_KEYS and k != leave_out}
    return json.dumps(kept, sort_keys=True, default=str)


def noise_floor(obs: Sequence[Observation]) -> NoiseFloor:
    """Pooled standard deviation of val_bpb over configs run with several seeds."""
    # A seed run twice repeats itself bit for bit on a token budget: one value per seed.
    by_seed: dict[str, dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    for o in obs:
        by_seed[identity(o.config)][o.seed].append(o.val_bpb)
    groups = [[statistics.fmean(v) for v in seeds.values()] for seeds in by_seed.values()]
    repeated = [values for values in groups if len(values) >= 2]
    dof = sum(len(values) - 1 for values in repeated)
    if not dof:
        return NoiseFloor(DEFAULT_NOISE_FLOOR, 0, 0, measured=False)
    squares = sum(sum((v - statistics.fmean(vs)) ** 2 for v in vs) for vs in repeated)
    return NoiseFloor(
        math.sqrt(squares / dof), len(repeated), sum(map(len, repeated)), measured=True
    )


def comparisons(
    obs: Iterable[Observation],
    param: str,
    old: Any,
    new: Any,
    context: dict[str, Any] | None = None,
) -> tuple[list[float], list[str]]:
    """Differences new - old: paired by seed within a config group, else of group means.

    With a context, only runs whose config has those values count: a claim about one base
    config is not judged by runs in another."""
    arms: dict[str, tuple[dict[Any, list[Observation]], dict[Any, list[Observation]]]] = {}
    for o in obs:
        if context and not all(same_value(o.config.get(k), v) for k, v in context.items()):
            continue
        value = o.config.get(param)
        side = 0 if same_value(value, old) else 1 if same_value(value, new) else None
        if side is not None:
            group = arms.setdefault(identity(o.config, param), ({}, {}))
            group[side].setdefault(o.seed, []).append(o)
    diffs, used = [], []
    for before, after in arms.values():
        common = sorted(set(before) & set(after), key=str)
        for seed in common:
            diffs.append(_mean(after[seed]) - _mean(before[seed]))
        if not common and before and after:
            diffs.append(_mean(_flat(after)) - _mean(_flat(before)))
        if before and after:
            used += [o.run_id for o in _flat(before) + _flat(after)]
    return diffs, used


def _flat(by_seed: dict[Any, list[Observation]]) -> list[Observation]:
    return [o for group in by_seed.values() for o in group]


def _mean(group: list[Observation]) -> float:
    return statistics.fmean(o.val_bpb for o in group)


def bootstrap_interval(diffs: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """A 95% percentile bootstrap interval of the mean (deterministic for a seed).

    Kept for callers; evidence uses `t_interval`, which is honest at small n."""
    rng = random.Random(seed)
    means = sorted(
        statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(BOOTSTRAP_SAMPLES)
    )
    low, high = means[int(0.025 * len(means))], means[int(0.975 * len(means)) - 1]
    return round(low, 6), round(high, 6)


def t_test(diffs: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """(two-sided p-value, 95% Student-t interval) of the mean of n >= 2 paired differences."""
    from scipy import stats

    n, mean = len(diffs), statistics.fmean(diffs)
    sd = statistics.stdev(diffs)
    if sd == 0:
        return (0.0 if mean else 1.0), (round(mean, 6), round(mean, 6))
    se = sd / math.sqrt(n)
    half = float(stats.t.ppf(0.975, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return p, (round(mean - half, 6), round(mean + half, 6))


def look_alpha(n: int, alpha: float = ALPHA) -> float:
    """The alpha spent at the look with n comparisons (n >= 2): the looks sum to alpha."""
    return alpha * 6 / (math.pi**2 * (n - 1) ** 2)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """BH-adjusted p-values (q-values), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = running
    return adjusted


def judge(
    claim: ClaimEffect, diffs: Sequence[float], floor: float, p_adjusted: float | None = None
) -> tuple[str, str]:
    """The verdict on a claim from its comparisons and the noise floor, with the reason.

    `p_adjusted` replaces the test's own p-value (after a correction across claims)."""
    if not diffs:
        return "no-data", "no runs compare the two values on this platform"
    mean = statistics.fmean(diffs)
    null_claim = abs(claim.delta) <= NULL_CLAIM
    against = not null_claim and (mean < 0) != (claim.delta < 0) and abs(mean) >= floor / 2
    if len(diffs) < 2:
        if against:
            return "weakened", f"one comparison ({mean:+.4f}) goes against the claimed sign"
        return "inconclusive", f"one comparison ({mean:+.4f}) gives no interval"
    p, (low, high) = t_test(diffs)
    p = p if p_adjusted is None else p_adjusted
    level = look_alpha(len(diffs))
    span = f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] (t 95%) over {len(diffs)} comparisons"
    finding = abs(mean) > floor and p < level
    if finding and not null_claim and (mean < 0) == (claim.delta < 0):
        return (
            "supported",
            f"measured {span}, p {p:.3g} < {level:.3g}, beyond the floor {floor:.4f}",
        )
    if finding:
        expected = "no effect" if null_claim else f"{claim.delta:+.4f}"
        return "contradicted", f"measured {span}, p {p:.3g}, where the claim expects {expected}"
    if null_claim and len(diffs) >= MIN_NULL_COMPARISONS and -floor <= low and high <= floor:
        return "supported", f"measured {span}, within the noise floor {floor:.4f}"
    if against:
        return "weakened", f"measured {span}: against the claimed {claim.delta:+.4f}, no finding"
    return "inconclusive", f"measured {span}: no finding (floor {floor:.4f}, p {p:.3g})"


def assess(
    ws: Workspace, platform: str | None = None, claims: Sequence[ClaimEffect] | None = None
) -> list[ClaimEvidence]:
    """The evidence for every claim with an effect (on `platform`, else on its own platform),
    with Benjamini-Hochberg across the claims judged together."""
    claims = list(claims) if claims is not None else effect_claims(ws, platform)
    cache: dict[str, tuple[list[Observation], NoiseFloor]] = {}
    results = []
    for claim in claims:
        where = platform or claim.platform
        if where is None:
            continue
        if where not in cache:
            obs = observations(ws, where)
            cache[where] = (obs, noise_floor(obs))
        obs, floor = cache[where]
        results.append(evaluate(claim, where, obs, floor.value))
    return correct_for_multiplicity(results, {p: f for p, (_, f) in cache.items()})


def correct_for_multiplicity(
    results: list[ClaimEvidence], floors: dict[str, NoiseFloor]
) -> list[ClaimEvidence]:
    """Judge every tested claim again with its BH-adjusted p-value."""
    tested = [r for r in results if r.p_value is not None]
    if len(tested) < 2:
        return results
    for result, q in zip(tested, benjamini_hochberg([r.p_value for r in tested]), strict=True):
        diffs = result.diffs
        verdict, reason = judge(result.claim, diffs, floors[result.platform].value, q)
        result.verdict, result.reason = verdict, f"{reason} (BH over {len(tested)} claims)"
        result.strong = _strong(result)
    return results


def _strong(result: ClaimEvidence) -> bool:
    if result.verdict != "supported" or result.interval is None or result.delta is None:
        return False
    low, high = result.interval
    near = high if result.delta < 0 else low
    return abs(result.claim.delta) > NULL_CLAIM and abs(near) > result.noise_floor


def evaluate(
    claim: ClaimEffect, platform: str, obs: Sequence[Observation], floor: float
) -> ClaimEvidence:
    """The evidence for one claim from observations on its platform (and in its context)."""
    diffs, used = comparisons(obs, claim.param, claim.old, claim.new, claim.context_dict)
    verdict, reason = judge(claim, diffs, floor)
    result = ClaimEvidence(claim, platform, verdict, len(diffs), noise_floor=round(floor, 6))
    result.runs, result.reason, result.diffs = used, reason, list(diffs)
    if diffs:
        result.delta = round(statistics.fmean(diffs), 6)
    if len(diffs) >= 2:
        result.p_value, result.interval = t_test(diffs)
    result.strong = _strong(result)
    return result
