"""The progress plot: every run per branch, kept runs, the running-best frontier, crashes.

Like autoresearch's progress.png, one panel per platform asked for: x is the experiment
number within each branch, y is val_bpb (lower is better). Discarded runs are faint dots,
kept runs solid dots, the running best of each branch is a step line, and crashes are red
crosses along the bottom edge. matplotlib is imported here only, with the Agg backend.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from claimledger.errors import NotFoundError
from claimledger.files import write_atomic
from claimledger.ledger.branches import forest
from claimledger.ledger.queries import platforms, runs
from claimledger.workspace import Workspace

MAX_BRANCHES = 12  # more lines than this is unreadable; the ones with the best runs are kept


def plot_progress(
    ws: Workspace,
    out_png: str | Path,
    platform: str | None = None,
    branches: list[str] | None = None,
) -> dict[str, Any]:
    """Draw the progress plot of one platform (default: the one with most runs) to a PNG."""
    out = Path(out_png)
    platform = platform or _busiest_platform(ws)
    by_branch = _runs_by_branch(ws, platform, branches)
    if not by_branch:
        raise NotFoundError(f"no runs on platform {platform}")
    figure = _draw(platform, by_branch, _offsets(ws, by_branch))
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=120)
    write_atomic(out, png.getvalue())
    total = sum(len(r) for r in by_branch.values())
    return {"path": str(out), "platform": platform, "branches": sorted(by_branch), "runs": total}


def _busiest_platform(ws: Workspace) -> str:
    counts = platforms(ws)
    if not counts:
        raise NotFoundError("the ledger has no runs to plot")
    return next(iter(counts))


def _runs_by_branch(
    ws: Workspace, platform: str, only: list[str] | None
) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for run in runs(ws, platform=platform):
        if only is None or run["branch"] in only:
            grouped.setdefault(run["branch"], []).append(run)
    if len(grouped) > MAX_BRANCHES:
        ranked = sorted(grouped, key=lambda b: min([_bpb(r) or 9e9 for r in grouped[b]]))
        grouped = {b: grouped[b] for b in ranked[:MAX_BRANCHES]}
    return grouped


def _offsets(ws: Workspace, by_branch: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Where each branch starts on the x axis: after the run of its parent that it adopted."""
    parent = forest(ws).parent
    offsets: dict[str, int] = {}

    def offset(branch: str) -> int:
        """The x of a branch's first run, after its parent's offset (parents first)."""
        if branch not in offsets:
            offsets[branch] = 0  # the forest has no cycles; this guards the recursion anyway
            edge = parent.get(branch)
            if edge and edge["from_branch"] in by_branch:
                commits = [r["commit"] for r in by_branch[edge["from_branch"]]]
                if edge["commit"] in commits:
                    start = offset(edge["from_branch"])
                    offsets[branch] = start + len(commits) - 1 - commits[::-1].index(edge["commit"])
        return offsets[branch]

    return {branch: offset(branch) for branch in by_branch}


def _bpb(run: dict[str, Any]) -> float | None:
    value = run.get("metrics", {}).get("val_bpb")
    return float(value) if value and run["status"] != "crash" else None


def _y_range(by_branch: dict[str, list[dict[str, Any]]]) -> tuple[float, float]:
    """The val_bpb range shown: every kept run, and the discards but for far outliers."""
    kept = [v for rs in by_branch.values() for r in rs if r["status"] == "keep" and (v := _bpb(r))]
    every = sorted(v for rs in by_branch.values() for r in rs if (v := _bpb(r)) is not None)
    if not every:
        return 0.0, 1.0
    # A diverged run at 3.2 next to results near 0.97 would flatten the whole plot.
    top = max([*kept, every[int(0.95 * (len(every) - 1))]])
    return every[0], top


def _draw(
    platform: str, by_branch: dict[str, list[dict[str, Any]]], offsets: dict[str, int]
) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 5.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    low, high = _y_range(by_branch)
    pad = (high - low) * 0.06 or 0.01
    edges = (low - pad, high + pad)
    for i, (branch, branch_runs) in enumerate(sorted(by_branch.items())):
        _draw_branch(axes, branch, branch_runs, f"C{i % 10}", edges, offsets[branch])
    kept = sum(r["status"] == "keep" for rs in by_branch.values() for r in rs)
    total = sum(len(rs) for rs in by_branch.values())
    axes.set_title(f"{platform}: {total} runs, {kept} kept")
    axes.set_xlabel("experiment # (an adopting branch starts at the run it adopted)")
    axes.set_ylabel("val_bpb (lower is better)")
    axes.set_ylim(low - 2 * pad, high + 2 * pad)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    return figure


def _draw_branch(
    axes: Any,
    branch: str,
    branch_runs: list[dict[str, Any]],
    color: str,
    edges: tuple[float, float],
    start: int,
) -> None:
    """One branch: faint discards, solid keeps, the running best as steps, crashes as x.

    Crashes sit on the bottom edge, discards beyond the top edge on the top edge (^).
    """
    numbered = list(enumerate(branch_runs, start=start + 1 if start else 0))
    kept = [(i, v) for i, r in numbered if r["status"] == "keep" and (v := _bpb(r))]
    other = [(i, v) for i, r in numbered if r["status"] == "discard" and (v := _bpb(r))]
    shown = [(i, v) for i, v in other if v <= edges[1]]
    if shown:
        axes.scatter(*zip(*shown, strict=True), s=12, color=color, alpha=0.25)
    off_scale = [i for i, v in other if v > edges[1]]
    _mark(axes, off_scale, edges[1], "^", color, "discarded, off scale")
    if kept:
        axes.scatter(
            *zip(*kept, strict=True), s=28, color=color, label=f"{branch} (kept)", zorder=3
        )
        frontier, best = [], float("inf")
        for i, value in kept:
            best = min(best, value)
            frontier.append((i, best))
        frontier.append((numbered[-1][0], best))
        axes.step(*zip(*frontier, strict=True), where="post", color=color, linewidth=1.5, alpha=0.8)
    crashes = [i for i, r in numbered if r["status"] == "crash"]
    _mark(axes, crashes, edges[0], "x", "red", "crash")


def _mark(axes: Any, xs: list[int], y: float, marker: str, color: str, label: str) -> None:
    """Runs without a plottable value, as markers along an edge (one legend entry)."""
    if xs:
        label_once = None if label in axes.get_legend_handles_labels()[1] else label
        axes.scatter(xs, [y] * len(xs), marker=marker, color=color, s=30, label=label_once)
