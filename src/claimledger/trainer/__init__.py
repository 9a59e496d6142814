"""The bundled trainer: a fixed harness (`prepare.py`) and one editable training file (`train.py`).

`run_trainer` runs a training in a subprocess and returns its summary; a crash of any kind
(NaN, out of memory, timeout, a killed process) comes back as a result, never as an exception.
`identify_corpus` names and hashes the corpus of a run (a folder inside the workspace).
`prepare_data` and `evaluate_bpb` are the harness: the corpus, its split and the metric.
`DOMAIN_OF_PARAM` and `trainer_defaults` describe the hyperparameters without importing torch.
Importing this package does not import torch.
"""

from claimledger.trainer.corpus import Corpus, identify_corpus
from claimledger.trainer.params import DOMAIN_OF_PARAM, domain_of, trainer_defaults
from claimledger.trainer.prepare import PreparedData, evaluate_bpb, prepare_data
from claimledger.trainer.runner import TrainerOptions, TrainerResult, run_trainer

__all__ = [
    "DOMAIN_OF_PARAM",
    "Corpus",
    "PreparedData",
    "TrainerOptions",
    "TrainerResult",
    "domain_of",
    "evaluate_bpb",
    "identify_corpus",
    "prepare_data",
    "run_trainer",
    "trainer_defaults",
]
