"""Smoke test of bench/kb_index.py: a tiny run exits 0 and ends with the JSON line of figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TELEO

BENCH = Path(__file__).resolve().parents[1] / "bench" / "kb_index.py"
EXPECTED_KEYS = {
    "notes",
    "cold_index_s",
    "warm_index_s",
    "one_change_s",
    "show_s",
    "show_cli_s",
    "lint_s",
    "lint_findings",
    "broken_yaml_named",
    "broken_yaml_total",
    "help_s",
    "python_bare_s",
    "obsidiantools_s",
    "obsidian_speedup",
    "naive_s",
    "cold_over_naive",
    "cold_over_naive_of_medians",
    "targets",
}
# The real-notes figures, when ../shared/fixtures/teleo-sample is there to copy.
REAL_KEYS = {
    "real_notes",
    "real_cold_index_s",
    "real_naive_s",
    "real_cold_over_naive",
    "real_warm_index_s",
    "real_one_change_s",
    "real_watch_one_change_s",
    "real_watch_warm_index_s",
    "real_peak_rss_writer_mb",
    "real_peak_rss_worker_mb",
}


@pytest.mark.slow
def test_bench_kb_index_quick_run_prints_every_figure() -> None:
    command = [sys.executable, str(BENCH), "--quick", "--notes", "300", "--obsidian-notes", "50",
               "--real-notes", "200"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) >= EXPECTED_KEYS
    assert figures["notes"] == 300
    assert figures["broken_yaml_named"] == figures["broken_yaml_total"] == 3
    assert "cold_index_s: " in done.stdout
    if TELEO.exists():
        assert set(figures) >= REAL_KEYS and figures["real_notes"] == 200
