"""Run the bundled trainer in a subprocess, so that a crash never takes the caller down.

`run_trainer` starts `python -m claimledger.trainer.train` (or a given train.py) with the
interpreter running claimledger, streams its output, enforces a hard wall-clock limit and reads
the summary JSON the trainer writes. Whatever happens to the child (NaN, out of memory, timeout,
a segfault, SIGKILL from the kernel) the caller gets a TrainerResult with a status and a reason;
only invalid options (a TrainerError), the caller's own Ctrl-C and the caller's time limit
(TimeLimitError, see claimledger.deadline; the child is stopped first) propagate.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from claimledger import deadline
from claimledger.errors import TrainerError

TRAIN_MODULE = "claimledger.trainer.train"
DEVICES = ("auto", "cpu", "cuda", "mps")
TIMEOUT_GRACE = 15.0  # seconds the child gets past its own --timeout before we stop it
TERM_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
TAIL_LINES = 40  # lines of stdout and stderr kept in a result
POLL_SECONDS = 0.5  # how often a wait for the child looks at the caller's time limit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainerOptions:
    """The trainer's own options: budget, seed, hyperparameter overrides, data and device."""

    time_budget: float | None = None  # training seconds; the trainer's default (60) if neither
    token_budget: int | None = None  # training tokens; bit-for-bit reproducible on CPU
    seed: int = 0
    overrides: Mapping[str, Any] = field(default_factory=dict)  # --set key=value
    data: Path | None = None  # folder of text files; None = the Python standard library
    device: str = "auto"
    compile: bool = False
    threads: int | None = None  # CPU threads; None = torch's default (one per core)
    peak_flops: float | None = None  # device peak for MFU when the table lacks it
    script: Path | None = None  # an edited train.py to run instead of the bundled one

    def __post_init__(self) -> None:
        if self.time_budget is not None and self.token_budget is not None:
            raise TrainerError("give a time budget or a token budget, not both")
        if (self.time_budget is not None and self.time_budget <= 0) or (
            self.token_budget is not None and self.token_budget <= 0
        ):
            raise TrainerError("budgets must be positive")
        if self.device not in DEVICES:
            raise TrainerError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.script is not None and not Path(self.script).is_file():
            raise TrainerError("training script not found", self.script)

    def args(self) -> list[str]:
        """The command-line arguments of train.py for these options."""
        args = ["--seed", str(self.seed), "--device", self.device]
        if self.time_budget is not None:
            args += ["--time-budget", repr(float(self.time_budget))]
        if self.token_budget is not None:
            args += ["--token-budget", str(int(self.token_budget))]
        for key, value in self.overrides.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["--set", f"{key}={text}"]
        if self.data is not None:
            args += ["--data", str(self.data)]
        if self.compile:
            args.append("--compile")
        if self.threads is not None:
            args += ["--threads", str(self.threads)]
        if self.peak_flops is not None:
            args += ["--peak-flops", repr(float(self.peak_flops))]
        return args


@dataclass
class TrainerResult:
    """What one trainer process did: status, reason, its summary and the tail of its output."""

    status: str  # "ok" or "crash"
    crash_kind: str | None  # nan, exploding_loss, oom, timeout, config, killed, error, ...
    crash_reason: str | None
    summary: dict[str, Any]  # the trainer's summary JSON; {} when the process left none
    returncode: int | None
    duration: float  # wall-clock seconds of the whole subprocess
    command: list[str]
    stdout_tail: str = ""
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        """True when the run finished its budget and was evaluated."""
        return self.status == "ok"

    @property
    def val_bpb(self) -> float | None:
        """The run's validation bits per byte, None for a crash."""
        return self.summary.get("val_bpb") if self.ok else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the result."""
        return {
            "status": self.status,
            "crash_kind": self.crash_kind,
            "crash_reason": self.crash_reason,
            "summary": self.summary,
            "returncode": self.returncode,
            "duration": self.duration,
            "command": self.command,
            "stdout_tail": self.stdout_tail,
            "stderr_tail": self.stderr_tail,
        }


def _child_env() -> dict[str, str]:
    # The child must import this very claimledger, even when it is not installed.
    package_parent = str(Path(__file__).resolve().parents[2])
    path = [package_parent, *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1"}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py: shared CPUs
    return env


def _drain(
    stream: IO[str], tail: deque[str], on_line: Callable[[str], None] | None = None
) -> threading.Thread:
    """Read a pipe to its end in a thread, keeping the last lines (a full pipe blocks the child)."""

    def read() -> None:
        for line in stream:
            tail.append(line)
            if on_line is not None:
                try:
                    on_line(line.rstrip("\n"))
                except Exception:  # a faulty callback must not stop the draining
                    log.exception("trainer output callback failed")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group (it writes its summary), then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait(proc: subprocess.Popen[str], timeout: float | None) -> None:
    """proc.wait(timeout), which also raises TimeLimitError once the caller's time limit
    (claimledger.deadline) passes: the caller is no longer waiting for this run."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        deadline.check()
        left = None if end is None else end - time.monotonic()
        try:
            proc.wait(timeout=POLL_SECONDS if left is None else max(0.0, min(left, POLL_SECONDS)))
            return
        except subprocess.TimeoutExpired:
            if left is not None and left <= POLL_SECONDS:
                raise


