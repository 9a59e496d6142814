"""The one editable training file: a small GPT on bytes, trained in a fixed budget.

Agents edit this file (or pass `--set key=value`); the data and the metric live in
`prepare.py`, which they never edit. Read it top to bottom: hyperparameters, model, optimizers,
schedule, device and budget helpers, then the run itself in `train()`.

    python -m claimledger.trainer.train --time-budget 60
    python -m claimledger.trainer.train --token-budget 2000000 --seed 1 --set muon_lr=0.04
    python -m claimledger.trainer.train --device cuda --compile --time-budget 300 \\
        --set depth=10 --set width=640 --set n_head=5 --set seq_len=1024 --set batch_size=64 \\
        --set muon_lr=0.02 --set embed_lr=0.01

The run ends with `key: value` lines (val_bpb, training_seconds, ...) and, with
`--summary-json PATH`, the same as JSON with the resolved config. A failed run (NaN or exploding
loss, out of memory, timeout, bad config) still ends with a summary: status `crash`, a
`crash_kind` and a `crash_reason`, and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# OpenMP threads that spin at barriers collapse (5x slower) when another process holds a core,
# as on a shared machine; sleeping threads cost nothing measurable. Must precede `import torch`.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
import torch.nn as nn
import torch.nn.functional as F

from claimledger.trainer.prepare import (
    EVAL_CONTEXT,
    VOCAB_SIZE,
    PreparedData,
    available_memory,
    device_name,
    eval_windows,
    evaluate_bpb,
    peak_flops,
    peak_memory_mb,
    prepare_data,
)

# ---------------------------------------------------------------------------------------------
# Hyperparameters: tuned for 2 CPU cores and a 60 s budget (docs/trainer.md: "Defaults and tuning").
# Change them here or per run with `--set key=value`; the summary records the resolved values.


@dataclasses.dataclass
class Hyperparameters:
    depth: int = 2  # transformer blocks
    width: int = 64  # model dimension
    n_head: int = 2  # attention heads (head size = width / n_head, must be even)
    seq_len: int = 256  # training context in bytes
    batch_size: int = 16  # sequences per step
    mlp_ratio: int = 4  # MLP hidden size = mlp_ratio * width
    qk_norm: bool = True  # RMS-normalise queries and keys
    logit_softcap: float = 15.0  # logits = cap * tanh(logits / cap); 0 disables
    tie_embeddings: bool = False  # share the input embedding and the output head
    optimizer: str = "muon"  # muon (Muon for hidden matrices, AdamW for the rest) | adamw
    lr: float = 0.01  # AdamW learning rate of the hidden matrices (optimizer=adamw)
    embed_lr: float = 0.03  # AdamW learning rate of the embedding and the output head
    muon_lr: float = 0.03  # Muon learning rate of the hidden matrices (optimizer=muon)
    muon_momentum: float = 0.95
    weight_decay: float = 0.1  # decoupled, on hidden matrices only
    beta1: float = 0.9  # AdamW
    beta2: float = 0.95  # AdamW
    grad_clip: float = 1.0  # max global gradient norm; 0 disables
    warmup_frac: float = 0.05  # share of the budget spent ramping the learning rate up
    warmdown_frac: float = 0.3  # share of the budget spent decaying it linearly to zero
    inject_nan_at_step: int = 0  # test hook: make the loss NaN at this step (0 = never)


EXPLODE_FACTOR = 3.0  # a loss above this multiple of the first step's loss ends the run
LOG_EVERY_FRAC = 0.05  # print a progress line each time this share of the budget passes
DEFAULT_TIME_BUDGET = 60.0  # seconds of training when neither budget is given

# ---------------------------------------------------------------------------------------------
# Model: a GPT with RMSNorm (no learned gains), rotary embeddings, QK-norm, a ReLU-squared MLP
# and soft-capped logits. Output projections and the head start at zero, so an untrained model
# predicts the uniform distribution: exactly 8 bits per byte.


def norm(x: torch.Tensor) -> torch.Tensor:
    return F.rms_norm(x, (x.size(-1),))


def rotary_tables(length: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, ...]:
    freqs = base ** -(torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(length, dtype=torch.float32), freqs)
    return angles.cos()[None, :, None, :], angles.sin()[None, :, None, :]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1).type_as(x)


class Attention(nn.Module):
    def __init__(self, hp: Hyperparameters) -> None:
        super().__init__()
        self.n_head, self.qk_norm = hp.n_head, hp.qk_norm
        self.qkv = nn.Linear(hp.width, 3 * hp.width, bias=False)
        self.proj = nn.Linear(hp.width, hp.width, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).unbind(dim=2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if self.qk_norm:
            q, k = norm(q), norm(k)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, T, head size)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, hp: Hyperparameters) -> None:
        super().__init__()
        self.fc = nn.Linear(hp.width, hp.mlp_ratio * hp.width, bias=False)
        self.proj = nn.Linear(hp.mlp_ratio * hp.width, hp.width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.relu(self.fc(x)).square())


class Block(nn.Module):
    def __init__(self, hp: Hyperparameters) -> None:
        super().__init__()
        self.attn, self.mlp = Attention(hp), MLP(hp)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(norm(x), cos, sin)
        return x + self.mlp(norm(x))


class GPT(nn.Module):
    def __init__(self, hp: Hyperparameters) -> None:
        super().__init__()
        self.hp = hp
        self.embed = nn.Embedding(VOCAB_SIZE, hp.width)
        self.blocks = nn.ModuleList(Block(hp) for _ in range(hp.depth))
        self.head = nn.Linear(hp.width, VOCAB_SIZE, bias=False)
        if hp.tie_embeddings:
            self.head.weight = self.embed.weight
        cos, sin = rotary_tables(max(hp.seq_len, EVAL_CONTEXT), hp.width // hp.n_head)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        bound = 3**0.5 / self.hp.width**0.5  # uniform with std 1/sqrt(width)
        for block in self.blocks:
            block.attn.qkv.weight.uniform_(-bound, bound)
            block.mlp.fc.weight.uniform_(-bound, bound)
            block.attn.proj.weight.zero_()
            block.mlp.proj.weight.zero_()
        if self.hp.tie_embeddings:  # one matrix for both ends: small, so logits start small
            self.embed.weight.normal_(0.0, 1.0 / self.hp.width**0.5)
        else:
            self.embed.weight.normal_(0.0, 1.0)
            self.head.weight.zero_()

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, 256) for byte ids (B, T); the mean loss instead when given targets."""
        T = idx.size(1)
        cos, sin = self.cos[:, :T], self.sin[:, :T]
        x = norm(self.embed(idx))
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.head(norm(x)).float()
        if self.hp.logit_softcap > 0:
            cap = self.hp.logit_softcap
            logits = cap * torch.tanh(logits / cap)
        if targets is None:
            return logits
        return F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), targets.reshape(-1))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self) -> float:
        """Training FLOPs per token: 6 per matmul weight, plus attention (nanoGPT's estimate)."""
        matmul_params = self.num_params() - (
            0 if self.hp.tie_embeddings else self.embed.weight.numel()
        )
        return 6 * matmul_params + 12 * self.hp.depth * self.hp.width * self.hp.seq_len


