"""The claim-guided strategy: one-knob moves from the incumbent, ranked by what claims and runs say.

Every move (one knob of the space set to another value) gets a Gaussian belief about its effect
on val_bpb. The prior comes from the claims whose effect names that move (or its reverse,
negated): their confidence-weighted mean, with a spread that shrinks as more and surer claims
agree; a move no claim speaks about gets a wide prior around zero. The data are the ledger's
comparisons of the two values (paired seeds), each with the variance of a difference of two
runs at the platform's noise floor. The score is the posterior mean minus one posterior sd (an
optimistic bound, so uncertain moves get their chance); the lowest score runs first.
Wrong claims cost the runs that refute them and no more, since their weight is a few runs'.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from claimledger.planner.evidence import NULL_CLAIM, comparisons, identity
from claimledger.planner.strategies import (
    CONFIDENCE_WEIGHT,
    OPTIMISM,
    UNDER_REVIEW_WEIGHT,
    UNKNOWN_EFFECT_SD,
    Candidate,
    PlanState,
    diff,
    random_config,
)

MIN_NOISE = 0.005  # bpb: a floor under the measured noise, which can be 0 with few runs


@dataclass(frozen=True)
class Move:
    """A one-knob move from the incumbent and the belief about its effect."""

    param: str
    old: Any
    new: Any
    mean: float  # posterior mean effect on val_bpb
    sd: float  # posterior sd
    n: int  # comparisons in the ledger
    prior: float  # what the claims predict (0 when none do)
    tests: tuple[str, ...]
    measured: float | None = None  # the mean of the ledger's comparisons, if any

    @property
    def score(self) -> float:
        return self.mean - OPTIMISM * self.sd

    def why(self, noise: float) -> str:
        if self.n == 0:
            return "value-of-information" if self.tests else "exploration"
        return "replication" if abs(self.mean) < noise else "exploitation"


def trust(state: PlanState) -> float:
    """How far the runs so far bear the claims out: (agreeing + 1) / (tested + 1).

    A claim is tested once the ledger compares its two values; it agrees when the measured
    difference has the sign it predicts. Claims of no effect are left out. Refuted claims thus
    weaken every other claim's prior, which is how the planner recovers from bad beliefs."""
    agree = tested = 0
    for claim in state.claims:
        if abs(claim.delta) <= NULL_CLAIM:
            continue
        diffs, _ = comparisons(state.trials, claim.param, claim.old, claim.new)
        if diffs:
            tested += 1
            agree += (statistics.fmean(diffs) < 0) == (claim.delta < 0)
    return (agree + 1) / (tested + 1)


def prior(
    state: PlanState, param: str, old: Any, new: Any, belief_in_claims: float = 1.0
) -> tuple[float, float, tuple[str, ...]]:
    """(mean, sd, claim titles) of the claims' belief about a move, discounted by trust."""
    weighted = []
    seen = {t.run_id for t in state.trials}
    for claim in state.claims:
        predicted = claim.predicts(param, old, new)
        if predicted is None:
            continue
        if claim.runs and seen.intersection(claim.runs):
            continue  # measured on these very runs: they count once, as data
        weight = CONFIDENCE_WEIGHT.get(claim.confidence, 1.0)
        weight *= UNDER_REVIEW_WEIGHT if claim.status == "under_review" else 1.0
        weighted.append((predicted, weight, claim.title))
    if not weighted:
        return 0.0, UNKNOWN_EFFECT_SD, ()
    total = sum(w for _, w, _ in weighted)
    mean = sum(d * w for d, w, _ in weighted) / total
    sd = max(state.noise, abs(mean)) / math.sqrt(total)
    # With little trust the prior slides back to that of a move no claim speaks about.
    t = belief_in_claims
    return t * mean, t * sd + (1 - t) * UNKNOWN_EFFECT_SD, tuple(x for _, _, x in weighted)


def belief(state: PlanState, param: str, new: Any, belief_in_claims: float = 1.0) -> Move:
    """The posterior belief about setting `param` to `new` in the incumbent."""
    old = state.base.get(param)
    mean0, sd0, tests = prior(state, param, old, new, belief_in_claims)
    diffs, _ = comparisons(state.trials, param, old, new)
    variance = 2 * max(state.noise, MIN_NOISE) ** 2  # a difference of two runs
    precision = 1 / sd0**2 + len(diffs) / variance
    mean = (mean0 / sd0**2 + sum(diffs) / variance) / precision
    measured = statistics.fmean(diffs) if diffs else None
    sd = 1 / math.sqrt(precision)
    return Move(param, old, new, mean, sd, len(diffs), mean0, tests, measured)


