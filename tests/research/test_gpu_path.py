"""The GPU code path on a CPU: wherever the CUDA path runs the same code as the CPU path, it
runs here. Device choice with a GPU reported, bf16 autocast (on the CPU's autocast), TF32,
the MFU and its printout, and what a Ray task asks for on a cluster with GPUs."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from claimledger.research import RayExecutor
from claimledger.research.executors import Job, task_device, task_resources, task_threads
from claimledger.trainer import TrainerOptions
from claimledger.trainer import train as trainer
from claimledger.trainer.prepare import evaluate_bpb
from tests.trainer.conftest import tiny_args

CPU = torch.device("cpu")


def test_auto_picks_a_reported_gpu_then_mps_then_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert trainer.pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert trainer.pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert trainer.pick_device("auto") == CPU
    assert trainer.pick_device("cuda") == torch.device("cuda")  # asked for, whatever is there


def test_cuda_setup_turns_tf32_on_and_leaves_the_threads() -> None:
    before = torch.backends.cuda.matmul.allow_tf32, torch.get_num_threads()
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        trainer.setup_device(torch.device("cuda"), threads=1)
        assert torch.backends.cuda.matmul.allow_tf32 is True
        assert torch.get_num_threads() == before[1]  # thread count and determinism: CPU only
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before[0]


def test_bf16_is_chosen_only_on_a_gpu_that_supports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert trainer.use_bf16(CPU) is False  # bf16 is slower than fp32 on CPUs
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert trainer.use_bf16(torch.device("cuda")) is True
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert trainer.use_bf16(torch.device("cuda")) is False


def test_the_model_trains_and_evaluates_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    hp = trainer.Hyperparameters(depth=1, width=32, n_head=2, seq_len=32, batch_size=4)
    model = trainer.GPT(hp)
    batch = torch.randint(0, 256, (hp.batch_size, hp.seq_len + 1))
    seen: list[torch.dtype] = []
    model.head.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    with trainer.precision(CPU, bf16=True):
        loss = model(batch[:, :-1], batch[:, 1:])
    assert seen == [torch.bfloat16] and loss.dtype == torch.float32  # bf16 matmuls, fp32 loss
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad.dtype == torch.float32 for p in model.parameters())
    val = torch.randint(0, 256, (40_000,), dtype=torch.uint8)
    with trainer.precision(CPU, bf16=True):
        low = evaluate_bpb(model, val, CPU)
    with trainer.precision(CPU, bf16=False):
        full = evaluate_bpb(model, val, CPU)
    assert low == pytest.approx(full, rel=0.02)  # an untrained model: about 8 bits a byte


def test_newton_schulz_in_bf16_as_on_a_gpu() -> None:
    g = torch.randn(64, 256, generator=torch.Generator().manual_seed(0))
    low, full = trainer.newton_schulz(g, bf16=True), trainer.newton_schulz(g, bf16=False)
    assert low.dtype == torch.float32  # back in the gradient's dtype
    singular = torch.linalg.svdvals(low)
    assert singular.min() > 0.5 and singular.max() < 1.3
    assert (low - full).abs().max() < 0.05


def test_mfu_from_the_peak_and_the_throughput() -> None:
    assert trainer.mfu_percent(6e6, 1000.0, 1e12) == pytest.approx(0.6)
    assert trainer.mfu_percent(6e6, None, 1e12) is None
    assert trainer.mfu_percent(6e6, 1000.0, None) is None
    args = types.SimpleNamespace(peak_flops=None)
    h100 = "NVIDIA H100 80GB HBM3"
    assert trainer.device_peak(args, torch.device("cuda"), h100) == 989e12  # the table's
    assert trainer.device_peak(args, CPU, "AMD EPYC") is None
    args.peak_flops = 2e12
    assert trainer.device_peak(args, CPU, "AMD EPYC") == 2e12  # --peak-flops, any device


# The trainer, in a subprocess, with the GPU's precision decision: bf16 autocast on.
AS_ON_A_GPU = """
import sys
from claimledger.trainer import train
train.use_bf16 = lambda device: True
sys.exit(train.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_run_in_bf16_prints_its_mfu(corpus: Path, tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    args = tiny_args(corpus, tmp_path / "cache", "--peak-flops", "1e12", tokens=4_000)
    command = [sys.executable, "-c", AS_ON_A_GPU, *args, "--summary-json", str(summary_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(summary_path.read_text())
    assert summary["autocast"] == "bf16" and summary["status"] == "ok"
    assert 0 < summary["val_bpb"] < 8.5
    flops = trainer.GPT(trainer.Hyperparameters(**summary["config"])).flops_per_token()
    mfu = 100 * flops * summary["tokens_per_second"] / 1e12
    assert summary["mfu_percent"] == pytest.approx(mfu, rel=1e-3)
    assert f"mfu_percent: {summary['mfu_percent']:.2f}" in done.stdout.splitlines()


def test_a_task_asks_ray_for_one_gpu_where_there_are_gpus() -> None:
    assert task_resources(8, 64) == (8, {"num_gpus": 1, "num_cpus": 1})  # one task per GPU
    assert task_resources(4, 32, 2, 4) == (2, {"num_gpus": 1, "num_cpus": 4})
    assert task_resources(0, 8) == (8, {"num_cpus": 1})
    assert task_resources(0, 8, 2) == (2, {"num_cpus": 4})  # its share of the CPUs
    gpu_task, cpu_task = {"num_gpus": 1, "num_cpus": 1}, {"num_cpus": 4}
    options = TrainerOptions(device="auto")
    assert task_threads(options, gpu_task).threads is None
    assert task_threads(options, cpu_task).threads == 4
    assert task_device("auto", "3") == "cuda"  # Ray pinned this task to GPU 3
    assert task_device("auto", None) == "auto" and task_device("cpu", "0") == "cpu"


class FakeRay(types.ModuleType):
    """What RayExecutor uses of Ray, on a cluster that reports GPUs."""

    def __init__(self, resources: dict[str, float]) -> None:
        super().__init__("ray")
        self.resources, self.asked, self.submitted = resources, {}, []

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict[str, float]:
        return self.resources

    def remote(self, fn: Any) -> FakeRay:
        return self

    def options(self, **kwargs: Any) -> types.SimpleNamespace:
        self.asked = kwargs
        return types.SimpleNamespace(remote=lambda *args: self.submitted.append(args) or object())


def test_the_ray_executor_gives_each_task_a_gpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeRay({"GPU": 8.0, "CPU": 96.0})
    monkeypatch.setitem(sys.modules, "ray", fake)
    executor = RayExecutor(tmp_path)
    assert (executor.gpus, executor.parallel) == (8, 8)
    assert fake.asked["num_gpus"] == 1 and fake.asked["num_cpus"] == 1
    executor.submit(Job("p", TrainerOptions(device="auto")))
    options = fake.submitted[0][0]
    assert options.device == "auto" and options.threads is None  # the task's GPU decides
