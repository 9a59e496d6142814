"""Smoke test of bench/planner.py on the stored table: a short run prints every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "planner.py"


@pytest.mark.slow
def test_bench_planner_short_run_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--reps", "2"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    for arm in ("random", "tpe", "planner_seed_claims", "planner_wrong_claims"):
        assert 1 <= figures[arm]["median"] <= figures["max_runs"]
        assert f"{arm}_median_runs: {figures[arm]['median']}" in lines
    assert "seed_claims_vs_tpe" in figures