def moves(state: PlanState) -> list[Move]:
    """Every allowed one-knob move from the incumbent, best score first.

    A move the runs already measured as worse than the incumbent by the noise floor or more
    is left out, whatever the claims say: replication is for results within the noise."""
    found, belief_in_claims = [], trust(state)
    for param, values in state.space.items():
        for value in values:
            config = {**state.base, param: value}
            if identity(config) == identity(state.base) or not state.allowed(config):
                continue
            move = belief(state, param, value, belief_in_claims)
            if move.measured is None or move.measured < state.noise:
                found.append(move)
    # ties (equal scores, as for moves nothing speaks about) are broken at random
    keyed = [(round(m.score, 9), state.rng.random(), i) for i, m in enumerate(found)]
    return [found[i] for *_, i in sorted(keyed)]


@dataclass(frozen=True)
class PairMove:
    """Two one-knob moves at once, for when no single knob pays any more."""

    first: Move
    second: Move

    @property
    def mean(self) -> float:
        return self.first.mean + self.second.mean

    @property
    def sd(self) -> float:
        # their interaction is unknown: a wide term on top of the two beliefs
        return math.sqrt(self.first.sd**2 + self.second.sd**2 + UNKNOWN_EFFECT_SD**2)

    @property
    def score(self) -> float:
        return self.mean - OPTIMISM * self.sd


def pair_moves(state: PlanState, ones: list[Move], top: int = 6) -> list[PairMove]:
    """Two-knob moves from the best one-knob ones (not yet run), best score first."""
    found = []
    for i, a in enumerate(ones[:top]):
        for b in ones[i + 1 : top]:
            config = {**state.base, a.param: a.new, b.param: b.new}
            if a.param != b.param and state.allowed(config) and not state.runs_of(config):
                found.append(PairMove(a, b))
    return sorted(found, key=lambda m: m.score)


class ClaimGuided:
    """The claimledger planner: claims as priors, runs as data, one knob at a time, then two
    when no single knob pays."""

    name = "claims"

    def propose(self, state: PlanState, k: int) -> list[Candidate]:
        found = [c for c in [self._replicate_incumbent(state)] if c is not None]
        ones = moves(state)
        for move in ones:
            if len(found) >= k or move.score >= 0:
                break
            found.append(self._candidate(state, move))
        for pair in pair_moves(state, ones):
            if len(found) >= k or pair.score >= 0:
                break
            config = {**state.base, pair.first.param: pair.first.new}
            config[pair.second.param] = pair.second.new
            argument = (
                f"No single knob is expected to help any more; {pair.first.param} "
                f"-> {pair.first.new} with {pair.second.param} -> {pair.second.new} is expected "
                f"to change val_bpb by {pair.mean:+.4f} ± {pair.sd:.4f} (interaction unknown)."
            )
            tests = pair.first.tests + pair.second.tests
            found.append(
                Candidate(
                    config,
                    diff(state.base, config),
                    "exploration",
                    tests,
                    round(pair.mean, 6),
                    argument,
                )
            )
        while len(found) < k:
            config = random_config(state)
            if config is None or any(identity(c.config) == identity(config) for c in found):
                break
            found.append(Candidate(config, diff(state.base, config), "exploration"))
        return found[:k]

    def _candidate(self, state: PlanState, move: Move) -> Candidate:
        config = {**state.base, move.param: move.new}
        links = ", ".join(f"[[{t}]]" for t in move.tests) or "no claim yet"
        argument = (
            f"Setting {move.param} from {move.old} to {move.new}: the claims ({links}) predict "
            f"{move.prior:+.4f}; with {move.n} comparison(s) in the ledger the expected change "
            f"is {move.mean:+.4f} ± {move.sd:.4f} (noise floor {state.noise:.4f})."
        )
        return Candidate(
            config,
            diff(state.base, config),
            move.why(state.noise),
            move.tests,
            round(move.mean, 6),
            argument,
        )

    def _replicate_incumbent(self, state: PlanState) -> Candidate | None:
        """Run the incumbent again when it rests on one seed and its lead is within noise."""
        own = state.runs_of(state.base)
        if len(own) != 1 or not state.allowed(state.base):
            return None
        others = [t.val_bpb for t in state.trials if identity(t.config) != identity(state.base)]
        if not others or min(others) - own[0].val_bpb >= state.noise:
            return None
        lead = min(others) - statistics.fmean(t.val_bpb for t in own)
        argument = (
            f"The best config so far rests on one run and leads the next by {lead:.4f}, "
            f"within the noise floor {state.noise:.4f}: a second seed decides whether it holds."
        )
        return Candidate(dict(state.base), {}, "replication", (), 0.0, argument)
