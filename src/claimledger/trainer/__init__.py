"""The bundled trainer: a fixed harness (`prepare.py`) and one editable training file (`train.py`).

`run_trainer` runs a training in a subprocess and returns its summary; a crash of any kind
(NaN, out of memory, timeout, a killed process) comes back as a result, never as an exception.
`prepare_data` and `evaluate_bpb` are the harness: the corpus, its split and the metric.
Importing this package does not import torch.
"""

from claimledger.trainer.prepare import PreparedData, evaluate_bpb, prepare_data
from claimledger.trainer.runner import TrainerOptions, TrainerResult, run_trainer

__all__ = [
    "PreparedData",
    "TrainerOptions",
    "TrainerResult",
    "evaluate_bpb",
    "prepare_data",
    "run_trainer",
]
