"""The fixed harness of the bundled trainer: corpus, byte tokens, split, cache and the metric.

Agents edit `train.py`; they never edit this file, because everything here defines what a
result means. Two runs are comparable when they share a corpus hash (same bytes, same split,
same version of this file) and the same platform and budget.

- Tokens are bytes (vocabulary 256): nothing to download, no tokenizer to version.
- The default corpus is the Python standard library's `.py` files on this machine
  (`sysconfig.get_paths()["stdlib"]`, without site-packages), sorted by path; `--data PATH`
  takes any folder of text files instead (links out of the folder are not followed). Files
  are joined with a NUL byte between them.
- The split is by file: a file is in validation when the SHA-256 of its relative path falls in
  the first VAL_PERCENT percent, so adding a file never moves another one across the split.
- Prepared bytes live in `<cache-dir>/trainer-data/<corpus-hash>/{train,val}.bin`, written
  atomically under a file lock, so concurrent runs prepare once and never read half a file.
- Measurement is fixed too: the device's name, its peak FLOPS (for MFU) and peak memory.
- The metric, `evaluate_bpb`, scores EVAL_BYTES validation bytes (or all that fit, for small
  corpora) in fixed, disjoint windows of EVAL_CONTEXT bytes spread evenly over the validation
  split, each byte once, whatever the model, its sequence length or its batch size.
  Bits per byte = mean cross-entropy (nats) / ln 2, since each token is one byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import sys
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from claimledger.errors import TrainerError
from claimledger.files import write_atomic

if TYPE_CHECKING:  # torch is imported where used, so that importing this module stays cheap
    import torch

VOCAB_SIZE = 256  # one token per byte value
DOC_SEPARATOR = b"\x00"  # joins files; source text never contains NUL
VAL_PERCENT = 10  # share of files (by path hash) held out for validation
EVAL_CONTEXT = 256  # bytes of context per evaluation window
EVAL_BYTES = 256 * 1024  # bytes scored by evaluate_bpb (fewer only if validation is smaller)
EVAL_BATCH = 16  # windows per forward pass during evaluation; fixed so results are stable
PREPARE_VERSION = 1  # part of the corpus hash: bump when preparation changes the bytes
DATA_SUBDIR = "trainer-data"
EXCLUDED_STDLIB_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})


@dataclass(frozen=True)
class CorpusFile:
    """One file of a corpus: its path relative to the corpus root and its bytes."""

    path: str
    data: bytes

    @property
    def split(self) -> str:
        """`val` or `train`, from the hash of the path alone."""
        return (
            "val" if int.from_bytes(_path_digest(self)[:4], "big") % 100 < VAL_PERCENT else "train"
        )


@dataclass(frozen=True)
class PreparedData:
    """The prepared train and validation bytes of one corpus, as uint8 tensors."""

    train: torch.Tensor
    val: torch.Tensor
    corpus_hash: str
    meta: dict[str, Any]
    directory: Path
    reused: bool  # True when the cache was already there


def default_corpus_root() -> Path:
    """The standard library folder of the running Python."""
    return Path(sysconfig.get_paths()["stdlib"])


def list_corpus_files(root: Path, suffix: str | None = None) -> list[Path]:
    """Files under root, sorted, skipping hidden entries, caches and site-packages."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in EXCLUDED_STDLIB_DIRS)
        for name in files:
            if not name.startswith(".") and (suffix is None or name.endswith(suffix)):
                found.append(Path(folder) / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def corpus_root(data: Path | None = None) -> Path:
    """The folder of a corpus: `data`, else the standard library."""
    root = default_corpus_root() if data is None else Path(data)
    if not root.is_dir():
        raise TrainerError("corpus folder does not exist or is not a folder", root)
    return root


def iter_corpus(data: Path | None = None) -> Iterator[CorpusFile]:
    """The text files of a corpus, one at a time. Binary files (with a NUL byte) are skipped,
    and so, in a given folder, are links that lead out of it: what they point at is not the
    folder's to read."""
    root = corpus_root(data)
    top = None if data is None else root.resolve()
    for path in list_corpus_files(root, ".py" if data is None else None):
        if top is not None and not _inside(path, top):
            continue
        try:
            content = path.read_bytes()
        except OSError:
            continue  # unreadable (permissions, broken link): not part of the corpus
        if DOC_SEPARATOR not in content and content.strip():
            yield CorpusFile(path.relative_to(root).as_posix(), content)


def _inside(path: Path, top: Path) -> bool:
    try:
        return path.resolve().is_relative_to(top)
    except (OSError, RuntimeError):  # a link loop
        return False


def read_corpus(data: Path | None = None) -> tuple[Path, list[CorpusFile]]:
    """The corpus root and its text files (see iter_corpus)."""
    root = corpus_root(data)
    corpus = list(iter_corpus(data))
    if len(corpus) < 2:
        raise TrainerError("the corpus needs at least two non-empty text files", root)
    return root, corpus


def _path_digest(f: CorpusFile) -> bytes:
    return hashlib.sha256(f.path.encode("utf-8")).digest()


def split_corpus(corpus: list[CorpusFile]) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """Train and validation files; a small corpus still gets one file on each side."""
    val = [f for f in corpus if f.split == "val"]
    train = [f for f in corpus if f.split == "train"]
    # Too few files for the percentage to land on both sides: move the file with the smallest
    # path hash across, which is as deterministic as the rule itself.
    if not val:
        val = [min(train, key=_path_digest)]
        train.remove(val[0])
    elif not train:
        train = [min(val, key=_path_digest)]
        val.remove(train[0])
    return train, val


def corpus_hash(corpus: Iterable[CorpusFile]) -> str:
    """16 hex digits naming the corpus content, its split rule and this file's version."""
    h = hashlib.sha256(f"claimledger-trainer-data v{PREPARE_VERSION} val{VAL_PERCENT}\n".encode())
    for f in corpus:
        h.update(f"{f.path}\0{hashlib.sha256(f.data).hexdigest()}\n".encode())
    return h.hexdigest()[:16]


def _build_cache(directory: Path, root: Path, corpus: list[CorpusFile], digest: str) -> None:
    train, val = split_corpus(corpus)
    train_bytes = DOC_SEPARATOR.join(f.data for f in train)
    val_bytes = DOC_SEPARATOR.join(f.data for f in val)
    meta = {
        "corpus_hash": digest,
        "corpus_root": str(root),
        "files": len(corpus),
        "train_files": len(train),
        "val_files": len(val),
        "train_bytes": len(train_bytes),
        "val_bytes": len(val_bytes),
        "prepare_version": PREPARE_VERSION,
    }
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / "train.bin", train_bytes)
    write_atomic(directory / "val.bin", val_bytes)
    # meta.json last: its presence marks a complete cache.
    write_atomic(directory / "meta.json", json.dumps(meta, indent=2).encode() + b"\n")