# ---------------------------------------------------------------------------------------------
# Optimizers: AdamW everywhere, or Muon for the hidden matrices (orthogonalised momentum, as in
# modded-nanogpt and nanochat) with AdamW for the embedding and the head.


def newton_schulz(g: torch.Tensor, steps: int = 5, bf16: bool | None = None) -> torch.Tensor:
    """An approximately orthogonal matrix with g's singular vectors (quintic iteration).

    In bf16 on GPUs (fast there), in fp32 on CPUs (bf16 is slow there); `bf16` forces one."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.bfloat16() if (g.is_cuda if bf16 is None else bf16) else g.float()
    transposed = x.size(0) > x.size(1)
    if transposed:
        x = x.mT
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        A = x @ x.mT
        x = a * x + (b * A + c * A @ A) @ x
    return (x.mT if transposed else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float, wd: float) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=wd))

    @torch.no_grad()
    def step(self) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("momentum", torch.zeros_like(p))
                buf.lerp_(p.grad, 1 - group["momentum"])
                update = newton_schulz(p.grad.lerp(buf, group["momentum"]))  # Nesterov
                scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * scale)


def build_optimizers(model: GPT, hp: Hyperparameters) -> list[torch.optim.Optimizer]:
    hidden = [p for p in model.blocks.parameters() if p.ndim == 2]
    ends = list({id(p): p for p in (model.embed.weight, model.head.weight)}.values())  # tied: one
    groups = [dict(params=ends, lr=hp.embed_lr, weight_decay=0.0)]
    if hp.optimizer == "adamw":
        groups.append(dict(params=hidden, lr=hp.lr, weight_decay=hp.weight_decay))
    optimizers: list[torch.optim.Optimizer] = [
        torch.optim.AdamW(groups, betas=(hp.beta1, hp.beta2), eps=1e-8)
    ]
    if hp.optimizer == "muon":
        optimizers.append(Muon(hidden, hp.muon_lr, hp.muon_momentum, hp.weight_decay))
    for opt in optimizers:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]  # the schedule scales from here
    return optimizers


# ---------------------------------------------------------------------------------------------
# Schedule: linear warmup, constant, linear warmdown to zero, by share of the budget used.


def lr_multiplier(progress: float, hp: Hyperparameters) -> float:
    if progress < hp.warmup_frac:
        return progress / hp.warmup_frac
    if progress > 1 - hp.warmdown_frac:
        return max(0.0, (1 - progress) / hp.warmdown_frac)
    return 1.0


# ---------------------------------------------------------------------------------------------
# Device: CUDA, then Apple's MPS, then the CPU. (How devices are measured, their peak FLOPS and
# memory, is fixed in prepare.py.)


def pick_device(choice: str) -> torch.device:
    if choice == "auto":
        if torch.cuda.is_available():
            choice = "cuda"
        elif torch.backends.mps.is_available():
            choice = "mps"
        else:
            choice = "cpu"
    return torch.device(choice)


def setup_device(device: torch.device, threads: int) -> None:
    """CPU: a fixed thread count and deterministic kernels (bit-for-bit per seed and thread
    count); CUDA: TF32 matmuls."""
    if device.type != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = True
        return
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def use_bf16(device: torch.device) -> bool:
    """bf16 autocast where it is fast: a CUDA GPU that supports it (on CPUs it is slower)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def precision(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of the forward passes: bf16 on the device, or none."""
    return torch.autocast(device.type, torch.bfloat16) if bf16 else contextlib.nullcontext()


def mfu_percent(
    flops_per_token: float, tokens_per_second: float | None, peak: float | None
) -> float | None:
    """Model FLOPS utilisation: the share of the device's peak FLOPS the training used."""
    if not peak or not tokens_per_second:
        return None
    return 100 * flops_per_token * tokens_per_second / peak


def device_peak(args: argparse.Namespace, device: torch.device, name: str) -> float | None:
    """The peak FLOPS for the MFU: --peak-flops, else the table's for a known GPU."""
    return args.peak_flops or (peak_flops(name) if device.type == "cuda" else None)


def count_params(hp: Hyperparameters) -> int:
    ends = VOCAB_SIZE * hp.width * (1 if hp.tie_embeddings else 2)
    return ends + hp.depth * (4 + 2 * hp.mlp_ratio) * hp.width**2


# ---------------------------------------------------------------------------------------------
# Failures: every way a run can fail becomes a Crash, and every Crash ends in a summary.


class Crash(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` strings typed like the defaults in Hyperparameters."""
    defaults = dataclasses.asdict(Hyperparameters())
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in defaults:
            known = ", ".join(defaults)
            raise Crash("config", f"config: unknown hyperparameter {pair!r} (known: {known})")
        overrides[key] = coerce(key, raw.strip(), defaults[key])
    return overrides


def coerce(key: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            return value[raw.lower()]
        if isinstance(default, int):
            number = float(raw)
            if not number.is_integer():
                raise ValueError
            return int(number)
        return type(default)(raw)
    except (KeyError, ValueError):
        kind = type(default).__name__
        raise Crash("config", f"config: {key}={raw!r} is not a valid {kind}") from None


def check_config(hp: Hyperparameters) -> None:
    problems = []
    if hp.depth < 1 or hp.width < 1 or hp.n_head < 1 or hp.seq_len < 1 or hp.batch_size < 1:
        problems.append("depth, width, n_head, seq_len and batch_size must be positive")
    elif hp.width % hp.n_head or (hp.width // hp.n_head) % 2:
        problems.append(f"width {hp.width} / n_head {hp.n_head} must be an even whole number")
    if hp.optimizer not in ("adamw", "muon"):
        problems.append(f"optimizer must be adamw or muon, not {hp.optimizer!r}")
    if min(hp.warmup_frac, hp.warmdown_frac) < 0 or hp.warmup_frac + hp.warmdown_frac > 1:
        problems.append("warmup_frac and warmdown_frac must be >= 0 and sum to at most 1")
    if problems:
        raise Crash("config", "config: " + "; ".join(problems))


def check_memory(hp: Hyperparameters, device: torch.device) -> None:
    """Fail fast when weights, gradients and AdamW state alone (16 bytes a parameter) can't fit."""
    needed, available = 16 * count_params(hp), available_memory(device)
    if available is not None and needed > available:
        raise Crash(
            "oom",
            f"oom: {count_params(hp):,} parameters need {needed / 2**30:.1f} GiB for weights, "
            f"gradients and optimizer state; {available / 2**30:.1f} GiB available on {device}",
        )


def crash_from_exception(exc: BaseException) -> Crash:
    if isinstance(exc, Crash):
        return exc
    message = (str(exc).strip().splitlines() or [""])[0][:300]
    oom_words = ("out of memory", "can't allocate memory", "not enough memory")
    if isinstance(exc, torch.OutOfMemoryError | MemoryError) or any(
        w in message.lower() for w in oom_words
    ):
        return Crash("oom", f"oom: {type(exc).__name__}: {message}")
    if isinstance(exc, KeyboardInterrupt):
        return Crash("interrupted", "interrupted: KeyboardInterrupt")
    return Crash("error", f"error: {type(exc).__name__}: {message}")


@contextlib.contextmanager
def hard_limits(timeout: float | None) -> Iterator[None]:
    """Turn --timeout (an interval timer) and SIGTERM into Crash exceptions, then restore."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Crash("timeout", f"timeout: the run exceeded --timeout {timeout:g} s")

    def on_term(signum: int, frame: Any) -> None:
        raise Crash("killed", f"killed: received {signal.Signals(signum).name}")

    timer = bool(timeout) and hasattr(signal, "setitimer")  # else only the runner enforces it
    previous = {signal.SIGTERM: signal.getsignal(signal.SIGTERM)}
    signal.signal(signal.SIGTERM, on_term)
    if timer:
        previous[signal.SIGALRM] = signal.getsignal(signal.SIGALRM)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------------------------------------
# The run: setup, then one loop (schedule, step, checks, log), then evaluation.


def batches(data: torch.Tensor, hp: Hyperparameters, seed: int) -> Iterator[torch.Tensor]:
    """Random windows of seq_len + 1 bytes, from a generator of its own (same on any device)."""
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.arange(hp.seq_len + 1)
    while True:
        starts = torch.randint(len(data) - hp.seq_len - 1, (hp.batch_size,), generator=generator)
        yield data[starts[:, None] + offsets].long()


def train(args: argparse.Namespace, hp: Hyperparameters, summary: dict[str, Any]) -> None:
    """Train in the budget, evaluate, and fill `summary` as it goes (so a crash keeps it).

    One long function on purpose: the run reads top to bottom, phase by phase, as in nanoGPT.
    """
    # Setup: device, determinism, data, model, optimizers.
    device = pick_device(args.device)
    summary.update(device=str(device), device_name=device_name(device))
    torch.manual_seed(args.seed)
    setup_device(device, args.threads)
    summary["threads"] = torch.get_num_threads()
    data = prepare_data(args.data, args.cache_dir)
    summary.update(corpus_summary(data))
    if len(data.train) <= hp.seq_len + 1:
        raise Crash("config", f"config: seq_len {hp.seq_len} exceeds the training split")
    check_memory(hp, device)
    model = GPT(hp).to(device)
    summary.update(num_params=model.num_params(), depth=hp.depth)
    model_fn = torch.compile(model) if args.compile else model
    optimizers = build_optimizers(model, hp)
    bf16 = use_bf16(device)
    autocast = precision(device, bf16)
    summary["autocast"] = "bf16" if bf16 else None

    # Budget: the schedule runs on the share of the budget used, in either mode.
    tokens_per_step = hp.batch_size * hp.seq_len
    total_steps = math.ceil(args.token_budget / tokens_per_step) if args.token_budget else None
    untimed_steps = 10 if args.compile else 1  # compile and allocator warmup, as in autoresearch
    stream = batches(data.train, hp, args.seed)
    training_time, timed_tokens, step, next_log = 0.0, 0, 0, 0.0
    first_loss, curve = None, []

    # The loop: schedule, step, checks, log.
    while True:
        if total_steps is not None:
            progress = (step + 0.5) / total_steps if step < total_steps else 1.0
        else:
            progress = training_time / args.time_budget
        if progress >= 1.0:
            break
        multiplier = lr_multiplier(progress, hp)
        set_lr(optimizers, multiplier)

        t0 = time.perf_counter()
        batch = next(stream).to(device, non_blocking=True)
        with autocast:
            loss = model_fn(batch[:, :-1], batch[:, 1:])
        if step + 1 == hp.inject_nan_at_step:
            loss = loss * float("nan")
        loss.backward()
        if hp.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        for opt in optimizers:
            opt.step()
        model.zero_grad(set_to_none=True)
        loss_value = loss.item()  # also waits for the device, so the timing below is true
        dt = time.perf_counter() - t0
        step += 1
        if step > untimed_steps:
            training_time += dt
            timed_tokens += tokens_per_step

        # Checks: stop at the first sign of divergence, or when the caller is gone.
        first_loss = loss_value if first_loss is None else first_loss
        check_loss(loss_value, first_loss, step)
        if args.parent_pid and os.getppid() != args.parent_pid:
            raise Crash("killed", f"killed: the parent process {args.parent_pid} exited")
        summary.update(num_steps=step, total_tokens=step * tokens_per_step)
        summary.update(training_seconds=round(training_time, 3), train_loss=loss_value)

        # Log: a line per LOG_EVERY_FRAC of the budget, and the same points in the summary.
        if progress >= next_log:
            next_log += LOG_EVERY_FRAC
            curve.append([step, step * tokens_per_step, round(loss_value, 5)])
            tok_s = timed_tokens / training_time if training_time else 0.0
            say(
                f"step {step:05d} | {100 * progress:5.1f}% | loss {loss_value:.4f} | "
                f"lr x{multiplier:.2f} | {tok_s:,.0f} tok/s | {training_time:.1f} s"
            )
    summary["loss_curve"] = curve

    # Evaluation: the fixed metric of prepare.py, outside the training time.
    model.eval()
    with autocast:
        summary["val_bpb"] = evaluate_bpb(model_fn, data.val, device)
    tokens_per_second = timed_tokens / training_time if training_time else None
    summary["tokens_per_second"] = round(tokens_per_second, 1) if tokens_per_second else None
    peak = device_peak(args, device, summary["device_name"])
    summary["mfu_percent"] = mfu_percent(model.flops_per_token(), tokens_per_second, peak)


def set_lr(optimizers: list[torch.optim.Optimizer], multiplier: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * multiplier


def check_loss(loss: float, first_loss: float, step: int) -> None:
    if not math.isfinite(loss):
        raise Crash("nan", f"nan: loss is {loss} at step {step}")
    if loss > EXPLODE_FACTOR * first_loss:
        raise Crash(
            "exploding_loss",
            f"exploding_loss: loss {loss:.3f} at step {step} is over "
            f"{EXPLODE_FACTOR:g}x the first loss {first_loss:.3f}",
        )


def corpus_summary(data: PreparedData) -> dict[str, Any]:
    return {
        "corpus_hash": data.corpus_hash,
        "corpus_root": data.meta["corpus_root"],
        "train_bytes": len(data.train),
        "val_bytes": len(data.val),
        "eval_bytes": eval_windows(data.val).shape[0] * EVAL_CONTEXT,
        "eval_context": EVAL_CONTEXT,
    }


# ---------------------------------------------------------------------------------------------
# Summary: `key: value` lines a script can grep, and the same (and more) as JSON.

SUMMARY_LINES = [
    "val_bpb",
    "training_seconds",
    "total_seconds",
    "peak_memory_mb",
    "mfu_percent",
    "total_tokens",
    "num_steps",
    "num_params",
    "depth",
    "tokens_per_second",
    "status",
    "crash_kind",
    "crash_reason",
]


def new_summary(args: argparse.Namespace) -> dict[str, Any]:
    budget = {"kind": "tokens", "value": args.token_budget}
    if not args.token_budget:
        budget = {"kind": "time", "value": args.time_budget}
    summary: dict[str, Any] = dict.fromkeys(SUMMARY_LINES)
    summary.update(
        status="running",
        seed=args.seed,
        budget=budget,
        config=None,
        overrides=None,
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        train_py_sha256=hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        num_steps=0,
        total_tokens=0,
        training_seconds=0.0,
    )
    return summary


def report(summary: dict[str, Any], path: Path | None) -> None:
    """Write the JSON first (a reader may be gone, the file must not be), then the lines."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    lines = ["---"]
    for key in SUMMARY_LINES:
        value = summary.get(key)
        if isinstance(value, float):
            value = f"{value:.6f}" if key == "val_bpb" else f"{value:.2f}"
        lines.append(f"{key}: {'null' if value is None else value}")
    say("\n".join(lines))


def say(text: str) -> None:
    """Print, ignoring a closed stdout (a caller that died must not turn a run into a crash)."""
    with contextlib.suppress(OSError):
        print(text, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m claimledger.trainer.train",
        description="Train the bundled byte-level GPT in a fixed budget and report val_bpb.",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--time-budget", type=float, metavar="S", help="training seconds (60)")
    budget.add_argument("--token-budget", type=int, metavar="N", help="training tokens (bytes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a hyperparameter"
    )
    parser.add_argument("--data", type=Path, help="folder of text files (default: Python stdlib)")
    parser.add_argument("--cache-dir", type=Path, default=Path(".claimledger"))
    parser.add_argument("--summary-json", type=Path, metavar="PATH")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--timeout", type=float, metavar="S", help="hard wall-clock limit")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    parser.add_argument("--peak-flops", type=float, help="device peak FLOPS for MFU if not known")
    parser.add_argument("--parent-pid", type=int, help="stop when this parent process exits")
    args = parser.parse_args(argv)
    if args.token_budget is None and args.time_budget is None:
        args.time_budget = DEFAULT_TIME_BUDGET
    if (args.time_budget or 1) <= 0 or (args.token_budget or 1) <= 0:
        parser.error("budgets must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one training; 0 when it finished, 1 when it crashed (the summary says why)."""
    start = time.perf_counter()
    args = parse_args(argv)
    summary = new_summary(args)
    try:
        with hard_limits(args.timeout):
            summary["overrides"] = overrides = parse_overrides(args.set)
            hp = Hyperparameters(**overrides)
            summary["config"] = dataclasses.asdict(hp)
            check_config(hp)
            train(args, hp, summary)
            summary["status"] = "ok"
    except BaseException as exc:  # every failure ends in a summary, not a bare traceback
        crash = crash_from_exception(exc)
        if crash.kind == "error":
            traceback.print_exc()
        summary.update(status="crash", crash_kind=crash.kind, crash_reason=crash.reason)
    if summary.get("device"):
        summary["peak_memory_mb"] = round(peak_memory_mb(torch.device(summary["device"])), 1)
    summary["total_seconds"] = round(time.perf_counter() - start, 3)
    report(summary, args.summary_json)
    return 0 if summary["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
