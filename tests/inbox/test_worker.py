"""The worker: lifecycle in the source's frontmatter, leases, retries, idempotent reruns,
enrichments and hostile extractor output (offline extractor, lexical similarity)."""

from __future__ import annotations

import datetime as dt
import time

from claimledger.inbox import lifecycle
from claimledger.inbox.extractors import Candidate, Context, Extraction, SourceDoc
from claimledger.inbox.settings import Settings
from claimledger.inbox.sources import add_source
from claimledger.inbox.worker import Worker, waiting_sources
from claimledger.kb.notes import read_note, write_note
from claimledger.workspace import Workspace
from tests.inbox.conftest import claim_notes, files_outside

EXISTING = "Compute-optimal training uses roughly 20 tokens per parameter"


class ScriptedExtractor:
    """An extractor that proposes fixed candidates, or raises, whatever the source."""

    name = "offline"
    concurrency = 1

    def __init__(self, candidates: list[Candidate] | None = None, error: str | None = None):
        self.candidates = candidates or []
        self.error = error

    def extract(self, source: SourceDoc, context: Context) -> Extraction:
        if self.error:
            raise RuntimeError(self.error)
        return Extraction([Candidate(**c.__dict__) for c in self.candidates], notes="scripted")


def test_worker_processes_every_source_into_valid_proposed_claims(ws: Workspace) -> None:
    before = {p: read_note(p) for p in sorted(ws.inbox_dir.glob("*.md"))}
    summary = Worker(ws).run_once()
    assert summary.counts()["processed"] == 4
    assert summary.counts()["claims"] >= 4  # how many follows the scores: at least one each
    claims = claim_notes(ws)
    for path, old in before.items():
        note = read_note(path)
        assert note.body == old.body  # the body is never rewritten
        meta = note.metadata
        assert meta["status"] == "processed"
        assert meta["processed_by"] == "claimledger worker (offline)"
        assert meta["processed_date"] == dt.date.today()
        assert "lease_owner" not in meta and meta["attempts"] == 1
        for title in meta["claims_extracted"]:
            assert claims[title]["status"] == "proposed"
            assert claims[title]["confidence"] == "speculative"
            assert claims[title]["provenance"]["sources"] == [ws.relative(path)]


def test_a_second_run_finds_nothing_to_do(ws: Workspace) -> None:
    Worker(ws).run_once()
    files = sorted(ws.claims_dir.rglob("*"))
    assert Worker(ws).run_once().results == []
    assert sorted(ws.claims_dir.rglob("*")) == files


def test_rerun_after_a_crash_finishes_without_duplicates(ws: Workspace) -> None:
    first = Worker(ws).run_once()
    extracted = {r.path: r.claims for r in first.results}
    texts = {p: p.read_bytes() for p in ws.claims_dir.rglob("*.md")}
    # As if every worker died after writing its claims and before completing the source.
    for path in ws.inbox_dir.glob("*.md"):
        note = read_note(path)
        note.set_fields({"status": "processing", "lease_expires": "2000-01-01T00:00:00+00:00"})
        write_note(path, note)
    second = Worker(ws).run_once()
    assert {r.path: r.claims for r in second.results} == extracted
    assert {p: p.read_bytes() for p in ws.claims_dir.rglob("*.md")} == texts


def test_a_live_lease_is_respected_and_an_expired_one_taken_again(
    ws: Workspace, settings: Settings
) -> None:
    path = sorted(ws.inbox_dir.glob("*.md"))[0]
    lease = lifecycle.take(ws, path, "other:1", settings)
    assert lease is not None and lease.attempts == 1
    assert lifecycle.take(ws, path, "me:2", settings) is None
    assert path not in waiting_sources(ws)
    later = lifecycle.utcnow() + dt.timedelta(seconds=settings.lease_seconds + 1)
    again = lifecycle.take(ws, path, "me:2", settings, now=later)
    assert again is not None and again.attempts == 2
    assert read_note(path).metadata["lease_owner"] == "me:2"


def test_failures_are_recorded_then_give_up_as_null_result(ws: Workspace) -> None:
    settings = Settings.from_workspace(ws, max_attempts=2)
    worker = Worker(ws, settings, extractors={"offline": ScriptedExtractor(error="model down")})
    first = worker.run_once(max_sources=1)
    path = ws.root / first.results[0].path
    assert first.results[0].status == "unprocessed"
    assert read_note(path).metadata["last_error"] == "RuntimeError: model down"
    second = worker.run_once(max_sources=1)
    assert second.results[0].status == "null-result"
    meta = read_note(path).metadata
    assert meta["status"] == "null-result"
    assert meta["notes"] == "gave up after 2 attempts: RuntimeError: model down"


