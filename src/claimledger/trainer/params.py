"""The trainer's hyperparameters seen from outside: their defaults and their kb domains.

`trainer_defaults` reads the `Hyperparameters` dataclass of train.py (or of an edited copy)
from its source, so that callers learn the defaults without importing torch. `DOMAIN_OF_PARAM`
routes a changed hyperparameter to the kb domain that claims about it live in.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Any

from claimledger.errors import TrainerError

TRAIN_PY = Path(__file__).with_name("train.py")
DEFAULT_DOMAIN = "optimizer"
DOMAIN_OF_PARAM: dict[str, str] = {
    "lr": "optimizer",
    "embed_lr": "optimizer",
    "muon_lr": "optimizer",
    "muon_momentum": "optimizer",
    "weight_decay": "optimizer",
    "optimizer": "optimizer",
    "batch_size": "optimizer",
    "beta1": "optimizer",
    "beta2": "optimizer",
    "grad_clip": "optimizer",
    "warmup_frac": "schedule",
    "warmdown_frac": "schedule",
    "depth": "architecture",
    "width": "architecture",
    "n_head": "architecture",
    "mlp_ratio": "architecture",
    "seq_len": "architecture",
    "logit_softcap": "architecture",
    "qk_norm": "architecture",
    "tie_embeddings": "architecture",
}


def domain_of(keys: list[str] | tuple[str, ...]) -> str:
    """The kb domain of a change: that of its first key with one, else DEFAULT_DOMAIN."""
    return next((DOMAIN_OF_PARAM[k] for k in keys if k in DOMAIN_OF_PARAM), DEFAULT_DOMAIN)


def trainer_defaults(script: Path | None = None) -> dict[str, Any]:
    """The default hyperparameters of train.py (or an edited copy), read without torch."""
    path = Path(script) if script is not None else TRAIN_PY
    try:
        return dict(_defaults(path.resolve(), path.stat().st_mtime_ns))
    except OSError as exc:
        raise TrainerError(f"cannot read the training script: {exc.strerror}", path) from exc


@lru_cache(maxsize=8)
def _defaults(path: Path, mtime_ns: int) -> tuple[tuple[str, Any], ...]:
    del mtime_ns  # part of the cache key only: an edited file is read again
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Hyperparameters":
            return tuple(_fields(node, path))
    raise TrainerError("no Hyperparameters class in the training script", path)


def _fields(node: ast.ClassDef, path: Path) -> list[tuple[str, Any]]:
    fields = []
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value:
            try:
                fields.append((item.target.id, ast.literal_eval(item.value)))
            except ValueError as exc:
                raise TrainerError(f"default of {item.target.id} is not a literal", path) from exc
    return fields
