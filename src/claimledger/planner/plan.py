"""`claimledger plan`: read the ledger and the claims, write the next proposals.

The plan state for a platform: its finished runs, the incumbent (the config with the best mean
val_bpb there, else the trainer defaults), the claims with an effect on it, the platform's
noise floor, and the configs that must not be proposed: those the ledger already answered
(run with two seeds or more, or answered through a proposal) and those another agent holds a
lease on. A strategy turns that into candidates; each becomes a proposal note.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import statistics
from collections.abc import Callable
from typing import Any

from claimledger.errors import ClaimledgerError
from claimledger.planner.claims import effect_claims, same_value
from claimledger.planner.evidence import (
    IGNORED_KEYS,
    Observation,
    identity,
    noise_floor,
    observations,
)
from claimledger.planner.guided import ClaimGuided
from claimledger.planner.proposals import (
    Proposal,
    list_proposals,
    proposal_id,
    read_proposal,
    write_proposal,
)
from claimledger.planner.strategies import (
    MAX_SEEDS,
    Candidate,
    PlanState,
    RandomSearch,
    Strategy,
    TPESearch,
    incumbent,
)
from claimledger.trainer.params import trainer_defaults
from claimledger.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_TOKEN_BUDGET = 200_000  # the default platform: this CPU on a 200K-token budget
ANSWERED_SEEDS = 2  # a config run with this many seeds is answered
# The knobs the planner moves, and their values; claims add the values they name.
DEFAULT_SPACE: dict[str, list[Any]] = {
    "muon_lr": [0.015, 0.03, 0.06],
    "embed_lr": [0.01, 0.03, 0.1],
    "batch_size": [8, 16, 32],
    "warmdown_frac": [0.3, 0.6],
    "warmup_frac": [0.0, 0.05],
    "weight_decay": [0.0, 0.1],
    "width": [48, 64, 96],
    "tie_embeddings": [False, True],
    "logit_softcap": [15.0, 30.0],
    "optimizer": ["muon", "adamw"],
}
# Strategy factories by name; the seed drives a strategy's random choices.
STRATEGIES: dict[str, Callable[[int], Strategy]] = {
    "claims": lambda seed: ClaimGuided(),
    "tpe": lambda seed: TPESearch(seed=seed),
    "random": lambda seed: RandomSearch(),
}


def default_platform(ws: Workspace) -> str:
    """[planner] platform in claimledger.toml, else this CPU on the default token budget."""
    from claimledger.ledger import platform_id

    configured = ws.config.section("planner").get("platform")
    return str(configured) if configured else platform_id("cpu", None, None, DEFAULT_TOKEN_BUDGET)


def make_strategy(name: str, seed: int = 0) -> Strategy:
    """A strategy by name: claims (the default), tpe or random."""
    if name not in STRATEGIES:
        raise ClaimledgerError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    return STRATEGIES[name](seed)


def planning_space(ws: Workspace, claims: list[Any]) -> dict[str, list[Any]]:
    """DEFAULT_SPACE (or [planner.space] of claimledger.toml) plus every value a claim names."""
    configured = ws.config.section("planner").get("space")
    space = {k: list(v) for k, v in (configured or DEFAULT_SPACE).items()}
    defaults = trainer_defaults()
    for claim in claims:
        if claim.param not in defaults:
            continue
        values = space.setdefault(claim.param, [defaults[claim.param]])
        for value in (claim.old, claim.new):
            if not any(same_value(value, v) for v in values):
                values.append(value)
    return space


def proposal_config(proposal: Proposal) -> dict[str, Any]:
    """The full config a proposal asks for: the trainer defaults plus its `set`."""
    return {**trainer_defaults(), **proposal.set}


def excluded_configs(
    ws: Workspace, platform: str, trials: list[Any], noise: float | None = None
) -> set[str]:
    """Configs not to propose: answered in the ledger or by a proposal, or leased.

    A config is answered once run with ANSWERED_SEEDS seeds, unless the evidence is weak: a
    result within the noise floor of the best one stays open for another seed (up to
    MAX_SEEDS), so that a close call is re-tested rather than decided by two runs."""
    from claimledger.ledger import active_leases

    floor = noise_floor(trials).value if noise is None else noise
    groups: dict[str, list[float]] = {}
    for t in trials:
        groups.setdefault(identity(t.config), []).append(t.val_bpb)
    best = min((statistics.fmean(v) for v in groups.values()), default=0.0)
    weak = {
        key
        for key, values in groups.items()
        if len(values) < MAX_SEEDS and statistics.fmean(values) - best < floor
    }
    excluded = {
        key for key, values in groups.items() if len(values) >= ANSWERED_SEEDS and key not in weak
    }
    answered = [p for p in list_proposals(ws, status="answered") if p.platform == platform]
    excluded |= {identity(proposal_config(p)) for p in answered} - weak
    for lease in active_leases(ws):
        try:
            held = read_proposal(ws, lease["proposal"])
        except ClaimledgerError:
            continue  # a lease on something that is not (or no longer) a proposal here
        if held.platform == platform:
            excluded.add(identity(proposal_config(held)))
    return excluded


def plan_state(
    ws: Workspace, platform: str, seed: int = 0, pending: list[Proposal] | None = None
) -> PlanState:
    """Everything a strategy needs to plan on a platform.

    `pending` are proposals in flight (leased, not answered yet): their configs are not
    proposed again, and each is a fantasised run at the incumbent's mean val_bpb (the
    constant liar of batch Bayesian optimisation), so that a batch spreads out."""
    trials = observations(ws, platform)
    claims = effect_claims(ws, platform)
    defaults = trainer_defaults()
    base = incumbent(trials, defaults)
    excluded = excluded_configs(ws, platform, trials)
    own = [t.val_bpb for t in trials if identity(t.config) == identity(base)]
    lie = statistics.fmean(own) if own else None
    fantasies = []
    for proposal in pending or []:
        config = proposal_config(proposal)
        excluded.add(identity(config))
        if lie is not None:
            fantasies.append(Observation(f"pending:{proposal.id}", config, None, lie))
    return PlanState(
        space=planning_space(ws, claims),
        base=base,
        trials=trials,
        claims=claims,
        excluded=excluded,
        noise=noise_floor(trials).value,
        rng=random.Random(seed + len(trials) + len(fantasies)),
        pending=fantasies,
    )


def plan(
    ws: Workspace,
    platform: str | None = None,
    k: int = 1,
    strategy: str = "claims",
    today: dt.date | None = None,
    seed: int = 0,
    pending: list[Proposal] | None = None,
) -> list[Proposal]:
    """Write up to k proposals for a platform; return them (existing same-day ones included).

    The k are distinct configs; `pending` (proposals in flight) are taken into account."""
    platform = platform or default_platform(ws)
    state = plan_state(ws, platform, seed, pending)
    chosen = make_strategy(strategy, seed)
    proposals = []
    for candidate in chosen.propose(state, k):
        proposal = to_proposal(candidate, state, platform, chosen.name, today or dt.date.today())
        if proposal is not None:
            write_proposal(ws, proposal)
            proposals.append(read_proposal(ws, proposal.id))
    return proposals


def to_proposal(
    candidate: Candidate, state: PlanState, platform: str, strategy: str, day: dt.date
) -> Proposal | None:
    """The proposal note of a candidate (None when it changes nothing)."""
    defaults = trainer_defaults()
    diff = {k: v for k, v in candidate.config_diff.items() if k not in IGNORED_KEYS}
    if not diff:
        return None
    changed = {k for k, v in candidate.config.items() if not same_value(v, defaults.get(k))}
    settings = {
        k: candidate.config[k] for k in sorted(changed | set(diff)) if k not in IGNORED_KEYS
    }
    tests = [f"[[{title}]]" for title in candidate.tests]
    pid = proposal_id(platform, diff, day)
    return Proposal(
        id=pid,
        platform=platform,
        created=day.isoformat(),
        strategy=strategy,
        why=candidate.why,
        config_diff=diff,
        set=settings,
        tests=tests,
        expected={"metric": "val_bpb", "delta": candidate.expected or 0.0},
        body=proposal_body(candidate, state, pid, platform, diff),
    )


def proposal_body(
    candidate: Candidate, state: PlanState, pid: str, platform: str, diff: dict[str, list[Any]]
) -> str:
    """The argument in prose, with [[links]] to the claims it tests."""
    from claimledger.ledger import platform_budget

    change = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in diff.items())
    reasons = {
        "value-of-information": "claims predict an effect that no run has measured yet",
        "replication": "a result that rests on too few seeds, within the noise floor",
        "exploitation": "the runs so far point this way from the best config",
        "exploration": "no claim or run speaks to it yet",
    }
    seconds, tokens = platform_budget(platform)
    budget = f"--token-budget {tokens}" if tokens else f"--time-budget {seconds or 60:g}"
    lines = [
        f"Change {change} on `{platform}` (from the best config so far, "
        f"{len(state.trials)} runs in the ledger).",
        "",
        candidate.argument or f"Why now: {reasons[candidate.why]}.",
        "",
        f"Why now: {candidate.why} ({reasons[candidate.why]}).",
    ]
    if candidate.tests:
        lines += ["", "Tests: " + ", ".join(f"[[{t}]]" for t in candidate.tests) + "."]
    return "\n".join(lines) + f"\n\nRun it: `claimledger run --proposal {pid} {budget} --seeds 2`\n"
