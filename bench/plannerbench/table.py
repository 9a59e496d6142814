"""The lazy table: (task, config, seed) -> val_bpb of the real bundled trainer, cached.

bench/data/planner_cache.json holds every real run the benchmark has needed so far, keyed
`task|canonical config|seed`, with the trainer's content hash and the sha256 of the claims
manifest that was registered before its first result. A point not in the cache is trained
for real (one thread, one process at a time, in this process) while the run budget
(`max_new_runs`) lasts, and saved at once (atomic rename), so an interrupted bench keeps what
it computed.

Past the budget, a point is answered by a surrogate fitted to the cached runs of its task (a
ridge regression on the knobs' one-hot values and, shrunk hard, their pairwise products over
the cached points' seed means, never better than the best real config's mean, plus the seed's
shared offset and a deterministic residual drawn with the residual spread of the better half
of the cached configs) and counted
as such: every figure says what share of the
points it read were real. A config's true mean is the mean of its cached seeds when all seeds
are cached, else the surrogate's mean.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from plannerbench.space import SEEDS, SPACE, TASKS, canonical

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "bench" / "data" / "planner_cache.json"
MANIFEST = REPO / "bench" / "claims" / "MANIFEST.json"
CRASH_BPB = 8.0  # what a crashed run is recorded as: the uniform model's bits per byte
RIDGE_MAIN = 0.3  # ridge penalty of the knobs' main effects
RIDGE_PAIR = 5.0  # and of their pairwise products: interactions are shrunk hard
OPTIMISM_CAP = 0.0  # the surrogate never predicts a config better than the best real one


def _key(task: str, config: dict[str, Any], seed: int) -> str:
    return f"{task}|{canonical(config)}|{seed}"


def trainer_sha256() -> str:
    from claimledger.trainer.params import TRAIN_PY

    return hashlib.sha256(TRAIN_PY.read_bytes()).hexdigest()


def run_point(task: str, config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train one point with the real trainer, in this process, on one thread: its record."""
    from claimledger.trainer import train

    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        summary_path = Path(tmp) / "summary.json"
        argv = ["--token-budget", str(TASKS[task]), "--seed", str(seed), "--device", "cpu"]
        argv += ["--threads", "1", "--cache-dir", str(REPO / ".claimledger")]
        argv += ["--summary-json", str(summary_path)]
        for k, v in config.items():
            argv += ["--set", f"{k}={v}"]
        with contextlib.redirect_stdout(io.StringIO()):  # the trainer's report: not needed here
            train.main(argv)
        summary = json.loads(summary_path.read_text())
    if summary.get("crash_kind") in ("killed", "interrupted", "timeout", "oom", "error"):
        raise SystemExit(f"the trainer was stopped ({summary.get('crash_reason')}): not cached")
    bpb = summary.get("val_bpb") if summary["status"] == "ok" else None
    return {
        "val_bpb": float(bpb) if bpb is not None and np.isfinite(bpb) else CRASH_BPB,
        "status": summary["status"],
        "seconds": round(time.time() - start, 2),
        "trainer_sha256": summary.get("train_py_sha256"),
    }