def _read_summary(path: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def _exit_reason(returncode: int, stderr_tail: str) -> tuple[str, str]:
    """The crash kind and reason of a process that left no summary."""
    last = next((ln for ln in reversed(stderr_tail.splitlines()) if ln.strip()), "")
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else ""
        hint = " (the system may have run out of memory)" if name == "SIGKILL" else ""
        reason = f"killed: the trainer died from signal {name or -returncode}{hint}"
        kind = "killed"
    else:
        reason, kind = f"error: the trainer exited with code {returncode} and no summary", "error"
    return kind, reason + (f"; stderr: {last.strip()[:300]}" if last else "")


def _result(
    proc: subprocess.Popen[str],
    summary: dict[str, Any] | None,
    timed_out: float | None,
    tails: tuple[deque[str], deque[str]],
    start: float,
    command: list[str],
) -> TrainerResult:
    returncode = proc.returncode
    stdout_tail, stderr_tail = ("".join(t) for t in tails)
    summary = summary or {}
    status = summary.get("status")
    if timed_out is not None:
        kind, reason = "timeout", f"timeout: stopped after the {timed_out:g} s limit"
    elif status == "ok":  # finished and evaluated, even if the interpreter then died
        kind, reason = None, None
    elif status == "crash":
        kind, reason = summary.get("crash_kind") or "error", summary.get("crash_reason") or ""
    else:
        kind, reason = _exit_reason(returncode, stderr_tail)
    if kind is not None and summary:
        summary.update(status="crash", crash_kind=kind, crash_reason=reason)
    return TrainerResult(
        status="ok" if kind is None else "crash",
        crash_kind=kind,
        crash_reason=reason,
        summary=summary,
        returncode=returncode,
        duration=round(time.monotonic() - start, 3),
        command=command,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
    )


def run_trainer(
    options: TrainerOptions,
    cache_dir: Path,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
) -> TrainerResult:
    """Train in a subprocess and return its result; a crash of any kind is a result, not an error.

    `timeout` is a hard wall-clock limit in seconds for the whole run (start-up, data
    preparation, training, evaluation); `on_line` receives each line the trainer prints.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    entry = [str(options.script)] if options.script else ["-m", TRAIN_MODULE]
    with tempfile.TemporaryDirectory(prefix="trainer-run-", dir=cache_dir) as tmp:
        summary_path = Path(tmp) / "summary.json"
        command = [sys.executable, *entry, *options.args(), "--cache-dir", str(cache_dir)]
        command += ["--summary-json", str(summary_path), "--parent-pid", str(os.getpid())]
        if timeout is not None:
            command += ["--timeout", repr(float(timeout))]
        start = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=_child_env(),
            start_new_session=True,  # its own process group: we can stop compile workers too
        )
        tails: tuple[deque[str], deque[str]] = (deque(maxlen=TAIL_LINES), deque(maxlen=TAIL_LINES))
        assert proc.stdout is not None and proc.stderr is not None  # both are pipes
        readers = [_drain(proc.stdout, tails[0], on_line), _drain(proc.stderr, tails[1])]
        timed_out = None
        try:
            _wait(proc, None if timeout is None else timeout + TIMEOUT_GRACE)
        except subprocess.TimeoutExpired:
            timed_out = timeout
            _stop(proc)
        except BaseException:  # Ctrl-C, the caller's time limit: leave no orphan training
            _stop(proc)
            raise
        for reader in readers:
            reader.join(timeout=TERM_GRACE)
        return _result(proc, _read_summary(summary_path), timed_out, tails, start, command)