def prepare_data(data: Path | None, cache_dir: Path) -> PreparedData:
    """Read the corpus, prepare its cache once (locked, atomic) and load both splits."""
    import torch

    root, corpus = read_corpus(data)
    digest = corpus_hash(corpus)
    directory = Path(cache_dir) / DATA_SUBDIR / digest
    reused = (directory / "meta.json").is_file()
    if not reused:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(directory) + ".lock"):
            reused = (directory / "meta.json").is_file()  # another run may have just built it
            if not reused:
                _build_cache(directory, root, corpus, digest)
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))

    def load(name: str) -> torch.Tensor:
        return torch.frombuffer(bytearray((directory / name).read_bytes()), dtype=torch.uint8)

    return PreparedData(load("train.bin"), load("val.bin"), digest, meta, directory, reused)


def eval_windows(val: torch.Tensor) -> torch.Tensor:
    """The fixed evaluation windows, (n, EVAL_CONTEXT + 1) bytes, evenly spread, disjoint."""
    import torch

    span = EVAL_CONTEXT + 1
    count = min(EVAL_BYTES // EVAL_CONTEXT, len(val) // span)
    if count < 1:
        raise TrainerError(f"the validation split has {len(val)} bytes, fewer than {span}")
    stride = len(val) // count  # >= span, so windows never overlap
    starts = torch.arange(count) * stride
    return val[starts[:, None] + torch.arange(span)]


def evaluate_bpb(
    logits_fn: Callable[[torch.Tensor], torch.Tensor], val: torch.Tensor, device: Any
) -> float:
    """Validation bits per byte of a model given as `logits_fn(bytes (B, T)) -> (B, T, 256)`."""
    import torch
    import torch.nn.functional as F

    windows = eval_windows(val)
    total_nats = 0.0
    with torch.no_grad():
        for start in range(0, len(windows), EVAL_BATCH):
            batch = windows[start : start + EVAL_BATCH].to(device=device, dtype=torch.long)
            logits = logits_fn(batch[:, :-1]).float()
            loss = F.cross_entropy(
                logits.reshape(-1, VOCAB_SIZE), batch[:, 1:].reshape(-1), reduction="sum"
            )
            total_nats += loss.item()
    return total_nats / (math.log(2) * windows.shape[0] * EVAL_CONTEXT)


# Measurement: the name of a device, its peak dense bf16 tensor FLOPS (vendor datasheets) and
# its memory. In PEAK_BF16_FLOPS the first name that is a substring of the device name wins, so
# specific names come first.

PEAK_BF16_FLOPS = [
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("RTX 6000 Ada", 364e12),
    ("A6000", 155e12),
    ("RTX 4090", 165e12),
    ("RTX 3090", 71e12),
    ("MI300X", 1307e12),
]


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name where the system tells it."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    with contextlib.suppress(OSError):  # Linux names the CPU model; platform often does not
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine() or "cpu"


def peak_flops(name: str) -> float | None:
    """Peak dense bf16 FLOPS of a GPU from its name, None when the table does not know it."""
    return next((flops for key, flops in PEAK_BF16_FLOPS if key in name), None)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process on the device in MiB (on a CPU: the peak resident set)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if device.type == "mps":
        return torch.mps.driver_allocated_memory() / 2**20
    import resource  # Unix only, like the CPU figure it gives

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a new allocation on the device, None when it cannot be known."""
    import torch

    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type == "cpu":
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None
