"""The run-report extractor: a trainer run report becomes one experimental claim, or evidence.

Reads the frontmatter that `claimledger run` writes (schemas/run-report.schema.json); a report
that breaks the schema is a null result naming the field and the problem. A report whose
config_diff changes exactly one key, with a baseline and at least one finished seed, becomes
an `experimental` claim with an `effect` block and `provenance.runs`; when a claim with the same
param/from/to/platform exists, in the same context (or either states none), the report is
evidence for it instead. Deterministic.

A report with a `paired` block (what `claimledger run` writes now) is judged on it: the delta
is the mean of these runs minus the baseline config's runs of the same seeds, never the best
single run, and the report becomes a claim only when that paired effect is beyond the noise
floor it records; otherwise it is a null result saying so. Older reports without the block
are read as before (against the baseline run). The report's `context` (the baseline config
without the changed key) becomes the claim's `effect.context`, and its title names the
report's `context_label` (where that context leaves the trainer defaults): the same move in
another context is another claim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claimledger.inbox.extractors.base import Candidate, Context, Extraction, SourceDoc
from claimledger.kb.notes import json_safe
from claimledger.schemas import problems

NAME = "run-report"
FORMAT = "run-report"
SCHEMA = "run-report"  # schemas/run-report.schema.json
MAX_PROBLEMS = 5  # schema problems named in a null result's notes
METRIC = "val_bpb"
BARELY = 0.001  # |delta| below this "barely changes" val_bpb
MAX_LABEL = 200  # characters of a context label a title takes


class RunReportExtractor:
    """Experimental claims with an effect block from `format: run-report` sources."""

    name = NAME
    concurrency = 1

    def extract(self, source: SourceDoc, context: Context) -> Extraction:
        problem = schema_problem(context.ws.schemas_dir, source.metadata)
        problem = problem or report_problem(source.metadata)
        if problem:
            return Extraction([], notes=problem)
        effect = effect_of(source.metadata)
        existing = context.claims.find_effect(effect)
        candidate = _candidate(source, context, effect)
        if existing is not None:
            candidate.enrich = existing.title
        return Extraction(
            [candidate], notes=f"run report: {effect['param']} delta {effect['delta']:+.4f}"
        )


def schema_problem(schemas_dir: Path, meta: dict[str, Any]) -> str | None:
    """Why a run report breaks run-report.schema.json ("field: problem; ..."), or None."""
    found = problems(schemas_dir, SCHEMA, json_safe(meta))
    if not found:
        return None
    return f"invalid run report ({SCHEMA}.schema.json): " + "; ".join(found[:MAX_PROBLEMS])


def report_problem(meta: dict[str, Any]) -> str | None:
    """Why a run report cannot become a claim, or None."""
    diff = meta.get("config_diff")
    if not isinstance(diff, dict) or len(diff) != 1:
        count = len(diff) if isinstance(diff, dict) else 0
        return f"config_diff changes {count} keys; a claim needs exactly one"
    change = next(iter(diff.values()))
    if not isinstance(change, list) or len(change) != 2:
        return "config_diff entry is not [old, new]"
    baseline = meta.get("baseline")
    if not isinstance(baseline, dict) or not _is_number(baseline.get("val_bpb")):
        return "no baseline val_bpb to compare with"
    results = meta.get("results")
    if not isinstance(results, dict) or not _is_number(results.get("mean_val_bpb")):
        return "no finished seed: no mean val_bpb"
    paired = meta.get("paired")
    if isinstance(paired, dict):
        if not paired.get("n") or not _is_number(paired.get("delta")):
            return "no run of the baseline config with the same seeds: no paired effect"
        floor = float(paired.get("noise_floor") or 0.0)
        if abs(paired["delta"]) <= floor:
            return (
                f"paired effect {paired['delta']:+.4f} over {paired['n']} seed(s) is within "
                f"the noise floor {floor:.4f}: not a claim"
            )
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def effect_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The effect block of a valid run report."""
    ((param, (old, new)),) = meta["config_diff"].items()
    results = meta["results"]
    values = [v for v in results.get("val_bpb") or [] if _is_number(v)]
    paired = meta.get("paired")
    if isinstance(paired, dict) and paired.get("n") and _is_number(paired.get("delta")):
        delta, n = float(paired["delta"]), int(paired["n"])
    else:
        delta, n = results["mean_val_bpb"] - meta["baseline"]["val_bpb"], len(values) or 1
    effect = {"param": str(param), "from": old, "to": new, "metric": METRIC}
    effect.update({"delta": round(delta, 6), "n": n})
    if meta.get("platform"):
        effect["platform"] = str(meta["platform"])
    if isinstance(meta.get("context"), dict):
        effect["context"] = dict(meta["context"])
    return effect


def context_label(meta: dict[str, Any]) -> str:
    """How the report names the context of its change ("batch_size 8, width 96"), or ""."""
    label = meta.get("context_label")
    return str(label)[:MAX_LABEL] if label else ""


def effect_title(effect: dict[str, Any], context: str = "") -> str:
    """E.g. "Raising lr from 0.01 to 0.02 lowers val_bpb on cpu-2core-tok1M"."""
    old, new = effect["from"], effect["to"]
    if _is_number(old) and _is_number(new):
        verb = "Raising" if new > old else "Lowering"
    else:
        verb = "Changing"
    delta = effect["delta"]
    outcome = "barely changes" if abs(delta) < BARELY else ("lowers" if delta < 0 else "raises")
    where = f" on {effect['platform']}" if effect.get("platform") else ""
    at = f" with {context}" if context else ""
    return f"{verb} {effect['param']} from {old} to {new} {outcome} {METRIC}{where}{at}"


def _candidate(source: SourceDoc, context: Context, effect: dict[str, Any]) -> Candidate:
    meta = source.metadata
    baseline = meta["baseline"]["val_bpb"]
    mean = meta["results"]["mean_val_bpb"]
    description = (
        f"Mean {METRIC} {mean:.4f} over {effect['n']} seeds against a baseline of "
        f"{baseline:.4f} (delta {effect['delta']:+.4f})"
        + (f" on branch {meta['branch']}." if meta.get("branch") else ".")
    )
    runs = [str(r) for r in meta.get("runs") or []]
    paired = meta.get("paired")
    if isinstance(paired, dict) and paired.get("n"):
        description = (
            f"Paired by seed against the baseline config's own runs: {METRIC} changes by "
            f"{effect['delta']:+.4f} over {effect['n']} seed(s), beyond the noise floor "
            f"{paired['noise_floor']:.4f}"
            + (f" on branch {meta['branch']}." if meta.get("branch") else ".")
        )
        runs += [str(r) for r in paired.get("baseline_runs") or [] if str(r) not in runs]
    return Candidate(
        title=effect_title(effect, context_label(meta)),
        domain=context.domain_for(source),
        description=description,
        body=f"{description}\n\nRuns: {', '.join(r[:12] for r in runs) or 'none recorded'}.",
        confidence="experimental",
        related=[_unlink(t) for t in meta.get("tests") or []],
        effect=effect,
        runs=runs,
        evidence=description,
    )


def _unlink(link: Any) -> str:
    return str(link).strip().removeprefix("[[").removesuffix("]]").split("|")[0]
