"""Smoke test of bench/extraction.py's model-free measurements on small inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "extraction.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_inbox", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_inbox_measures_worker_rate_and_duplicate_check(tmp_path: Path) -> None:
    bench = load_bench()
    rate = bench.worker_rate(tmp_path, 6, "lexical")
    assert rate["sources_per_s"] > 0 and rate["claims"] >= 3
    assert 0 < bench.duplicate_check(2000) < 1000
