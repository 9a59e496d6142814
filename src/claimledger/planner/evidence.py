"""Evidence: check each claim's effect against the ledger's runs on its platform.

For a claim "changing `param` from A to B moves val_bpb by d on platform P", the runs on P with
`param` = A and = B are grouped by the rest of their config; within a group, runs of the same
seed are paired (B - A), and a group with no common seed gives one difference of means. The
platform's noise floor is the pooled seed-to-seed standard deviation of repeated runs (runs of
one config with different seeds). The effect estimate is the mean difference with a bootstrap
95% interval.

A difference is a finding only when it is larger than the noise floor AND its interval excludes
zero: a sub-noise difference is never called a finding. A finding in the claimed direction
supports the claim; one against it (or any finding for a claim of no effect) contradicts it.
A claim of no effect is supported when at least three comparisons bound the effect within the
noise floor.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from claimledger.planner.claims import ClaimEffect, effect_claims, same_value
from claimledger.workspace import Workspace

IGNORED_KEYS = frozenset({"inject_nan_at_step"})  # test hooks, not part of a config's identity
DEFAULT_NOISE_FLOOR = 0.03  # bpb, until repeated runs measure the platform's own
BOOTSTRAP_SAMPLES = 2000
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
    obs: Iterable[Observation], param: str, old: Any, new: Any
) -> tuple[list[float], list[str]]:
    """Differences new - old: paired by seed within a config group, else of group means."""
    arms: dict[str, tuple[dict[Any, list[Observation]], dict[Any, list[Observation]]]] = {}
    for o in obs:
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
    """A 95% percentile bootstrap interval of the mean (deterministic for a seed)."""
    rng = random.Random(seed)
    means = sorted(
        statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(BOOTSTRAP_SAMPLES)
    )
    low, high = means[int(0.025 * len(means))], means[int(0.975 * len(means)) - 1]
    return round(low, 6), round(high, 6)


def judge(claim: ClaimEffect, diffs: Sequence[float], floor: float) -> tuple[str, str]:
    """The verdict on a claim from its comparisons and the noise floor, with the reason."""
    if not diffs:
        return "no-data", "no runs compare the two values on this platform"
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return "inconclusive", f"one comparison ({mean:+.4f}) gives no interval"
    low, high = bootstrap_interval(diffs)
    span = f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] over {len(diffs)} comparisons"
    finding = abs(mean) > floor and (low > 0 or high < 0)
    null_claim = abs(claim.delta) <= NULL_CLAIM
    if finding and not null_claim and (mean < 0) == (claim.delta < 0):
        return "supported", f"measured {span}, beyond the noise floor {floor:.4f}"
    if finding:
        expected = "no effect" if null_claim else f"{claim.delta:+.4f}"
        return "contradicted", f"measured {span} where the claim expects {expected}"
    if null_claim and len(diffs) >= MIN_NULL_COMPARISONS and -floor <= low and high <= floor:
        return "supported", f"measured {span}, within the noise floor {floor:.4f}"
    return "inconclusive", f"measured {span}: not beyond the noise floor {floor:.4f}"


def assess(
    ws: Workspace, platform: str | None = None, claims: Sequence[ClaimEffect] | None = None
) -> list[ClaimEvidence]:
    """The evidence for every claim with an effect (on `platform`, else on its own platform)."""
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
    return results


def evaluate(
    claim: ClaimEffect, platform: str, obs: Sequence[Observation], floor: float
) -> ClaimEvidence:
    """The evidence for one claim from observations on its platform."""
    diffs, used = comparisons(obs, claim.param, claim.old, claim.new)
    verdict, reason = judge(claim, diffs, floor)
    result = ClaimEvidence(claim, platform, verdict, len(diffs), noise_floor=round(floor, 6))
    result.runs, result.reason = used, reason
    if diffs:
        result.delta = round(statistics.fmean(diffs), 6)
    if len(diffs) >= 2:
        result.interval = bootstrap_interval(diffs)
    return result