class Table:
    def __init__(self, path: Path = CACHE, max_new_runs: int = 0, verbose: bool = True) -> None:
        self.path, self.budget, self.verbose = path, max_new_runs, verbose
        self.new_runs = 0
        manifest = hashlib.sha256(MANIFEST.read_bytes()).hexdigest()
        if path.exists():
            self.data = json.loads(path.read_text())
        else:
            self.data = {
                "claims_manifest_sha256": manifest,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "tasks": TASKS,
                "space": SPACE,
                "threads": 1,
                "trainer_sha256": trainer_sha256(),
                "runs": {},
            }
        self.manifest_ok = self.data["claims_manifest_sha256"] == manifest
        self.reads = {"real": 0, "surrogate": 0}
        self.misses: Counter[tuple[str, str, int]] = Counter()  # surrogate reads, by point
        self._models: dict[str, Any] = {}

    # --- real runs -------------------------------------------------------------------------
    def cached(self, task: str, config: dict[str, Any], seed: int) -> float | None:
        run = self.data["runs"].get(_key(task, config, seed))
        return None if run is None else run["val_bpb"]

    def train(self, task: str, config: dict[str, Any], seed: int) -> float:
        """Run the real trainer for one point (and cache it)."""
        return self.store(task, config, seed, run_point(task, config, seed))

    def store(self, task: str, config: dict[str, Any], seed: int, run: dict[str, Any]) -> float:
        """Cache a point's run (from run_point, maybe in another process) and save at once."""
        self.data["runs"][_key(task, config, seed)] = run
        self.new_runs += 1
        self._models.pop(task, None)
        self.save()
        if self.verbose:
            print(f"  trained {task} seed {seed} {canonical(config)}: {run['val_bpb']:.4f}")
        return run["val_bpb"]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=0, sort_keys=True) + "\n")
        os.replace(tmp, self.path)

    # --- what a strategy sees ----------------------------------------------------------------
    def value(self, task: str, config: dict[str, Any], seed: int) -> float:
        got = self.cached(task, config, seed)
        if got is None and self.new_runs < self.budget:
            got = self.train(task, config, seed)
        if got is not None:
            self.reads["real"] += 1
            return got
        self.reads["surrogate"] += 1
        self.misses[(task, canonical(config), seed)] += 1
        return self.surrogate(task, config, seed)

    def true_mean(self, task: str, config: dict[str, Any]) -> float:
        values = [self.cached(task, config, s) for s in SEEDS]
        if all(v is not None for v in values):
            return statistics.fmean(values)  # type: ignore[arg-type]
        return self.predict(task, config)

    def real_points(self, task: str) -> dict[str, dict[int, float]]:
        """canonical config -> {seed: val_bpb} of the cached runs of a task."""
        found: dict[str, dict[int, float]] = {}
        for key, run in self.data["runs"].items():
            t, config, seed = key.split("|")
            if t == task:
                found.setdefault(config, {})[int(seed)] = run["val_bpb"]
        return found

    # --- the surrogate -----------------------------------------------------------------------
    def _model(self, task: str) -> dict[str, Any]:
        if task in self._models:
            return self._models[task]
        # a crashed seed (recorded as 8 bpb, the uniform model) is a real result of its
        # config, but not a sample of the seed noise: such configs stay out of the fit
        points = {
            c: v for c, v in self.real_points(task).items() if max(v.values()) < CRASH_BPB - 0.01
        }
        configs = [json.loads(c) for c in points]
        means = np.array([statistics.fmean(v.values()) for v in points.values()])
        x = np.array([features(c) for c in configs]) if configs else np.zeros((0, nfeatures()))
        center = float(means.mean()) if len(means) else 3.5
        n_main = len(_onehot(defaults_of_space()))
        penalty = np.array([RIDGE_MAIN] * n_main + [RIDGE_PAIR] * (x.shape[1] - n_main))
        a = x.T @ x + np.diag(penalty)
        w = np.linalg.solve(a, x.T @ (means - center)) if len(means) else np.zeros(nfeatures())
        # seed offsets shared by all configs, and the residual spread around them
        offsets: dict[int, list[float]] = {s: [] for s in SEEDS}
        for by_seed in points.values():
            if len(by_seed) == len(SEEDS):
                m = statistics.fmean(by_seed.values())
                for s, v in by_seed.items():
                    offsets[s].append(v - m)
        offset = {s: statistics.fmean(v) if v else 0.0 for s, v in offsets.items()}
        # the seed noise of the better half of the configs, where search happens: bad configs
        # (3x noisier on this trainer) would otherwise make every surrogate point a lottery
        full = [by_seed for by_seed in points.values() if len(by_seed) == len(SEEDS)]
        middle = statistics.median(statistics.fmean(b.values()) for b in full) if full else 0.0
        residuals = [
            v - statistics.fmean(by_seed.values()) - offset[s]
            for by_seed in full
            if statistics.fmean(by_seed.values()) <= middle
            for s, v in by_seed.items()
        ]
        dof = max(1, len(residuals) - len(residuals) // len(SEEDS) - len(SEEDS))
        sd = (sum(r * r for r in residuals) / dof) ** 0.5 if residuals else 0.02
        floor = float(means.min()) - OPTIMISM_CAP if len(means) else 0.0
        model = {"w": w, "center": center, "offset": offset, "sd": sd, "n": len(points)}
        model["floor"] = floor
        self._models[task] = model
        return model

    def predict(self, task: str, config: dict[str, Any]) -> float:
        m = self._model(task)
        key = canonical(config)
        if key not in m.setdefault("memo", {}):
            value = float(m["center"] + np.array(features(config)) @ m["w"])
            m["memo"][key] = max(m["floor"], value)
        return m["memo"][key]

    def surrogate(self, task: str, config: dict[str, Any], seed: int) -> float:
        m = self._model(task)
        digest = hashlib.sha256(f"{task}|{canonical(config)}|{seed}".encode()).digest()
        noise = random.Random(digest).gauss(0.0, m["sd"])
        extra = m["offset"].get(seed, 0.0)
        return self.predict(task, config) + extra + noise

    def surrogate_check(self, task: str) -> dict[str, float]:
        """Leave-one-config-out error of the surrogate's mean on fully seeded cached configs."""
        points = {c: v for c, v in self.real_points(task).items() if len(v) == len(SEEDS)}
        errors = []
        saved = dict(self.data["runs"])
        for config in list(points)[:60]:
            self.data["runs"] = {
                k: v for k, v in saved.items() if not k.startswith(f"{task}|{config}|")
            }
            self._models.pop(task, None)
            errors.append(
                self.predict(task, json.loads(config)) - statistics.fmean(points[config].values())
            )
        self.data["runs"] = saved
        self._models.pop(task, None)
        if not errors:
            return {"configs": 0, "rmse": float("nan"), "spread": float("nan")}
        rmse = (sum(e * e for e in errors) / len(errors)) ** 0.5
        spread = statistics.pstdev(statistics.fmean(v.values()) for v in points.values())
        return {
            "configs": len(errors),
            "rmse": rmse,
            "spread": spread,
            "seed_sd": self._model(task)["sd"],
        }


def defaults_of_space() -> dict[str, Any]:
    return {k: v[0] for k, v in SPACE.items()}


def _onehot(config: dict[str, Any]) -> list[float]:
    out = []
    for k, values in SPACE.items():
        out += [1.0 if config[k] == v else 0.0 for v in values[1:]]
    return out


def nfeatures() -> int:
    n = sum(len(v) - 1 for v in SPACE.values())
    return n + n * (n - 1) // 2


def features(config: dict[str, Any]) -> list[float]:
    """One-hot knob values (the first value of each knob is the reference) and their products."""
    base = _onehot(config)
    return base + [a * b for a, b in itertools.combinations(base, 2)]
