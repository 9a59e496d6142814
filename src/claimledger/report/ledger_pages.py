"""The report's ledger pages: the leaderboard of each platform, the branch forest with its
adoption edges, and the progress plots (ledger.plot_progress), drawn in worker processes
while the note pages are written.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimledger.errors import ClaimledgerError
from claimledger.report.catalog import page_name
from claimledger.report.jobs import ReportResult, run_job
from claimledger.report.pages import layout, run_row
from claimledger.report.render import escape
from claimledger.workspace import Workspace

MAX_BRANCH_PLOTS = 24  # one plot per (platform, branch), for the branches with most runs


@dataclass
class LedgerState:
    """Ledger data read once, and the plots being drawn."""

    platforms: dict[str, int] = field(default_factory=dict)
    branches: list[dict[str, Any]] = field(default_factory=list)
    adoptions: list[dict[str, Any]] = field(default_factory=list)
    cyclic: list[dict[str, Any]] = field(default_factory=list)
    plots: dict[tuple[str, str | None], Future] = field(default_factory=dict)


def draw_plot(ws: Workspace, path: str, platform: str, branch: str | None) -> str | None:
    """One progress plot; returns a problem, or None when it was drawn."""
    from claimledger.ledger import plot_progress

    try:
        plot_progress(ws, path, platform, [branch] if branch else None)
    except (ClaimledgerError, OSError, ValueError) as exc:
        return f"plot {Path(path).name}: {exc}"
    return None


def plot_name(platform: str, branch: str | None) -> str:
    """The site-relative PNG path of a platform's (or one branch's) progress plot."""
    return "plots/" + page_name(f"{platform}/{branch or 'all'}")[: -len(".html")] + ".png"


def start_ledger(
    ws: Workspace, out: Path, pool: Executor | None, result: ReportResult
) -> LedgerState:
    """Read the ledger, write the leaderboards and start drawing the plots."""
    from claimledger.ledger import adoptions, branches, forest, platforms

    state = LedgerState()
    try:
        state.platforms = platforms(ws)
        state.branches = branches(ws)
        state.adoptions = adoptions(ws)
        state.cyclic = forest(ws).cyclic
    except ClaimledgerError as exc:
        result.problems.append(f"ledger: {exc}")
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for platform in state.platforms:
        _plot(state, ws, out, pool, platform, None)
    busiest = sorted(state.branches, key=lambda b: -b["runs"])[:MAX_BRANCH_PLOTS]
    for node in busiest:
        for platform in node["platforms"]:
            _plot(state, ws, out, pool, platform, node["branch"])
    _write(out / "leaderboard.html", layout("Leaderboards", _leaderboards(ws, state, result)))
    result.platforms = len(state.platforms)
    return state


def _plot(
    state: LedgerState,
    ws: Workspace,
    out: Path,
    pool: Executor | None,
    platform: str,
    branch: str | None,
) -> None:
    path = str(out / plot_name(platform, branch))
    state.plots[(platform, branch)] = run_job(pool, draw_plot, ws, path, platform, branch)


def finish_ledger(state: LedgerState, out: Path, result: ReportResult) -> None:
    """Wait for the plots, then write the branches page with the ones that were drawn."""
    drawn = set()
    for key, job in state.plots.items():
        problem = job.result()
        if problem:
            result.problems.append(problem)
        else:
            drawn.add(key)
    result.plots = len(drawn)
    _write(out / "branches.html", layout("Branches", _branches_content(state, drawn)))


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _leaderboards(ws: Workspace, state: LedgerState, result: ReportResult) -> str:
    from claimledger.ledger import leaderboard

    if not state.platforms:
        return "<h1>Leaderboards</h1><p>The ledger has no runs yet.</p>"
    parts = ["<h1>Leaderboards</h1><p>The best kept run of each branch, per platform.</p>"]
    for platform, count in state.platforms.items():
        try:
            board = leaderboard(ws, platform)
        except ClaimledgerError as exc:
            result.problems.append(f"leaderboard {platform}: {exc}")
            continue
        rows = "".join(
            run_row(run["id"], run, lead=f"<td>{rank}</td>") for rank, run in enumerate(board, 1)
        )
        parts.append(
            f'<section class="platform" id="{escape(platform)}"><h2>{escape(platform)}</h2>'
            f'<p>{count} runs</p><table class="data leaderboard"><tr><th>#</th><th>run</th>'
            "<th>branch</th><th>platform</th><th>status</th><th>commit</th><th>metrics</th>"
            f"<th>change</th></tr>{rows}</table>"
            f'<img class="plot" alt="progress on {escape(platform)}" '
            f'src="{escape(plot_name(platform, None))}"></section>'
        )
    return "\n".join(parts)


def _branches_content(state: LedgerState, drawn: set[tuple[str, str | None]]) -> str:
    if not state.branches:
        return "<h1>Branches</h1><p>The ledger has no branches yet.</p>"
    rows = "".join(_branch_row(node) for node in state.branches)
    parts = [
        "<h1>Branch forest</h1><p>Branches are never merged: a branch adopts another at a "
        "commit and builds on it. Indentation shows who builds on whom.</p>",
        '<table class="data forest"><tr><th>branch</th><th>adopted</th><th>runs</th>'
        f"<th>kept</th><th>discarded</th><th>crashed</th><th>best</th></tr>{rows}</table>",
        _adoptions_table(state.adoptions, state.cyclic),
        "<h2>Progress</h2>",
    ]
    for platform, branch in sorted(drawn, key=lambda k: (k[0], k[1] or "")):
        label = f"{branch} on {platform}" if branch else f"all branches on {platform}"
        parts.append(
            f'<figure class="plot"><img src="{escape(plot_name(platform, branch))}" '
            f'alt="progress of {escape(label)}"><figcaption>{escape(label)}</figcaption></figure>'
        )
    return "\n".join(parts)


def _branch_row(node: dict[str, Any]) -> str:
    indent = "&nbsp;&nbsp;&nbsp;&nbsp;" * node["depth"] + ("└ " if node["depth"] else "")
    parent = node["parent"]
    adopted = (
        f"from {escape(parent['from_branch'])} at <code>{escape(str(parent['commit'])[:10])}</code>"
        if parent
        else ""
    )
    best = ", ".join(
        f"{escape(p)}: {run['metrics'].get('val_bpb', '?')}" for p, run in node["best"].items()
    )
    cells = [
        f"{indent}<strong>{escape(node['branch'])}</strong>",
        adopted,
        node["runs"],
        node["kept"],
        node["discarded"],
        node["crashed"],
        best,
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _adoptions_table(edges: list[dict[str, Any]], cyclic: list[dict[str, Any]]) -> str:
    if not edges:
        return "<h2>Adoptions</h2><p>No adoptions yet.</p>"
    left_out = {edge["id"] for edge in cyclic}
    rows = "".join(
        f"<tr><td>{escape(e['branch'])}</td><td>{escape(e['from_branch'])}</td>"
        f"<td><code>{escape(str(e['commit'])[:10])}</code></td><td>{escape(e['platform'])}</td>"
        f"<td>{escape(e['created'])}</td>"
        f"<td>{'left out: would close a cycle' if e['id'] in left_out else ''}</td></tr>"
        for e in edges
    )
    return (
        '<h2>Adoptions</h2><table class="data adoptions"><tr><th>branch</th><th>builds on</th>'
        f"<th>commit</th><th>platform</th><th>when</th><th></th></tr>{rows}</table>"
    )
