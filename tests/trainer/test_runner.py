"""The subprocess runner: every way a training can end comes back as a result with a reason."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claimledger.errors import TrainerError
from claimledger.trainer import TrainerOptions, TrainerResult, run_trainer
from claimledger.trainer import runner as runner_module
from tests.trainer.conftest import TINY

TINY_OVERRIDES = dict(setting.split("=") for setting in TINY)


def tiny_run(
    corpus: Path, cache: Path, timeout: float | None = 120, **overrides: str
) -> TrainerResult:
    options = TrainerOptions(
        token_budget=4_000,
        overrides={**TINY_OVERRIDES, **overrides},
        data=corpus,
        device="cpu",
        threads=1,
    )
    return run_trainer(options, cache, timeout=timeout)


@pytest.mark.slow
def test_finished_run_returns_its_summary_and_streams_its_output(
    corpus: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    options = TrainerOptions(
        token_budget=4_000, overrides=TINY_OVERRIDES, data=corpus, device="cpu", threads=1, seed=2
    )
    result = run_trainer(options, tmp_path / "cache", on_line=lines.append)
    assert result.ok and result.returncode == 0, result.stderr_tail
    assert result.val_bpb == result.summary["val_bpb"] and result.val_bpb < 8.0
    assert result.summary["seed"] == 2 and result.summary["config"]["width"] == 32
    assert "status: ok" in lines and "val_bpb: " in result.stdout_tail
    assert not list((tmp_path / "cache").glob("trainer-run-*"))  # the temporary folder is gone
    assert result.to_dict()["summary"] == result.summary


@pytest.mark.slow
def test_injected_nan_is_a_crash_with_its_reason(corpus: Path, tmp_path: Path) -> None:
    result = tiny_run(corpus, tmp_path, inject_nan_at_step="3")
    assert result.status == "crash" and result.crash_kind == "nan"
    assert "loss is nan at step 3" in result.crash_reason
    assert result.summary["crash_reason"] == result.crash_reason and result.val_bpb is None
    assert result.returncode == 1


@pytest.mark.slow
def test_impossible_memory_request_is_an_oom_crash(corpus: Path, tmp_path: Path) -> None:
    result = tiny_run(corpus, tmp_path, width="1000000", n_head="1")
    assert result.crash_kind == "oom" and result.crash_reason.startswith("oom: ")
    assert "GiB" in result.crash_reason and result.summary["status"] == "crash"


@pytest.mark.slow
def test_timeout_is_a_crash_with_reason_timeout(corpus: Path, tmp_path: Path) -> None:
    options = TrainerOptions(
        time_budget=600, overrides=TINY_OVERRIDES, data=corpus, device="cpu", threads=1
    )
    # Long enough for torch to import and take a few steps on a loaded 2-core machine.
    result = run_trainer(options, tmp_path, timeout=12)
    assert result.crash_kind == "timeout" and result.crash_reason.startswith("timeout")
    assert result.summary["num_steps"] > 0 and result.duration < 45


def test_child_that_ignores_its_limit_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    )
    monkeypatch.setattr(runner_module, "TIMEOUT_GRACE", 0.5)
    monkeypatch.setattr(runner_module, "TERM_GRACE", 0.5)
    result = run_trainer(TrainerOptions(script=script), tmp_path, timeout=0.5)
    assert result.crash_kind == "timeout" and result.duration < 10
    assert result.summary == {}


def test_process_that_dies_without_a_summary_is_a_crash(tmp_path: Path) -> None:
    script = tmp_path / "dies.py"
    script.write_text(
        "import os, signal, sys\nprint('about to die', file=sys.stderr, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = run_trainer(TrainerOptions(script=script), tmp_path)
    assert result.crash_kind == "killed" and "SIGKILL" in result.crash_reason
    assert "about to die" in result.crash_reason and result.returncode == -9
    script.write_text("raise SystemExit(3)\n")
    result = run_trainer(TrainerOptions(script=script), tmp_path)
    assert result.crash_kind == "error" and "code 3" in result.crash_reason


def test_options_become_train_py_arguments() -> None:
    options = TrainerOptions(
        time_budget=30, seed=4, overrides={"qk_norm": False, "lr": 0.01}, compile=True
    )
    args = options.args()
    assert args[:4] == ["--seed", "4", "--device", "auto"]
    assert args[4:6] == ["--time-budget", "30.0"] and "--compile" in args
    assert "qk_norm=false" in args and "lr=0.01" in args


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"time_budget": 10, "token_budget": 100}, "not both"),
        ({"token_budget": 0}, "positive"),
        ({"device": "tpu"}, "device must be"),
        ({"script": Path("/nonexistent/train.py")}, "not found"),
    ],
)
def test_invalid_options_raise(kwargs: dict, problem: str) -> None:
    with pytest.raises(TrainerError, match=problem):
        TrainerOptions(**kwargs)


CALLER = """
import sys
from pathlib import Path
from claimledger.trainer import TrainerOptions, run_trainer

def on_line(line):
    if line.startswith("step"):
        Path(sys.argv[3]).touch()

overrides = dict(s.split("=") for s in sys.argv[4:])
options = TrainerOptions(time_budget=60, overrides=overrides, data=Path(sys.argv[1]), threads=1)
run_trainer(options, Path(sys.argv[2]), timeout=90, on_line=on_line)  # no long orphan if broken
"""


@pytest.mark.slow
def test_training_stops_when_its_caller_is_killed(corpus: Path, tmp_path: Path) -> None:
    marker, cache = tmp_path / "started", tmp_path / "cache"
    caller = subprocess.Popen(
        [sys.executable, "-c", CALLER, str(corpus), str(cache), str(marker), *TINY]
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    caller.kill()  # SIGKILL: the runner gets no chance to stop its child
    caller.wait()
    summaries = []
    while not summaries and time.monotonic() < deadline:
        summaries = list(cache.glob("trainer-run-*/summary.json"))
        time.sleep(0.2)
    assert summaries, "the orphaned training kept running"
    summary = json.loads(summaries[0].read_text())
    assert summary["crash_kind"] == "killed" and "parent process" in summary["crash_reason"]
