"""Fixtures for the trainer tests: a small, learnable corpus and the arguments of a tiny run."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

# A model small enough to train a few dozen steps in about a second on one core.
TINY = ["depth=1", "width=32", "n_head=2", "seq_len=64", "batch_size=8"]


def write_corpus(folder: Path, files: int = 30, seed: int = 0) -> Path:
    """A folder of small Python-like files: regular enough for a tiny model to learn fast."""
    rng = random.Random(seed)
    names = ["alpha", "beta", "gamma", "delta", "value", "count", "total", "index"]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        lines = [f'"""Module {i}."""', ""]
        for j in range(40):
            a, b = rng.choice(names), rng.choice(names)
            lines += [f"def {a}_{j}({b}):", f"    return {b} + {rng.randint(0, 9)}", ""]
        (folder / f"module_{i:02d}.py").write_text("\n".join(lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-file corpus shared by the tests that only read it."""
    return write_corpus(tmp_path_factory.mktemp("corpus") / "text")


def tiny_args(corpus: Path, cache: Path, *extra: str, tokens: int = 20_000) -> list[str]:
    """train.py arguments for a tiny CPU run on the test corpus."""
    args = ["--data", str(corpus), "--cache-dir", str(cache), "--device", "cpu"]
    args += ["--token-budget", str(tokens), "--threads", "1"]
    for setting in TINY:
        args += ["--set", setting]
    return [*args, *extra]


@pytest.fixture
def tiny(corpus: Path, tmp_path: Path) -> Callable[..., list[str]]:
    """A function giving train.py arguments for a tiny run on the corpus, cached in tmp_path."""
    return lambda *extra, tokens=20_000: tiny_args(
        corpus, tmp_path / "cache", *extra, tokens=tokens
    )
