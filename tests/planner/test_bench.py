"""Smoke test of bench/planner.py on the committed lazy table: a short run prints every figure
with PASS/FAIL lines, trains nothing, and refuses claims arms that no longer match their hash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
def test_bench_planner_short_run_prints_every_figure(tmp_path: Path) -> None:
    figures_file = tmp_path / "figures.json"  # the committed figures stay those of a full run
    command = [sys.executable, str(BENCH / "planner.py"), "--reps", "2", "--no-plot"]
    done = subprocess.run(
        [*command, "--figures", str(figures_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    lines = out.strip().splitlines()
    figures = json.loads(lines[-1])
    for arm in (
        "random",
        "tpe3",
        "tpe3_blind_enqueued",
        "planner_none",
        "planner_blind",
        "planner_blind_contaminated",
        "planner_literature",
        "planner_placebo",
        "planner_oracle",
        "planner_adversarial",
        "B_planner_transfer",
    ):
        assert 1 <= figures["runs_to_target"][arm] <= 41
    for figure in ("figure 1:", "figure 1b:", "figure 2:", "figure 3:"):
        assert figure in out
    assert sum(line.startswith(("PASS: ", "FAIL: ")) for line in lines) == 7
    assert "new_real_runs: 0" in lines
    assert "(95% CI " in out
    written = json.loads(figures_file.read_text())
    assert 0 <= written["planner_none"]["reached_target"] <= 1
    assert written["tpe3"]["mean_regret"] >= 0 and " mean_regret " in out
    sets = written["tpe3_seed_sets"]
    assert (
        len(sets["runs_to_target"]) == 5
        and sets["runs_to_target"][0] == written["tpe3"]["runs_to_target"]
    )  # the first seed set is figure 1's TPE
    assert 1 <= sets["pooled_runs_to_target"] <= 41


def test_claims_arms_match_their_manifest() -> None:
    import hashlib

    manifests = sorted((BENCH / "claims").glob("MANIFEST*.json"))
    assert len(manifests) == 2  # the first registration, and the fresh blind arm's
    for manifest in manifests:
        for arm, digest in json.loads(manifest.read_text())["sha256"].items():
            path = BENCH / "claims" / f"{arm}.json"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, arm


def test_an_arm_edited_after_registration_is_not_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import planner

    for path in (BENCH / "claims").glob("*.json"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(planner, "CLAIMS", tmp_path)
    assert planner.load_arm("blind_fresh")  # registered and unchanged: scored
    edited = json.loads((tmp_path / "blind_fresh.json").read_text())
    edited["claims"][0]["delta"] = -0.5
    (tmp_path / "blind_fresh.json").write_text(json.dumps(edited))
    with pytest.raises(SystemExit, match="does not match"):
        planner.load_arm("blind_fresh")
