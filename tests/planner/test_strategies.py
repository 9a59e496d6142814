"""Strategies on a synthetic landscape: claims speed the search, wrong claims are overcome."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from claimledger.planner.claims import ClaimEffect
from claimledger.planner.evidence import Observation, noise_floor
from claimledger.planner.guided import ClaimGuided, calibration
from claimledger.planner.strategies import PlanState, RandomSearch, TPESearch, incumbent

SPACE: dict[str, list[Any]] = {"a": [0, 1, 2], "b": [0, 1, 2], "c": [0, 1]}
DEFAULT = {"a": 1, "b": 1, "c": 0}


def truth(config: dict[str, Any]) -> float:
    """Lower is better: the optimum is a=2, b=0, c=1."""
    return 3.0 - 0.1 * config["a"] + 0.08 * config["b"] - 0.05 * config["c"]


def claim(param: str, old: Any, new: Any, delta: float) -> ClaimEffect:
    return ClaimEffect(
        f"{param} {old}->{new}", "x.md", param, old, new, delta, 0, "p", "likely", "active"
    )


def search(strategy: Any, claims: list[ClaimEffect], seed: int = 0, limit: int = 30) -> int:
    """Runs until the incumbent is the optimum."""
    rng = random.Random(seed)
    trials: list[Observation] = []

    def run(config: dict[str, Any]) -> None:
        noisy = truth(config) + rng.gauss(0, 0.005)
        trials.append(Observation(str(len(trials)), dict(config), len(trials), noisy))

    run(DEFAULT)
    while len(trials) < limit:
        best = incumbent(trials, DEFAULT)
        if truth(best) == truth({"a": 2, "b": 0, "c": 1}):
            return len(trials)
        state = PlanState(SPACE, best, trials, claims, noise=noise_floor(trials).value, rng=rng)
        run(strategy.propose(state, 1)[0].config)
    return limit


GOOD = [claim("a", 1, 2, -0.1), claim("b", 1, 0, -0.08), claim("c", 0, 1, -0.05)]
WRONG = [claim("a", 1, 0, -0.1), claim("b", 1, 2, -0.08), claim("c", 0, 1, 0.05)]


def test_good_claims_lead_straight_to_the_optimum() -> None:
    assert search(ClaimGuided(), GOOD) == 4  # the defaults, then one run per claimed move


def borne_out(claims: list[ClaimEffect], noise: float) -> PlanState:
    """The defaults, with runs that have tested the claims about `a` and `b` as borne out."""
    trials = [
        Observation(str(i), config, 0, truth(config))
        for i, config in enumerate([DEFAULT, {**DEFAULT, "a": 2}, {**DEFAULT, "b": 0}])
    ]
    return PlanState(SPACE, DEFAULT, trials, claims, noise=noise)


def test_a_stack_waits_until_the_runs_have_tested_two_claims() -> None:
    from claimledger.planner.guided import moves, stack_move

    untested = PlanState(SPACE, DEFAULT, [], GOOD, noise=0.005)
    assert stack_move(untested, moves(untested)) is None  # one run would bet on three claims
    once = borne_out(GOOD, noise=0.005)
    once.trials = once.trials[:2]
    assert stack_move(once, moves(once)) is None
    twice = borne_out(GOOD, noise=0.005)
    stack = stack_move(twice, moves(twice))
    assert stack is not None and stack.config(DEFAULT) == {"a": 2, "b": 0, "c": 1}


def test_a_stack_needs_three_helpful_knobs() -> None:
    from claimledger.planner.guided import moves, stack_move

    state = borne_out(GOOD[:2], noise=0.005)
    assert stack_move(state, moves(state)) is None  # two knobs: the pair and singles cover it
    state.claims = GOOD
    stack = stack_move(state, moves(state))
    assert stack is not None and stack.config(DEFAULT) == {"a": 2, "b": 0, "c": 1}


def test_a_stack_takes_every_move_that_pays_even_below_the_noise_floor() -> None:
    from claimledger.planner.guided import moves, stack_move

    small = [*GOOD[:2], claim("c", 0, 1, -0.007)]  # c gains 0.7 of the noise floor
    state = borne_out(small, noise=0.01)
    stack = stack_move(state, moves(state))
    assert stack is not None and stack.config(DEFAULT) == {"a": 2, "b": 0, "c": 1}
    state.claims = [*small[:2], claim("c", 0, 1, -0.004)]  # under half the floor: no pay
    assert stack_move(state, moves(state)) is None


def test_wrong_claims_are_refuted_and_the_optimum_still_found() -> None:
    runs = search(ClaimGuided(), WRONG)
    assert runs < 30
    assert runs > search(ClaimGuided(), GOOD)


def test_the_claims_slope_falls_as_claims_are_refuted_and_firms_as_they_hold() -> None:
    trials = [
        Observation("0", dict(DEFAULT), 0, truth(DEFAULT)),
        Observation("1", {**DEFAULT, "a": 0}, 0, truth({**DEFAULT, "a": 0})),
        Observation("2", {**DEFAULT, "b": 2}, 0, truth({**DEFAULT, "b": 2})),
    ]
    wrong = calibration(PlanState(SPACE, DEFAULT, trials, WRONG, noise=0.005))
    slope, slope_sd = wrong.slope()
    assert slope < 0  # both tested claims point the wrong way: the signal is reversed
    assert wrong.excess > 0.02  # and they are far off: every claim's spread widens
    assert wrong.slope("a")[0] < 1 and wrong.slope("a")[0] > slope  # a's own test left out
    held = replace(claim("a", 1, 0, 0.1), runs=("elsewhere-1",))  # a harm with runs behind it
    good = calibration(PlanState(SPACE, DEFAULT, trials, [held], noise=0.005))
    assert good.slope()[0] == pytest.approx(1.0, abs=0.05) and good.slope()[1] < slope_sd * 1.5
    assert good.excess == 0.0
    untested = calibration(PlanState(SPACE, DEFAULT, trials[:1], WRONG, noise=0.005))
    assert untested.slope() == (1.0, 0.5)  # before any test, claims mean what they say


def test_a_claimed_harm_with_no_run_behind_it_does_not_hold_its_move_back() -> None:
    """Were it a prior, the move would never run and the claim never be refuted."""
    from claimledger.planner.guided import belief, moves

    unfounded = claim("a", 1, 2, 0.1)  # wrong: a = 2 is the best value
    state = PlanState(SPACE, DEFAULT, [], [unfounded], noise=0.005)
    move = belief(state, "a", 2)
    assert move.prior == 0.0 and move.tests == (unfounded.title,)  # it still cites the claim
    assert move.sd == calibration(state).effect_sd  # as wide as a move nothing speaks of
    at_two = PlanState(SPACE, {**DEFAULT, "a": 2}, [], [unfounded], noise=0.005)
    assert belief(at_two, "a", 1).prior == 0.0  # nor does its reverse count as a gain
    assert search(ClaimGuided(), [unfounded]) == search(ClaimGuided(), [])
    founded = replace(unfounded, runs=("elsewhere-1",))  # measured on runs of another ledger
    state = PlanState(SPACE, DEFAULT, [], [founded], noise=0.005)
    assert belief(state, "a", 2).prior == pytest.approx(0.1)
    assert all(m.param != "a" or m.new != 2 for m in moves(state)[:3])  # it is held back


def learned(delta: float, runs: tuple[str, ...] = ("task-a/r7",)) -> ClaimEffect:
    """A claim measured on another ledger's runs: c 0 -> 1 in the context a = 2, b = 0."""
    return replace(claim("c", 0, 1, delta), context=(("a", 2), ("b", 0)), runs=runs)


