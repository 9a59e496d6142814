"""Research: the operations the CLI, the MCP server and the loop share, each rule in one place.

Public API:
    run, run_budget, ExperimentResult     -- run a proposal or a config: budget, lease, corpus,
                                             one ledger run per seed, run report, answered
    run_experiment, SeedRun               -- the runs and the report alone (no lease, no budget)
    write_claim, enrich_claim             -- a new claim (title, duplicates, provenance,
                                             `proposed`) or evidence for one
    run_loop, LoopResult, scratch_workspace, update_claims
                                          -- plan -> lease -> run -> extract -> evidence
"""

from claimledger.research.claims import enrich_claim, write_claim
from claimledger.research.experiment import ExperimentResult, run_experiment
from claimledger.research.loop import LoopResult, run_loop, scratch_workspace, update_claims
from claimledger.research.running import run, run_budget
from claimledger.research.runreport import SeedRun

__all__ = [
    "ExperimentResult",
    "LoopResult",
    "SeedRun",
    "enrich_claim",
    "run",
    "run_budget",
    "run_experiment",
    "run_loop",
    "scratch_workspace",
    "update_claims",
    "write_claim",
]
