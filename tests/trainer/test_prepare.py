"""The fixed harness: corpus reading, the split by file, the prepared cache and the metric."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
import torch

from claimledger.errors import TrainerError
from claimledger.trainer import evaluate_bpb, prepare_data
from claimledger.trainer.prepare import (
    EVAL_BYTES,
    EVAL_CONTEXT,
    default_corpus_root,
    device_name,
    eval_windows,
    list_corpus_files,
    peak_flops,
    read_corpus,
    split_corpus,
)
from tests.trainer.conftest import write_corpus


def test_split_is_by_file_and_adding_a_file_moves_no_other(tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "text", files=40)
    _, before = read_corpus(folder)
    (folder / "extra.py").write_text("x = 1\n")
    _, after = read_corpus(folder)
    split = {f.path: f.split for f in before}
    assert all(split[f.path] == f.split for f in after if f.path in split)
    train, val = split_corpus(before)
    assert val and train and len(val) < len(train)
    assert {f.path for f in train}.isdisjoint(f.path for f in val)


def test_small_corpus_still_gets_a_file_on_each_side(tmp_path: Path) -> None:
    _, corpus = read_corpus(write_corpus(tmp_path / "text", files=2))
    train, val = split_corpus(corpus)
    assert len(train) == 1 and len(val) == 1


def test_corpus_with_fewer_than_two_text_files_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "text"
    folder.mkdir()
    (folder / "only.txt").write_text("one file\n")
    (folder / "image.bin").write_bytes(b"\x89PNG\x00\x01")
    with pytest.raises(TrainerError, match="at least two"):
        read_corpus(folder)
    with pytest.raises(TrainerError, match="does not exist"):
        read_corpus(tmp_path / "missing")


def test_binary_hidden_and_empty_files_are_left_out(tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "text", files=3)
    (folder / "blob.dat").write_bytes(b"abc\x00def")
    (folder / ".hidden.py").write_text("secret = 1\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[core]\n")
    (folder / "empty.py").write_text("  \n")
    _, corpus = read_corpus(folder)
    assert [f.path for f in corpus] == ["module_00.py", "module_01.py", "module_02.py"]


def test_default_corpus_is_the_stdlib_sources_without_site_packages() -> None:
    files = list_corpus_files(default_corpus_root(), ".py")
    relative = [f.relative_to(default_corpus_root()).as_posix() for f in files]
    assert "json/decoder.py" in relative
    assert relative == sorted(relative)
    assert not any(part in ("site-packages", "__pycache__") for f in files for part in f.parts)


def test_preparation_is_cached_and_reused(corpus: Path, tmp_path: Path) -> None:
    first = prepare_data(corpus, tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in first.directory.iterdir()}
    second = prepare_data(corpus, tmp_path)
    assert not first.reused and second.reused
    assert first.directory == tmp_path / "trainer-data" / first.corpus_hash
    assert {p.name: p.stat().st_mtime_ns for p in second.directory.iterdir()} == stamps
    assert sorted(stamps) == ["meta.json", "train.bin", "val.bin"]
    assert torch.equal(first.train, second.train) and torch.equal(first.val, second.val)
    assert first.meta["train_bytes"] == len(first.train) and first.meta["files"] == 30


def test_changed_corpus_gets_a_new_hash_and_cache(corpus: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(corpus, copy)
    same = prepare_data(copy, tmp_path / "cache")
    assert same.corpus_hash == prepare_data(corpus, tmp_path / "cache").corpus_hash
    (copy / "module_00.py").write_text("changed = True\n")
    changed = prepare_data(copy, tmp_path / "cache")
    assert changed.corpus_hash != same.corpus_hash and not changed.reused


def test_concurrent_preparations_build_the_cache_once(corpus: Path, tmp_path: Path) -> None:
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(prepare_data(corpus, tmp_path)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(not r.reused for r in results) == 1
    assert not list((results[0].directory).glob(".*.tmp"))


def test_eval_windows_are_fixed_disjoint_and_capped() -> None:
    val = torch.arange(3 * EVAL_BYTES, dtype=torch.int64) % 251
    windows = eval_windows(val.to(torch.uint8))
    assert windows.shape == (EVAL_BYTES // EVAL_CONTEXT, EVAL_CONTEXT + 1)
    starts = windows[:, 0].tolist()
    assert len(set(starts)) > 1
    small = eval_windows(torch.zeros(10 * (EVAL_CONTEXT + 1) + 5, dtype=torch.uint8))
    assert small.shape[0] == 10
    with pytest.raises(TrainerError, match="validation split"):
        eval_windows(torch.zeros(EVAL_CONTEXT, dtype=torch.uint8))


def test_uniform_prediction_scores_exactly_8_bits_per_byte(corpus: Path, tmp_path: Path) -> None:
    data = prepare_data(corpus, tmp_path)
    bpb = evaluate_bpb(lambda x: torch.zeros(*x.shape, 256), data.val, "cpu")
    assert bpb == pytest.approx(8.0, abs=1e-5)


def test_a_model_that_knows_the_data_scores_lower(corpus: Path, tmp_path: Path) -> None:
    data = prepare_data(corpus, tmp_path)
    counts = torch.bincount(data.train.long(), minlength=256).float() + 1
    unigram = (counts / counts.sum()).log()
    bpb = evaluate_bpb(lambda x: unigram.expand(*x.shape, 256), data.val, "cpu")
    assert 2.0 < bpb < 6.0


@pytest.mark.parametrize(
    ("name", "flops"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA A100-SXM4-40GB", 312e12),
        ("NVIDIA L4", 121e12),
        ("NVIDIA L40S", 362e12),
        ("NVIDIA GeForce RTX 4090", 165e12),
        ("AMD EPYC 7B13", None),
    ],
)
def test_peak_flops_table_matches_device_names(name: str, flops: float | None) -> None:
    assert peak_flops(name) == flops


def test_cpu_device_is_named_for_the_summary() -> None:
    name = device_name(torch.device("cpu"))
    assert isinstance(name, str) and name.strip()
