"""Smoke test of bench/ledger.py: a small run exits 0 and ends with the JSON line of figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ledger.py"


@pytest.mark.slow
def test_bench_ledger_small_run_prints_every_figure() -> None:
    command = [sys.executable, str(BENCH), "--records", "1500", "--branches", "15"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["records"] == 1500 and figures["branches"] == 15
    for key in ("cold_index_s", "warm_index_ms", "best_ms", "branches_ms", "add_one_ms"):
        assert figures[key] > 0
        assert f"{key}: {figures[key]}" in lines
