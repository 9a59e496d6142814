"""The research ledger: append-only run records that merge across machines.

Every record (run, adopt, lease, retract) is canonical JSON named by its SHA-256 under
ledger/records/<ab>/<id>.json, written atomically and never edited; a rebuildable SQLite
index under .claimledger/ answers the queries. See docs/ledger.md and schemas/*.schema.json.
"""

from claimledger.ledger.branches import adopt, adoptions, branches, forest
from claimledger.ledger.index import IndexStats, open_index, refresh_index
from claimledger.ledger.leases import (
    active_leases,
    experiment_key,
    experiment_leases,
    lease_holder,
    release_lease,
    take_lease,
)
from claimledger.ledger.platforms import (
    check_platform,
    platform_budget,
    platform_id,
    with_corpus,
)
from claimledger.ledger.plot import plot_progress
from claimledger.ledger.queries import (
    best_per_branch,
    best_run,
    file_problems,
    iter_records,
    known_branches,
    known_record_ids,
    leaderboard,
    platforms,
    read_record,
    resolve_id,
    runs,
)
from claimledger.ledger.records import canonical_bytes, record_id, utc_now
from claimledger.ledger.runs import (
    add_run,
    build_run,
    correct_run,
    default_agent,
    diff_configs,
    retract,
)
from claimledger.ledger.store import append_record, append_records, record_path
from claimledger.ledger.sync import SyncResult, sync
from claimledger.ledger.tsv import ImportResult, import_tsv
from claimledger.ledger.verify import verify

__all__ = [
    "ImportResult",
    "IndexStats",
    "SyncResult",
    "active_leases",
    "add_run",
    "adopt",
    "adoptions",
    "append_record",
    "append_records",
    "best_per_branch",
    "best_run",
    "branches",
    "build_run",
    "canonical_bytes",
    "check_platform",
    "correct_run",
    "default_agent",
    "diff_configs",
    "experiment_key",
    "experiment_leases",
    "file_problems",
    "forest",
    "import_tsv",
    "iter_records",
    "known_branches",
    "known_record_ids",
    "leaderboard",
    "lease_holder",
    "open_index",
    "platform_budget",
    "platform_id",
    "platforms",
    "plot_progress",
    "read_record",
    "record_id",
    "record_path",
    "refresh_index",
    "release_lease",
    "resolve_id",
    "retract",
    "runs",
    "sync",
    "take_lease",
    "utc_now",
    "verify",
    "with_corpus",
]
