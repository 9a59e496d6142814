"""Building the static site: collect what every page needs from the index and the ledger in
one pass, write the note pages (in worker processes for a large vault), then the rest.

The per-note work in the workers is reading the file and rendering its body; links,
backlinks and evidence runs are resolved once, up front, from the index and the ledger.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.context
import os
import re
import shutil
import sqlite3
import time
import unicodedata
from collections import defaultdict
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from claimledger.errors import ClaimledgerError, InvalidArgumentError, NoteError
from claimledger.kb.index import open_index
from claimledger.kb.notes import CLOSING, OPENING, read_capped, too_large
from claimledger.kb.resolve import Resolution, resolve_links
from claimledger.report.pages import NotePage, note_page
from claimledger.workspace import Workspace

# Below this many notes, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 400
CHUNK = 250
ASSETS = ("style.css", "graph.js", "cytoscape.min.js", "cytoscape.LICENSE")


@dataclass
class Catalog:
    """The vault as the report sees it: a page per note, plus the resolved links."""

    pages: list[NotePage] = field(default_factory=list)
    resolution: Resolution = field(default_factory=Resolution)
    href_of: dict[int, str] = field(default_factory=dict)
    row_of: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ReportResult:
    """What a build wrote."""

    out_dir: Path
    pages: int = 0
    notes: int = 0
    platforms: int = 0
    plots: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "out_dir": str(self.out_dir)}


def page_name(path: str) -> str:
    """A safe, stable, unique file name for a note's page: an ASCII slug and a short hash."""
    stem = unicodedata.normalize("NFKD", PurePosixPath(path).stem)
    slug = re.sub(r"[^a-z0-9]+", "-", stem.encode("ascii", "ignore").decode().lower())
    digest = hashlib.sha1(path.encode()).hexdigest()[:8]
    return f"{slug.strip('-')[:60] or 'note'}-{digest}.html"


def collect(conn: sqlite3.Connection) -> Catalog:
    """Every note with its page name, its links resolved and its backlinks."""
    catalog = Catalog(resolution=resolve_links(conn))
    rows = conn.execute(
        "SELECT id, path, title, type, domain, confidence, status, metadata FROM notes"
        " ORDER BY path"
    )
    for row in rows:
        href = "notes/" + page_name(row["path"])
        catalog.href_of[row["id"]] = href
        summary = dict(zip(row.keys(), row, strict=True))
        catalog.row_of[row["id"]] = summary | {"href": href, "metadata": None}
        meta = json.loads(row["metadata"] or "{}")
        catalog.pages.append(NotePage(row["path"], href, row["title"], meta))
    _attach_links(catalog)
    return catalog


def _attach_links(catalog: Catalog) -> None:
    by_path = {page.path: page for page in catalog.pages}
    page_of = {nid: by_path[row["path"]] for nid, row in catalog.row_of.items()}
    backlinks: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for link, target in catalog.resolution.edges:
        source = page_of[link.source_id]
        name, title = catalog.href_of[target][len("notes/") :], catalog.row_of[target]["title"]
        source.links[(link.key, link.folder)] = (name, title)
        source.outgoing.append((link.kind, link.target, name))
        backlinks[target].append((link.kind, source.title, source.href[len("notes/") :]))
    for link in catalog.resolution.dangling:
        page_of[link.source_id].outgoing.append((link.kind, link.target, None))
    for page in catalog.pages:  # a note that links a target twice lists it once
        page.outgoing = list(dict.fromkeys(page.outgoing))
    for nid, found in backlinks.items():
        page_of[nid].backlinks = sorted(set(found), key=lambda b: (b[1], b[0]))
        catalog.row_of[nid]["backlinks"] = len(page_of[nid].backlinks)


def attach_runs(ws: Workspace, pages: list[NotePage], problems: list[str]) -> None:
    """Each note's provenance.runs with its ledger record (None when the ledger has none)."""
    wanted = {page.path: _run_ids(page.metadata) for page in pages}
    if not any(wanted.values()):
        return
    from claimledger.ledger import iter_records

    try:
        records = {r["id"]: r for r in iter_records(ws, kind="run")}
    except ClaimledgerError as exc:
        problems.append(f"ledger: {exc}")
        records = {}
    for page in pages:
        page.runs = [(rid, records.get(rid)) for rid in wanted[page.path]]


def _run_ids(metadata: dict[str, Any]) -> list[str]:
    provenance = metadata.get("provenance")
    runs = provenance.get("runs") if isinstance(provenance, dict) else None
    return [r for r in runs if isinstance(r, str)] if isinstance(runs, list) else []


def note_body(path: Path) -> str:
    """A note's body; its YAML is not parsed again (the index has the fields). Raises OSError,
    UnicodeDecodeError, or NoteError for a note over the size limit."""
    data, _ = read_capped(str(path))
    if data is None:
        raise NoteError(too_large(), path)
    text = data.decode("utf-8")
    opening = OPENING.match(text)
    closing = CLOSING.search(text, opening.end()) if opening else None
    return text[closing.end() :] if closing else text


