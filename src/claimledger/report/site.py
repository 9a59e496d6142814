"""Building the static site: collect what every page needs from the index and the ledger in
one pass, write the note pages (in worker processes for a large vault), then the rest.

The per-note work in the workers is reading the file and rendering its body; links,
backlinks and evidence runs are resolved once, up front, from the index and the ledger.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import Executor, Future
from importlib import resources
from pathlib import Path

from claimledger.errors import InvalidArgumentError, NoteError
from claimledger.kb import open_index
from claimledger.kb.notes import read_capped, split_text, too_large
from claimledger.report.catalog import attach_runs, collect
from claimledger.report.jobs import ReportResult, fork_context, make_pool, run_job
from claimledger.report.ledger_pages import finish_ledger, start_ledger
from claimledger.report.listings import collect_extra, write_listings
from claimledger.report.pages import NotePage, note_page
from claimledger.workspace import Workspace

CHUNK = 250
ASSETS = ("style.css", "graph.js", "cytoscape.min.js", "cytoscape.LICENSE")


def note_body(path: Path) -> str:
    """A note's body; its YAML is not parsed again (the index has the fields). Raises OSError,
    UnicodeDecodeError, or NoteError for a note over the size limit."""
    data, _ = read_capped(str(path))
    if data is None:
        raise NoteError(too_large(), path)
    return split_text(data.decode("utf-8")).body


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
    start = time.perf_counter()
    result = ReportResult(Path(out_dir))
    out = result.out_dir
    refuse_links_inside(out)
    (out / "notes").mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    with open_index(ws) as conn:
        catalog = collect(conn)
        extra = collect_extra(ws, conn, catalog, result.problems)
    attach_runs(ws, catalog.pages, result.problems)
    pool = make_pool(len(catalog.pages), workers)
    try:
        jobs = _submit_notes(pool, ws, out, catalog.pages)
        ledger = start_ledger(ws, out, pool, result)
        result.pages += write_listings(ws, out, catalog, extra) + 2
        for job in jobs:
            result.problems.extend(job.result())
        finish_ledger(ledger, out, result)
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
    if pool is not None and fork_context() is not None:
        _SHARED_PAGES[:] = pages  # before the first submit, which forks the workers
        return [pool.submit(_write_shared, root, target, a, b) for a, b in ranges]
    return [run_job(pool, write_note_pages, root, target, pages[a:b]) for a, b in ranges]
