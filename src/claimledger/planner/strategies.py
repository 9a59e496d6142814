"""Planner strategies: given what has been run, which configs to try next.

A strategy sees a `PlanState` (the search space, the incumbent config, every finished run on
the platform, the claims with effects, the configs it must not propose) and returns
candidates. Three are built in, pluggable through `STRATEGIES`:

- `random`: a uniformly random untried config of the space (the baseline of baselines);
- `tpe`: Optuna's Tree-structured Parzen Estimator over the same space, rebuilt from the runs
  (the standard hyperparameter-search baseline);
- `claims`: one-knob moves from the incumbent, each scored by a Gaussian belief about its
  effect whose prior is what the claims predict (weighted by confidence) and whose data are
  the runs' paired differences; it picks the move with the lowest optimistic bound, replicates
  an incumbent or a close result that rests on one seed, and explores when nothing looks good.
  Wrong claims only set the prior: a few runs outweigh them.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from claimledger.planner.claims import ClaimEffect, same_value
from claimledger.planner.evidence import Observation, identity

CONFIDENCE_WEIGHT = {"speculative": 1.0, "experimental": 2.0, "likely": 4.0, "proven": 8.0}
UNDER_REVIEW_WEIGHT = 0.25  # a contradicted claim still says something, but little
UNKNOWN_EFFECT_SD = 0.03  # prior sd of an effect no claim speaks about (bpb)
OPTIMISM = 1.0  # how many posterior sds the score subtracts (value of information)
MAX_SEEDS = 3  # a config is not proposed again once it has this many runs


@dataclass(frozen=True)
class Candidate:
    """A config to run next, with the argument for it."""

    config: dict[str, Any]  # the full config to run
    config_diff: dict[str, list[Any]]  # from the incumbent: key -> [old, new]
    why: str  # value-of-information | replication | exploitation | exploration
    tests: tuple[str, ...] = ()  # titles of the claims it tests
    expected: float | None = None  # expected val_bpb change vs the incumbent
    argument: str = ""


@dataclass
class PlanState:
    """What a strategy knows: space, incumbent, runs, claims and what it must not propose."""

    space: dict[str, list[Any]]
    base: dict[str, Any]  # the incumbent: the best config so far (or the defaults)
    trials: list[Observation]
    claims: list[ClaimEffect] = field(default_factory=list)
    excluded: set[str] = field(default_factory=set)  # identity() of configs not to propose
    noise: float = 0.03
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    # Runs in flight, fantasised at the incumbent's value (constant liar); never the incumbent.
    pending: list[Observation] = field(default_factory=list)

    def runs_of(self, config: dict[str, Any]) -> list[Observation]:
        key = identity(config)
        return [t for t in self.trials if identity(t.config) == key]

    def allowed(self, config: dict[str, Any]) -> bool:
        key = identity(config)
        return key not in self.excluded and len(self.runs_of(config)) < MAX_SEEDS


class Strategy(Protocol):
    """Anything that proposes up to k candidates from a plan state."""

    name: str

    def propose(self, state: PlanState, k: int) -> list[Candidate]: ...


def diff(base: dict[str, Any], config: dict[str, Any]) -> dict[str, list[Any]]:
    """The keys where config differs from base: key -> [old, new]."""
    return {
        key: [base.get(key), value]
        for key, value in config.items()
        if not same_value(value, base.get(key))
    }


def incumbent(trials: Sequence[Observation], default: dict[str, Any]) -> dict[str, Any]:
    """The config with the lowest mean val_bpb so far (more runs win ties), else the default."""
    groups: dict[str, list[Observation]] = defaultdict(list)
    for trial in trials:
        groups[identity(trial.config)].append(trial)
    if not groups:
        return dict(default)
    best = min(groups.values(), key=lambda g: (statistics.fmean(t.val_bpb for t in g), -len(g)))
    return dict(best[0].config)


def random_config(state: PlanState, tries: int = 200) -> dict[str, Any] | None:
    """A random allowed config of the space (untried ones first), or None."""
    fallback = None
    for _ in range(tries):
        config = {**state.base, **{k: state.rng.choice(v) for k, v in state.space.items()}}
        if state.allowed(config):
            if not state.runs_of(config):
                return config
            fallback = fallback or config
    return fallback


class RandomSearch:
    """Uniformly random configs of the space, untried first."""

    name = "random"

    def propose(self, state: PlanState, k: int) -> list[Candidate]:
        found: list[Candidate] = []
        for _ in range(k):
            config = random_config(state)
            if config is None or any(identity(c.config) == identity(config) for c in found):
                continue
            found.append(Candidate(config, diff(state.base, config), "exploration"))
        return found


class TPESearch:
    """Optuna's TPE sampler over the space, its history rebuilt from the runs."""

    name = "tpe"

    def __init__(self, seed: int = 0, startup: int = 10) -> None:
        self.seed, self.startup = seed, startup

    def propose(self, state: PlanState, k: int) -> list[Candidate]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        distributions = {
            key: optuna.distributions.CategoricalDistribution(values)
            for key, values in state.space.items()
        }
        sampler = optuna.samplers.TPESampler(
            seed=self.seed * 10_007 + len(state.trials), n_startup_trials=self.startup
        )
        study = optuna.create_study(sampler=sampler)
        for trial in [*state.trials, *state.pending]:  # in flight: the constant liar
            params = {key: trial.config.get(key) for key in state.space}
            if all(params[key] in values for key, values in state.space.items()):
                study.add_trial(
                    optuna.trial.create_trial(
                        params=params, distributions=distributions, value=trial.val_bpb
                    )
                )
        return self._ask(study, distributions, state, k)

    def _ask(
        self, study: Any, distributions: dict[str, Any], state: PlanState, k: int
    ) -> list[Candidate]:
        found: list[Candidate] = []
        for _ in range(4 * k):  # TPE may repeat itself; a few more asks find new configs
            if len(found) == k:
                break
            config = {**state.base, **study.ask(distributions).params}
            if state.allowed(config) and all(identity(c.config) != identity(config) for c in found):
                found.append(Candidate(config, diff(state.base, config), "exploration"))
        if not found and (config := random_config(state)) is not None:
            found.append(Candidate(config, diff(state.base, config), "exploration"))
        return found
