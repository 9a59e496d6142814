"""Benchmark of `claimledger report` on the synthetic vault of bench/kb_index.py.

Builds the seeded vault (default 25,000 claims, ~5 [[wiki-links]] each) and measures, in one
run: the cold index, the report with worker processes (the default), and as the baseline the
same report written by a single process; then the whole `claimledger report` command on a
cold cache (which first builds the index: bench/kb_index.py measures that). Target: the report
of 25,000 notes in under a minute.

    .venv/bin/python bench/report.py [--notes 25000] [--quick]

Prints `name: value` lines, the target with PASS/FAIL, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claimledger.kb import refresh_index
from claimledger.report import build_report
from kb_index import SEED, build_vault, console_script, timed

TARGET_S = 60.0


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the report's workers)."""
    mine, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def cpu_timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of fn(): on a loaded machine the wall time says little alone."""
    before = cpu_seconds()
    wall, result = timed(fn)
    return wall, cpu_seconds() - before, result


def measure(root: Path, notes: int, workdir: Path) -> dict[str, Any]:
    """Index, parallel report, single-process report, and the CLI on a cold cache."""
    build_s, (ws, _, _) = timed(lambda: build_vault(root, notes, SEED))
    fig: dict[str, Any] = {"notes": notes, "vault_build_s": build_s, "cpus": os.cpu_count()}
    fig["load_avg_1m"] = os.getloadavg()[0]
    os.sync()  # the vault's dirty pages would otherwise throttle the first build's writes
    fig["cold_index_s"], _ = timed(lambda: refresh_index(ws))
    fig["report_s"], fig["report_cpu_s"], result = cpu_timed(
        lambda: build_report(ws, workdir / "site")
    )
    fig["pages"], fig["problems"] = result.pages, len(result.problems)
    os.sync()
    fig["report_single_s"], fig["report_single_cpu_s"], _ = cpu_timed(
        lambda: build_report(ws, workdir / "site1", workers=1)
    )
    shutil.rmtree(ws.cache_dir)
    command = [str(console_script()), "-C", str(root), "report", "--out", str(workdir / "s2")]
    fig["cli_cold_s"], _ = timed(lambda: subprocess.run(command, check=True, capture_output=True))
    fig["speedup_vs_single"] = fig["report_single_s"] / fig["report_s"]
    fig["pages_per_s"] = fig["pages"] / fig["report_s"]
    fig["site_mb"] = sum(p.stat().st_size for p in (workdir / "site").rglob("*")) / 1e6
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, help="vault size (default 25000, --quick 1000)")
    parser.add_argument("--quick", action="store_true", help="a small vault")
    args = parser.parse_args()
    notes = args.notes or (1000 if args.quick else 25000)
    workdir = Path(tempfile.mkdtemp(prefix="claimledger-bench-report-"))
    try:
        fig = measure(workdir / "vault", notes, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for key, value in fig.items():
        print(f"{key}: {round(value, 3) if isinstance(value, float) else value}")
    ok = fig["report_s"] < TARGET_S
    print(
        f"target: {'PASS' if ok else 'FAIL'}  report of {notes} notes < {TARGET_S:.0f} s "
        f"(index up to date, default workers): {fig['report_s']:.1f} s"
    )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in fig.items()}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