def write_note_pages(root: str, out_dir: str, pages: list[NotePage]) -> list[str]:
    """Render and write a batch of note pages; returns problems (unreadable notes)."""
    problems = []
    for page in pages:
        try:
            body = note_body(Path(root) / page.path)
        except (OSError, UnicodeDecodeError, NoteError) as exc:
            problems.append(f"{page.path}: cannot read: {exc}")
            body = ""
        with open(os.path.join(out_dir, page.href), "w", encoding="utf-8") as handle:
            handle.write(note_page(page, body))
    return problems


def worker_count(requested: int | None) -> int:
    """Processes to use: as requested, else one per CPU this process may run on."""
    if requested:
        return max(1, requested)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def copy_assets(out_dir: Path) -> None:
    """The stylesheet, the graph script and the vendored cytoscape.js (with its licence)."""
    target = out_dir / "assets"
    target.mkdir(parents=True, exist_ok=True)
    folder = resources.files("claimledger.report") / "assets"
    for name in ASSETS:
        with resources.as_file(folder / name) as source:
            shutil.copyfile(source, target / name)


def refuse_links_inside(out: Path) -> None:
    """InvalidArgumentError when a symbolic link is anywhere inside the output folder.

    The build writes every page by its name: through a link planted there (`index.html ->
    ~/.bashrc`, `notes -> ~/.ssh`) it would overwrite whatever the link points at. The folder
    itself may be a link, as may the folders above it: the user named them."""
    for folder, dirs, files in os.walk(out):  # links to folders are listed, not followed
        for name in sorted([*dirs, *files]):
            if os.path.islink(os.path.join(folder, name)):
                raise InvalidArgumentError(
                    "a symbolic link inside the report folder: refusing to write through it "
                    "(remove it, or choose another --out)",
                    os.path.join(folder, name),
                )


def build_report(ws: Workspace, out_dir: Path | str, workers: int | None = None) -> ReportResult:
    """Write the whole static site into out_dir and say what was written."""
    from claimledger.report import ledger_pages, listings

    start = time.perf_counter()
    result = ReportResult(Path(out_dir))
    out = result.out_dir
    refuse_links_inside(out)
    (out / "notes").mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    with open_index(ws) as conn:
        catalog = collect(conn)
        extra = listings.collect_extra(ws, conn, result.problems)
    attach_runs(ws, catalog.pages, result.problems)
    pool = _pool(len(catalog.pages), workers)
    try:
        jobs = _submit_notes(pool, ws, out, catalog.pages)
        ledger = ledger_pages.start_ledger(ws, out, pool, result)
        result.pages += listings.write_listings(ws, out, catalog, extra) + 2
        for job in jobs:
            result.problems.extend(job.result())
        ledger_pages.finish_ledger(ledger, out, result)
    finally:
        if pool is not None:
            pool.shutdown()
        _SHARED_PAGES.clear()
    remove_stale(out / "notes", {Path(page.href).name for page in catalog.pages})
    result.notes = len(catalog.pages)
    result.pages += len(catalog.pages)
    result.seconds = time.perf_counter() - start
    return result


def remove_stale(folder: Path, current: set[str]) -> None:
    """Delete the pages of notes that no longer exist (renamed, merged) from an earlier build."""
    for path in folder.glob("*.html"):
        if path.name not in current:
            path.unlink(missing_ok=True)


def _pool(notes: int, workers: int | None) -> Executor | None:
    count = worker_count(workers)
    if notes < PARALLEL_THRESHOLD or count < 2:
        return None
    return ProcessPoolExecutor(max_workers=count, mp_context=_fork_context())


def _fork_context() -> multiprocessing.context.BaseContext | None:
    """fork where the platform has it: workers then inherit the pages instead of unpickling."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return None


class _Done(Future):
    """A finished future, for work done in this process when there is no pool."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.set_result(value)


def run_job(pool: Executor | None, fn: Any, *args: Any) -> Future:
    """fn(*args) in the pool, or here and now when there is none."""
    if pool is None:
        return _Done(fn(*args))
    return pool.submit(fn, *args)


# The pages of the build in progress, inherited by forked workers (see _submit_notes).
_SHARED_PAGES: list[NotePage] = []


def _write_shared(root: str, out_dir: str, start: int, end: int) -> list[str]:
    return write_note_pages(root, out_dir, _SHARED_PAGES[start:end])


def _submit_notes(
    pool: Executor | None, ws: Workspace, out: Path, pages: list[NotePage]
) -> list[Future]:
    """Note pages in chunks; forked workers get a range of the shared list, which costs
    nothing to send (pickling 25,000 pages to the workers cost about 7 CPU-seconds)."""
    ranges = [(i, min(i + CHUNK, len(pages))) for i in range(0, len(pages), CHUNK)]
    root, target = str(ws.root), str(out)
    if pool is not None and _fork_context() is not None:
        _SHARED_PAGES[:] = pages  # before the first submit, which forks the workers
        return [pool.submit(_write_shared, root, target, a, b) for a, b in ranges]
    return [run_job(pool, write_note_pages, root, target, pages[a:b]) for a, b in ranges]