def test_a_claim_measured_in_a_context_elsewhere_starts_the_search_at_its_better_config() -> None:
    trials = [Observation("0", dict(DEFAULT), 0, truth(DEFAULT))]
    state = PlanState(SPACE, DEFAULT, trials, [learned(-0.05)], noise=0.005)
    first, *rest = ClaimGuided().propose(state, 3)
    assert first.config == {"a": 2, "b": 0, "c": 1} and first.tests == (learned(-0.05).title,)
    assert len(rest) == 2 and first.config not in [c.config for c in rest]
    state.claims = [learned(0.05)]  # c = 1 measured worse: c = 0 is the better config
    assert ClaimGuided().propose(state, 1)[0].config == {"a": 2, "b": 0, "c": 0}
    for unmeasured in [replace(learned(-0.05), runs=()), replace(learned(-0.05), context=())]:
        state.claims = [unmeasured]  # a prior only: no config was measured
        assert ClaimGuided().propose(state, 1)[0].config != {"a": 2, "b": 0, "c": 1}
    state.claims = [learned(-0.05, runs=("0",))]  # measured on these very runs
    assert ClaimGuided().propose(state, 1)[0].config != {"a": 2, "b": 0, "c": 1}
    assert search(ClaimGuided(), [learned(-0.05)]) == 2


