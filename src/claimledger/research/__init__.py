"""Research: the operations the CLI, the MCP server and the loop share, each rule in one place.

Public API:
    run, run_budget, ExperimentResult     -- run a proposal or a config: budget, lease, corpus,
                                             one ledger run per seed, run report, answered
    run_experiment, SeedRun               -- the runs and the report alone (no lease, no budget)
    write_claim, enrich_claim             -- a new claim (title, duplicates, provenance,
                                             `proposed`) or evidence for one
    run_loop, LoopResult, scratch_workspace, update_claims
                                          -- plan -> lease -> run -> extract -> evidence
    make_executor, LocalExecutor, RayExecutor, Job, Done
                                          -- where trainings run: N subprocesses, or Ray
    prepare_run, record_experiment        -- a run in two halves: settings and lease; records
"""

from claimledger.research.claims import enrich_claim, write_claim
from claimledger.research.executors import Done, Job, LocalExecutor, RayExecutor, make_executor
from claimledger.research.experiment import ExperimentResult, record_experiment, run_experiment
from claimledger.research.loop import LoopResult, run_loop, scratch_workspace, update_claims
from claimledger.research.running import prepare_run, run, run_budget
from claimledger.research.runreport import SeedRun

__all__ = [
    "Done",
    "ExperimentResult",
    "Job",
    "LocalExecutor",
    "LoopResult",
    "RayExecutor",
    "SeedRun",
    "enrich_claim",
    "make_executor",
    "prepare_run",
    "record_experiment",
    "run",
    "run_budget",
    "run_experiment",
    "run_loop",
    "scratch_workspace",
    "update_claims",
    "write_claim",
]
