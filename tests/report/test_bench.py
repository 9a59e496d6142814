"""Smoke test of bench/report.py: a tiny run exits 0 and ends with the JSON line of figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "report.py"


@pytest.mark.slow
def test_bench_report_small_run_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--notes", "450"], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["pages"] > 450 and figures["problems"] == 0
    assert {"report_s", "report_single_s", "cli_cold_s", "report_cpu_s"} <= set(figures)