def test_after_a_transfer_the_incumbents_neighbours_come_before_a_global_search() -> None:
    from claimledger.planner.guided import _goes_global, moves

    base = {"a": 2, "b": 0, "c": 0}
    trials = [
        Observation(str(i), config, 0, 2.8 + 0.01 * i)
        for i, config in enumerate([base, DEFAULT, {**DEFAULT, "c": 1}])
    ]
    state = PlanState(SPACE, base, trials, [], noise=0.01)
    assert _goes_global(state, moves(state))  # nothing pays: TPE over every run
    state.claims = [learned(0.05)]  # its better config, a=2 b=0 c=0, is the incumbent
    assert not _goes_global(state, moves(state))
    assert ClaimGuided().propose(state, 1)[0].config_diff.keys() <= {"a", "b", "c"}
    assert len(ClaimGuided().propose(state, 1)[0].config_diff) == 1  # a one-knob neighbour


def test_measured_effects_set_the_spread_of_unclaimed_moves() -> None:
    trials = [
        Observation("0", dict(DEFAULT), 0, 3.0),
        Observation("1", {**DEFAULT, "a": 0}, 0, 3.3),  # an effect of 0.3: big effects here
    ]
    state = PlanState(SPACE, DEFAULT, trials, noise=0.005)
    assert calibration(state).effect_sd > 0.15
    assert calibration(PlanState(SPACE, DEFAULT, trials[:1], noise=0.005)).effect_sd == 0.03


@pytest.mark.parametrize("strategy", [RandomSearch(), TPESearch(seed=1, startup=3)])
def test_baselines_find_the_optimum_eventually(strategy: Any) -> None:
    assert search(strategy, [], limit=60) < 60


def test_two_knob_moves_when_no_single_knob_pays() -> None:
    """At a = 2 every one-knob move is measured worse, but a and c together are unknown."""
    from claimledger.planner.guided import moves, pair_moves

    base = {"a": 2, "b": 0, "c": 0}
    trials = [Observation(f"{i}", dict(base), i, 2.8 + 0.001 * i) for i in range(2)]
    state = PlanState(space=SPACE, base=base, trials=trials, noise=0.01)
    pairs = pair_moves(state, moves(state))
    assert pairs and all(p.parts[0].param != p.parts[1].param for p in pairs)
    assert pairs[0].sd > max(m.sd for m in pairs[0].parts)


def test_a_claim_measured_on_these_runs_is_not_counted_again_as_prior() -> None:
    from claimledger.planner.guided import prior

    trials = [Observation("r1", dict(DEFAULT), 0, 3.0)]
    learned = replace(claim("a", 1, 2, -0.2), runs=("r1",))
    state = PlanState(space=SPACE, base=DEFAULT, trials=trials, claims=[learned])
    assert prior(state, "a", 1, 2)[2] == ()  # the runs speak for themselves
    state.claims = [claim("a", 1, 2, -0.2)]
    assert prior(state, "a", 1, 2)[2] != ()


def test_ties_are_broken_at_random() -> None:
    from claimledger.planner.guided import moves

    state = PlanState(space=SPACE, base=DEFAULT, trials=[])
    firsts = set()
    for seed in range(20):
        state.rng = random.Random(seed)
        firsts.add((moves(state)[0].param, moves(state)[0].new))
    assert len(firsts) > 1


def test_the_search_goes_global_when_no_one_knob_move_pays() -> None:
    trials = [
        Observation(str(i), {**DEFAULT, "a": a}, i, truth({**DEFAULT, "a": a}))
        for i, a in enumerate([1, 0, 2])
    ]
    state = PlanState(SPACE, {**DEFAULT, "a": 2}, trials, noise=0.005, rng=random.Random(3))
    proposed = ClaimGuided().propose(state, 2)
    assert len(proposed) == 2 and all("Optuna TPE over all 3 runs" in c.argument for c in proposed)
    assert all(not state.runs_of(c.config) for c in proposed)
    state.trials = trials[:2]  # fewer runs than TPE's start-up trials: a one-knob move first
    assert "Optuna" not in ClaimGuided().propose(state, 1)[0].argument
    state.claims = [claim("b", 1, 0, -0.08)]  # a claimed gain of 16x the noise: stay local
    first = ClaimGuided().propose(state, 1)[0]
    assert first.tests == ("b 1->0",) and first.config == {"a": 2, "b": 0, "c": 0}
