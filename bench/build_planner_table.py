"""Build the cached table of real trainer results that bench/planner.py draws from.

A small configuration space around the trainer's defaults (a grid over four knobs that the
seed claims speak about), each point trained with several seeds on a short token budget, on
one CPU thread so that every result is bit-for-bit reproducible. The table is stored in the
project (bench/data/planner_table.json) and written after every run, so an interrupted build
resumes where it stopped.

    nice -n 19 .venv/bin/python bench/build_planner_table.py    # 108 runs, ~40 min on 2 cores
    .venv/bin/python bench/build_planner_table.py --tokens 20000 --seeds 1 --out /tmp/t.json

Each run calls the trainer's own `main()` in this process (the same code path as
`python -m claimledger.trainer.train`, without paying torch's import per run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "data" / "planner_table.json"
TOKENS = 200_000
SEEDS = 3
# The grid: every knob keeps the trainer default among its values.
SPACE: dict[str, list[Any]] = {
    "muon_lr": [0.015, 0.03, 0.06],
    "embed_lr": [0.01, 0.03, 0.1],
    "batch_size": [8, 16],
    "warmdown_frac": [0.3, 0.6],
}


def point_key(config: dict[str, Any]) -> str:
    """The table key of a configuration: its knobs in SPACE order."""
    return ",".join(f"{k}={config[k]}" for k in SPACE)


def grid() -> list[dict[str, Any]]:
    """Every configuration of the space."""
    return [dict(zip(SPACE, values, strict=True)) for values in itertools.product(*SPACE.values())]


def train_once(config: dict[str, Any], seed: int, tokens: int, cache_dir: Path) -> dict[str, Any]:
    """One real training run; its val_bpb (None on a crash) and what it cost."""
    from claimledger.trainer import train

    with tempfile.TemporaryDirectory() as tmp:
        summary_path = Path(tmp) / "summary.json"
        argv = ["--token-budget", str(tokens), "--seed", str(seed), "--device", "cpu"]
        argv += [
            "--threads",
            "1",
            "--cache-dir",
            str(cache_dir),
            "--summary-json",
            str(summary_path),
        ]
        for key, value in config.items():
            argv += ["--set", f"{key}={value}"]
        train.main(argv)
        summary = json.loads(summary_path.read_text())
    return {
        "seed": seed,
        "val_bpb": summary.get("val_bpb") if summary["status"] == "ok" else None,
        "crash_reason": summary.get("crash_reason"),
        "training_seconds": summary.get("training_seconds"),
    }


def load(path: Path, tokens: int) -> dict[str, Any]:
    """The table built so far (the same token budget), or a new one."""
    if path.exists():
        table = json.loads(path.read_text())
        if table.get("token_budget") == tokens and table.get("space") == SPACE:
            return table
    return {"token_budget": tokens, "threads": 1, "space": SPACE, "points": {}}


def save(path: Path, table: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=TOKENS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".claimledger")
    args = parser.parse_args()
    table = load(args.out, args.tokens)
    start, ran = time.time(), 0
    for seed in range(args.seeds):  # seed-major: a partial table covers every point once
        for config in grid():
            runs = table["points"].setdefault(point_key(config), {"config": config, "runs": []})
            if any(run["seed"] == seed for run in runs["runs"]):
                continue
            runs["runs"].append(train_once(config, seed, args.tokens, args.cache_dir))
            ran += 1
            save(args.out, table)
            done = sum(len(p["runs"]) for p in table["points"].values())
            print(f"{done} runs, {time.time() - start:.0f} s: {point_key(config)} seed {seed}")
    # A resumed build adds its time; a complete table is left as it is.
    spent = round(time.time() - start, 1)
    if ran:
        table["built_seconds"] = round(table.get("built_seconds", 0) + spent, 1)
        save(args.out, table)
    runs = sum(len(p["runs"]) for p in table["points"].values())
    print(f"points: {len(table['points'])}")
    print(f"runs: {runs}")
    print(f"built_seconds: {table.get('built_seconds')}")
    print(json.dumps({"points": len(table["points"]), "runs": runs, "seconds": spent}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