def test_a_source_whose_worker_always_dies_becomes_null_result(ws: Workspace) -> None:
    settings = Settings.from_workspace(ws, max_attempts=1)
    path = sorted(ws.inbox_dir.glob("*.md"))[0]
    assert lifecycle.take(ws, path, "dead:1", settings) is not None
    later = lifecycle.utcnow() + dt.timedelta(seconds=settings.lease_seconds + 1)
    assert lifecycle.take(ws, path, "me:2", settings, now=later).given_up
    assert read_note(path).metadata["notes"].startswith("gave up after 1 attempts: the worker")


def test_hostile_titles_are_cleaned_or_refused_and_stay_in_kb(ws: Workspace) -> None:
    hostile = [
        "../../../etc/passwd lowers val_bpb",
        "kb/../../outside: Muon beats AdamW",
        "CON",
        "NUL.md",
        "..",
        "\x00\x01\x1b[31m",
        "Tabs\tand\nnewlines\rin a title about warmup length",
        "Long " + "very " * 2000 + "title",
        "[[Link]] #tag ^block | pipe",
    ]
    candidates = [Candidate(t, "../../etc", "d\x00esc") for t in hostile]
    before = {p for p in ws.root.rglob("*") if p.is_file()}
    worker = Worker(ws, extractors={"offline": ScriptedExtractor(candidates)})
    result = worker.run_once(max_sources=1).results[0]
    assert files_outside(ws, before) == []
    assert result.status == "processed"
    assert len(result.rejected) == 4  # CON, NUL.md, .., debris of control characters
    claims = claim_notes(ws)
    for title in result.claims:
        assert len(title) <= 200 and "/" not in title and "\n" not in title
        assert claims[title]["domain"] == "optimizer"  # the source's, not "../../etc"
    assert "etc passwd lowers val_bpb" in " ".join(result.claims)


def test_a_candidate_equal_to_an_existing_claim_enriches_it_once(ws: Workspace) -> None:
    extractor = ScriptedExtractor(
        [Candidate(EXISTING.lower(), "scaling", "d", evidence="Chinchilla fits 20 tokens.")]
    )
    worker = Worker(ws, extractors={"offline": extractor})
    result = worker.run_once(max_sources=1).results[0]
    assert result.enrichments == [EXISTING] and result.claims == []
    claim = ws.claims_dir / "scaling" / f"{EXISTING}.md"
    body = read_note(claim).body
    assert body.count("## Evidence") == 1 and "Chinchilla fits 20 tokens." in body
    source = ws.root / result.path
    assert read_note(source).metadata["enrichments"] == [EXISTING]
    note = read_note(source)
    note.set_fields({"status": "unprocessed"})
    write_note(source, note)
    worker.run_once(max_sources=1)
    assert read_note(claim).body == body


def test_a_near_duplicate_is_flagged_for_review(ws: Workspace) -> None:
    settings = Settings.from_workspace(ws, duplicate_threshold=0.99, review_threshold=0.5)
    near = "Compute-optimal training uses roughly 20 tokens per parameter of the model"
    worker = Worker(
        ws, settings, extractors={"offline": ScriptedExtractor([Candidate(near, "scaling", "d")])}
    )
    result = worker.run_once(max_sources=1).results[0]
    assert result.flagged == [near]
    flag = claim_notes(ws)[near]["review"][0]
    assert flag["reason"] == "possible-duplicate"
    assert flag["related"] == f"[[{EXISTING}]]"
    assert 0.5 <= flag["score"] < 0.99


def test_a_source_added_later_is_processed_by_the_next_pass(ws: Workspace) -> None:
    worker = Worker(ws)
    worker.run_once()
    path = add_source(
        ws,
        title="Notes on warmup",
        body="Warmup of 200 steps lowers val_bpb more than warmup of 50 steps in our runs.\n",
        fields={"domain": "schedule"},
    )
    worker.forget_claims()
    result = worker.run_once().results
    assert [r.path for r in result] == [ws.relative(path)]
    assert result[0].claims == [
        "Warmup of 200 steps lowers val_bpb more than warmup of 50 steps in our runs"
    ]


def test_temporary_files_of_killed_writers_are_swept_when_stale(ws: Workspace) -> None:
    stale = ws.claims_dir / "optimizer" / ".Some claim.md.abc123.tmp"
    stale.write_text("half a no")
    time.sleep(0.05)
    Worker(ws, Settings.from_workspace(ws, lease_seconds=0.01)).run_once()
    assert not stale.exists()


def test_a_source_with_broken_yaml_is_skipped_with_the_reason_and_left_alone(
    ws: Workspace,
) -> None:
    broken = ws.inbox_dir / "2026-11-24-broken.md"
    text = "---\ntype: source\ntitle: [unclosed\nstatus: unprocessed\n---\nBody.\n"
    broken.write_text(text)
    summary = Worker(ws).run_once()
    assert summary.skipped["inbox/2026-11-24-broken.md"].startswith("broken YAML")
    assert summary.counts()["processed"] == 4
    assert broken.read_text() == text
