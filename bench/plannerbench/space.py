"""The search space and the tasks of the planner benchmark, fixed before any table result.

Ten knobs of the bundled trainer, each with the trainer default among its values; two of them
(`muon_momentum`, and `logit_softcap` 30) are named by no claim of any arm. Two tasks: the
bundled corpus on two token budgets, so that claims learned on one can be scored on the other.
"""

from __future__ import annotations

import json
from typing import Any

SPACE: dict[str, list[Any]] = {
    "muon_lr": [0.015, 0.03, 0.06],
    "embed_lr": [0.01, 0.03, 0.1],
    "batch_size": [8, 16, 32],
    "warmdown_frac": [0.1, 0.3, 0.6],
    "warmup_frac": [0.0, 0.05, 0.2],
    "weight_decay": [0.0, 0.1, 0.3],
    "width": [32, 64, 96],
    "logit_softcap": [0.0, 15.0, 30.0],
    "tie_embeddings": [False, True],
    "muon_momentum": [0.85, 0.95],
}
TASKS: dict[str, int] = {"A": 50_000, "B": 100_000}  # task -> token budget (bundled corpus)
SEEDS = (0, 1, 2)
PLATFORM = "bench-cpu1-tok"  # the platform every bench claim is scoped to


def canonical(config: dict[str, Any]) -> str:
    """The cache key of a config: the space's knobs only, sorted, as JSON."""
    return json.dumps({k: config[k] for k in sorted(SPACE)}, sort_keys=True)


def defaults() -> dict[str, Any]:
    """The trainer defaults restricted to the space."""
    from claimledger.trainer import trainer_defaults

    base = trainer_defaults()
    return {k: base[k] for k in SPACE}
