"""The static HTML report: a site that opens from the file system with no server or network.

Public API:
    build_report(ws, out_dir, workers=None) -> ReportResult
        index, a page per note, the interactive graph (vendored cytoscape.js), leaderboards,
        the branch forest, progress plots, open proposals and the review queue.
"""

from claimledger.report.site import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
