"""Platform strings: which runs are comparable (same hardware, same budget).

A platform is `<device>-<hardware>[-<seconds>s][-tok<tokens>][-corpus<hash>]`, for example
`cuda-H100-300s`, `cpu-2core-60s` or `cpu-2core-tok2M`. Every comparison (best run,
leaderboard, effect of a change) happens within one platform. The corpus part names a corpus
other than the trainer's bundled one (the start of its hash): results on different text are
not comparable either.
"""

from __future__ import annotations

import os
import re

from claimledger.errors import RecordError

PLATFORM_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Words in GPU names that say nothing about speed: vendor, brand, memory, form factor.
NOISE_WORDS = frozenset(
    {"nvidia", "geforce", "tesla", "quadro", "amd", "radeon", "apple", "intel", "graphics"}
)
QUALIFIERS = frozenset({"pro", "max", "ultra", "ti", "super", "xt", "xtx", "mini"})
TOKEN_UNITS = ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "K"))
CORPUS_PART = re.compile(r"corpus[0-9a-f]+")
CORPUS_DIGITS = 8


def platform_id(
    device: str,
    device_name: str | None = None,
    budget_seconds: float | None = None,
    token_budget: int | None = None,
) -> str:
    """A platform string from a torch device type, its name and the budget.

    `device` is `cpu`, `cuda` or `mps`. For a GPU the model is taken from its name
    ("NVIDIA H100 80GB HBM3" -> "H100", "NVIDIA GeForce RTX 4090" -> "RTX4090"); for a CPU
    without a name it is the core count ("2core").
    """
    device = _slug(device.lower()) or "cpu"
    hardware = _hardware(device, device_name)
    parts = [device, hardware] if hardware else [device]
    if budget_seconds is not None:
        parts.append(f"{_number(budget_seconds)}s")
    if token_budget is not None:
        parts.append(f"tok{_tokens(token_budget)}")
    return check_platform("-".join(parts))


def with_corpus(platform: str, corpus_hash: str) -> str:
    """The platform of runs on the corpus with this hash: `<platform>-corpus<8 hex digits>`,
    in place of any corpus part the platform already had."""
    parts = [part for part in platform.split("-") if not CORPUS_PART.fullmatch(part)]
    return check_platform("-".join([*parts, f"corpus{corpus_hash[:CORPUS_DIGITS]}"]))


def check_platform(platform: str) -> str:
    """The platform string itself, or RecordError when it cannot name a platform."""
    if not PLATFORM_PATTERN.fullmatch(platform):
        raise RecordError(
            f"invalid platform {platform!r}: letters, digits, '.', '_' and '-' only, "
            "e.g. cuda-H100-300s or cpu-2core-60s"
        )
    return platform


def platform_budget(platform: str) -> tuple[float | None, int | None]:
    """The (seconds, tokens) budget written in a platform string, where it has one."""
    seconds = tokens = None
    for part in platform.split("-")[1:]:
        if match := re.fullmatch(r"(\d+(?:\.\d+)?)s", part):
            seconds = float(match.group(1))
        elif match := re.fullmatch(r"tok(\d+(?:\.\d+)?)([KMG]?)", part):
            scale = dict((unit, size) for size, unit in TOKEN_UNITS).get(match.group(2), 1)
            tokens = round(float(match.group(1)) * scale)
    return seconds, tokens


def _hardware(device: str, device_name: str | None) -> str:
    if device_name is None:
        return f"{os.cpu_count() or 1}core" if device == "cpu" else ""
    words = [w for w in re.split(r"[\s\-_/()]+", device_name) if w]
    words = [w for w in words if w.lower() not in NOISE_WORDS]
    model: list[str] = []
    for word in words:
        # Once the model number is complete, only qualifiers such as Pro or Ti follow.
        if any(c.isdigit() for c in "".join(model)) and word.lower() not in QUALIFIERS:
            break
        model.append(word)
    return _slug("".join(model)) or _slug(device_name)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "", text)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _tokens(count: int) -> str:
    for size, unit in TOKEN_UNITS:
        if count >= size and count % (size // 10) == 0:
            return f"{_number(count / size)}{unit}"
    return str(count)
