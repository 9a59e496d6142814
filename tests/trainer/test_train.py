"""train.py in-process: a tiny model learns, token budgets reproduce, the summary is complete."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from claimledger.trainer import evaluate_bpb, prepare_data
from claimledger.trainer import train as trainer
from claimledger.trainer.train import GPT, Hyperparameters

Tiny = Callable[..., list[str]]


def run(args: list[str], summary: Path) -> dict:
    trainer.main([*args, "--summary-json", str(summary)])
    return json.loads(summary.read_text())


def test_tiny_model_trains_in_seconds_and_its_loss_falls(tiny: Tiny, tmp_path: Path) -> None:
    summary = run(tiny(tokens=20_000), tmp_path / "s.json")
    assert summary["status"] == "ok", summary["crash_reason"]
    assert summary["num_steps"] == 40 and summary["total_tokens"] == 40 * 8 * 64
    first, last = summary["loss_curve"][0][2], summary["train_loss"]
    assert first == pytest.approx(5.545, abs=0.01)  # ln 256: the head starts at zero
    assert last < 0.6 * first
    assert summary["val_bpb"] < 5.0
    assert summary["training_seconds"] < 30


def test_token_budget_gives_bit_identical_val_bpb(tiny: Tiny, tmp_path: Path) -> None:
    one = run(tiny("--seed", "3", tokens=8_000), tmp_path / "one.json")
    two = run(tiny("--seed", "3", tokens=8_000), tmp_path / "two.json")
    other = run(tiny("--seed", "4", tokens=8_000), tmp_path / "other.json")
    assert one["val_bpb"] == two["val_bpb"] and one["train_loss"] == two["train_loss"]
    assert other["val_bpb"] != one["val_bpb"]


def test_summary_json_has_the_resolved_config_and_provenance(tiny: Tiny, tmp_path: Path) -> None:
    summary = run(tiny("--set", "qk_norm=false", tokens=2_000), tmp_path / "s.json")
    assert summary["config"]["width"] == 32 and summary["config"]["qk_norm"] is False
    assert summary["overrides"]["qk_norm"] is False and summary["overrides"]["depth"] == 1
    assert summary["budget"] == {"kind": "tokens", "value": 2_000}
    assert summary["device"] == "cpu" and summary["mfu_percent"] is None
    assert summary["torch_version"] == torch.__version__ and len(summary["corpus_hash"]) == 16
    assert summary["seed"] == 0 and summary["depth"] == 1 and summary["num_params"] > 0
    assert summary["peak_memory_mb"] > 0 and summary["total_seconds"] >= 0
    assert summary["eval_context"] == 256 and summary["eval_bytes"] % 256 == 0


def test_summary_lines_are_printed(tiny: Tiny, capsys: pytest.CaptureFixture[str]) -> None:
    assert trainer.main(tiny(tokens=1_000)) == 0
    lines = capsys.readouterr().out.split("---\n")[-1].splitlines()
    keys = [line.split(": ")[0] for line in lines]
    assert keys == trainer.SUMMARY_LINES
    assert "status: ok" in lines and "mfu_percent: null" in lines


def test_time_budget_stops_the_training_at_the_budget(tiny: Tiny, tmp_path: Path) -> None:
    args = [a for a in tiny() if a not in ("--token-budget", "20000")]
    summary = run([*args, "--time-budget", "1.5"], tmp_path / "s.json")
    assert summary["budget"] == {"kind": "time", "value": 1.5}
    assert 1.5 <= summary["training_seconds"] < 3.0
    assert summary["total_seconds"] > summary["training_seconds"]


def test_adamw_trains_the_tiny_model_too(tiny: Tiny, tmp_path: Path) -> None:
    summary = run(tiny("--set", "optimizer=adamw", tokens=10_000), tmp_path / "s.json")
    assert summary["status"] == "ok" and summary["train_loss"] < 0.7 * 5.545


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("nonsense=1", "unknown hyperparameter"),
        ("depth=two", "not a valid int"),
        ("width=30", "even whole number"),
        ("optimizer=sgd", "adamw or muon"),
        ("batch_size=0", "must be positive"),
        ("warmup_frac=0.9", "sum to at most 1"),
    ],
)
def test_bad_setting_is_a_config_crash(
    tiny: Tiny, tmp_path: Path, setting: str, problem: str
) -> None:
    summary = run(tiny("--set", setting), tmp_path / "s.json")
    assert summary["status"] == "crash" and summary["crash_kind"] == "config"
    assert problem in summary["crash_reason"] and summary["val_bpb"] is None


def test_injected_nan_stops_the_run_at_that_step(tiny: Tiny, tmp_path: Path) -> None:
    assert (
        trainer.main(
            [*tiny("--set", "inject_nan_at_step=5"), "--summary-json", str(tmp_path / "s.json")]
        )
        == 1
    )
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["crash_kind"] == "nan" and "step 5" in summary["crash_reason"]
    assert summary["num_steps"] == 4


def test_orphaned_run_stops_when_its_parent_is_gone(tiny: Tiny, tmp_path: Path) -> None:
    summary = run(tiny("--parent-pid", "999999999"), tmp_path / "s.json")
    assert summary["crash_kind"] == "killed" and "999999999" in summary["crash_reason"]


def test_untrained_model_scores_8_bits_per_byte(corpus: Path, tmp_path: Path) -> None:
    data = prepare_data(corpus, tmp_path)
    torch.manual_seed(0)
    hp = Hyperparameters(depth=1, width=32, n_head=2, seq_len=64)
    assert evaluate_bpb(GPT(hp), data.val, "cpu") == pytest.approx(8.0, abs=1e-4)
    tied = GPT(Hyperparameters(depth=1, width=32, n_head=2, seq_len=64, tie_embeddings=True))
    assert 8.0 < evaluate_bpb(tied, data.val, "cpu") < 9.5


def test_schedule_warms_up_holds_and_warms_down() -> None:
    hp = Hyperparameters(warmup_frac=0.1, warmdown_frac=0.5)
    values = [trainer.lr_multiplier(p, hp) for p in (0.0, 0.05, 0.1, 0.3, 0.5, 0.75, 1.0)]
    assert values == pytest.approx([0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0])


def test_newton_schulz_makes_singular_values_near_one() -> None:
    g = torch.randn(64, 256, generator=torch.Generator().manual_seed(0))
    singular = torch.linalg.svdvals(trainer.newton_schulz(g))
    assert singular.min() > 0.5 and singular.max() < 1.3
    assert trainer.newton_schulz(g.T).shape == (256, 64)


def test_configured_peak_gives_an_mfu_on_cpu(tiny: Tiny, tmp_path: Path) -> None:
    summary = run(tiny("--peak-flops", "1e12", tokens=2_000), tmp_path / "s.json")
    expected = 100 * GPT(Hyperparameters(**summary["config"])).flops_per_token()
    mfu = expected * summary["tokens_per_second"] / 1e12
    assert summary["mfu_percent"] == pytest.approx(mfu, rel=1e-3)


def test_flops_per_token_counts_matmuls_and_attention() -> None:
    hp = Hyperparameters(depth=2, width=64, n_head=2, seq_len=128)
    model = GPT(hp)
    matmuls = model.num_params() - 256 * 64  # the embedding is a lookup, not a matmul
    assert model.flops_per_token() == 6 * matmuls + 12 * 2 * 64 * 128
    assert trainer.count_params(hp) == model.num_params()
