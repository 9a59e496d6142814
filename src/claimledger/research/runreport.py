"""The run report: what `claimledger run` writes into inbox/ for the extraction worker.

A source note (`format: run-report`) whose frontmatter carries the platform, the runs, the
config diff against the baseline and the per-seed results (schemas/run-report.schema.json,
checked before the report is written and again when the extractor reads it), and whose body
says the same for a human: what changed, a table of seeds, the baseline.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from claimledger.trainer.params import domain_of, trainer_defaults

REPORT_SCHEMA = "run-report"  # schemas/run-report.schema.json
MAX_CONTEXT_KNOBS = 4  # knobs a context label names


@dataclass(frozen=True)
class SeedRun:
    """One seed of an experiment: its ledger record and how it ended."""

    seed: int
    record_id: str
    status: str  # keep | discard | crash
    val_bpb: float | None
    crash_reason: str | None
    duration: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value is None else str(value)


def change_text(config_diff: dict[str, list[Any]]) -> str:
    """A diff in words: "lr 0.01 -> 0.02, width 64 -> 96", or "baseline config"."""
    if not config_diff:
        return "baseline config"
    return ", ".join(f"{k} {_value(old)} -> {_value(new)}" for k, (old, new) in config_diff.items())


def context_label(context: dict[str, Any]) -> str:
    """The knobs of a context that differ from the trainer defaults, sorted, in words
    ("batch_size 8, width 96"), the first few of them; "" for the defaults themselves."""
    defaults = trainer_defaults()
    changed = [f"{k} {_value(v)}" for k, v in sorted(context.items()) if defaults.get(k) != v]
    shown = ", ".join(changed[:MAX_CONTEXT_KNOBS])
    more = len(changed) - MAX_CONTEXT_KNOBS
    return shown + (f" and {more} more" if more > 0 else "")


def report_title(config_diff: dict[str, list[Any]], platform: str, seeds: int) -> str:
    """ "Run report: lr 0.01 -> 0.02 on cpu-2core-tok1M (3 seeds)"."""
    plural = "seed" if seeds == 1 else "seeds"
    return f"Run report: {change_text(config_diff)} on {platform} ({seeds} {plural})"


def mean_bpb(runs: Sequence[SeedRun]) -> float | None:
    """The mean val_bpb of the seeds that finished, None when all crashed."""
    values = [r.val_bpb for r in runs if r.val_bpb is not None]
    return round(statistics.fmean(values), 6) if values else None


def report_fields(
    *,
    platform: str,
    branch: str,
    agent: str,
    runs: Sequence[SeedRun],
    config_diff: dict[str, list[Any]],
    baseline: dict[str, Any] | None,
    status: str,
    proposal: str | None,
    tests: Sequence[str],
    corpus: dict[str, str] | None = None,
    paired: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The frontmatter fields of a run report beside type/title/date/status
    (schemas/run-report.schema.json)."""
    finished = [round(r.val_bpb, 6) for r in runs if r.val_bpb is not None]
    results: dict[str, Any] = {"val_bpb": finished}
    mean = mean_bpb(runs)
    if mean is not None:
        results["mean_val_bpb"] = mean
    results["status"] = status
    crashes = [f"seed {r.seed}: {r.crash_reason}" for r in runs if r.status == "crash"]
    if crashes:
        results["crashes"] = crashes
    fields: dict[str, Any] = {
        "author": f"claimledger run ({agent})",
        "domain": domain_of(list(config_diff)),
        "format": "run-report",
        "platform": platform,
        "branch": branch,
        "runs": [r.record_id for r in runs],
        "seeds": [r.seed for r in runs],
        "proposal": proposal,
        "tests": list(tests) or None,
        "config_diff": config_diff,
        "baseline": baseline,
        "results": results,
        "paired": paired,
        "context": context,
        "context_label": context_label(context) if context is not None else None,
        "corpus": corpus,
    }
    return {k: v for k, v in fields.items() if v is not None}


def report_body(
    platform: str,
    runs: Sequence[SeedRun],
    config_diff: dict[str, list[Any]],
    baseline: dict[str, Any] | None,
    status: str,
) -> str:
    """The human-readable body: the change, a table of seeds, the baseline and the verdict."""
    lines = [f"Change: {change_text(config_diff)} on `{platform}`.", ""]
    lines += ["| seed | val_bpb | status | run |", "|---|---|---|---|"]
    for run in runs:
        bpb = f"{run.val_bpb:.6f}" if run.val_bpb is not None else run.crash_reason or "-"
        lines.append(f"| {run.seed} | {bpb} | {run.status} | {run.record_id[:12]} |")
    lines.append("")
    mean = mean_bpb(runs)
    if baseline:
        lines.append(
            f"Baseline: run {baseline['run'][:12]} with val_bpb {baseline['val_bpb']:.6f} "
            "(the branch's best on this platform before these runs)."
        )
    else:
        lines.append("Baseline: none (the branch's first kept run on this platform).")
    if mean is not None:
        delta = f" ({mean - baseline['val_bpb']:+.6f})" if baseline else ""
        lines.append(f"Mean val_bpb {mean:.6f}{delta}: {status}.")
    else:
        lines.append("Every seed crashed.")
    return "\n".join(lines) + "\n"
