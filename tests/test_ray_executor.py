"""The Ray executor on a local Ray instance (num_cpus=2, no dashboard; started once for this module, and by no
other test module): results identical to the local executor's (mock encoder exactly, MiniLM to 1e-6), a worker
SIGKILLed mid-cell is retried, a killed driver leaves a folder the local executor resumes, a model that fails to
load fails only its own cells."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.models.mock import mock_spec
from harness.models.spec import Embedder, ModelSpec
from harness.results import layout
from harness.run.ray_local import init_local
from tests.conftest import ROOT, STORED_DIFF

TASKS = ["TemperatureBySensation", "DeEnTranslationBitextMining"]  # STS (+ cosines artifact) and bitext mining
CONDITIONS = ["none", "blog"]
TIMESTAMPS = ["created_at"]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    import ray

    init_local(ray, num_cpus=2, log_to_driver=False, logging_level=logging.ERROR)  # 127.0.0.1 only
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local executor's results for the mock grid."""
    out = tmp_path_factory.mktemp("local")
    summary = api.run([mock_spec()], tasks=TASKS, conditions=CONDITIONS, results_dir=out, progress=False)
    assert len(summary.ran) == 4
    api.aggregate(out)
    return out


def parquet(results: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(results / f"{name}.parquet").drop(columns=TIMESTAMPS, errors="ignore")


def assert_same_results(results: Path, reference: Path) -> None:
    api.aggregate(results)
    for name in ("leaderboard", "deltas"):
        pd.testing.assert_frame_equal(parquet(results, name), parquet(reference, name))
    # predictions and probe artifacts are byte-identical: the driver writes exactly what a local run writes
    for path in sorted((reference / layout.CELLS_DIR).rglob("*.parquet")):
        assert (results / path.relative_to(reference)).read_bytes() == path.read_bytes(), path.name


def run_ray(results: Path, models: list[str | ModelSpec], **kw: object) -> api.RunSummary:
    return api.run(models, tasks=TASKS, conditions=CONDITIONS, results_dir=results, progress=False,
                   executor="ray", threads=1, **kw)  # type: ignore[arg-type]


def broken_spec() -> ModelSpec:
    def load() -> Embedder:
        raise RuntimeError("weights are missing")

    return ModelSpec(alias="broken", name="harness/broken-model", revision="1", loader=load, embed_dim=16)


def test_ray_equals_local_with_a_worker_killed_mid_cell_and_a_model_that_fails_to_load(
        tmp_path: Path, ray_address: str, reference: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "killed"
    monkeypatch.setenv("HARNESS_WORKER_FAULT", "kill:encode:3")  # SIGKILL a worker in its third encode call
    monkeypatch.setenv("HARNESS_FAULT_ONCE", str(marker))  # once: the restarted worker runs on
    results = tmp_path / "results"
    summary = run_ray(results, [broken_spec(), mock_spec()], workers=2)
    # the mock worker was killed mid-cell (the broken model's worker never reaches a third encode), Ray restarted
    # it and retried the cell
    assert marker.exists(), "no worker was killed"
    killed = int(marker.read_text())
    assert killed != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)
    assert sorted(summary.ran) == sorted(f"mock/{c}/{t}" for c in CONDITIONS for t in TASKS)
    # the model that fails to load fails its own cells, each with one line naming the model and the node
    assert sorted(label for label, _ in summary.failed) == sorted(f"broken/{c}/{t}" for c in CONDITIONS
                                                                  for t in TASKS)
    for _, message in summary.failed:
        assert "\n" not in message
        assert message.startswith("model 'broken' failed to load on node ")
        assert "RuntimeError: weights are missing" in message
    assert summary.timings["ray_start_s"] >= 0 and summary.timings["workers_started"] >= 2
    assert not (results / layout.CELLS_DIR / "harness__broken-model").exists()
    assert_same_results(results, reference)
    # a second run finds every mock cell done and starts nothing
    again = run_ray(results, [mock_spec()])
    assert len(again.reused) == 4 and not again.ran and "ray_start_s" not in again.timings


def test_minilm_on_ray_equals_local(tmp_path: Path, ray_address: str, minilm_spec: ModelSpec) -> None:
    local, remote = tmp_path / "local", tmp_path / "ray"
    api.run([minilm_spec], tasks=["TemperatureBySensation"], conditions=CONDITIONS, results_dir=local,
            progress=False)
    # The driver believes the model runs in float16 (as a CPU-only driver would plan float32 for GPU workers): the
    # workers resolve "minilm" on their node (float32 here), and the driver re-plans with the node's identity.
    driver_side = dataclasses.replace(minilm_spec, settings={**minilm_spec.settings, "dtype": "float16"})
    assert driver_side.identity != minilm_spec.identity
    # a fresh embedding cache for the workers: they must encode, not read what the local run stored
    summary = api.run([driver_side], tasks=["TemperatureBySensation"], conditions=CONDITIONS, results_dir=remote,
                      progress=False, executor="ray", threads=1, cache_dir=tmp_path / "cache")
    assert sorted(summary.ran) == sorted(f"minilm/{c}/TemperatureBySensation" for c in CONDITIONS)
    assert summary.encoded > 0 and not summary.failed and not summary.reused
    boards = []
    for out in (local, remote):
        api.aggregate(out)
        boards.append(parquet(out, "leaderboard"))
    a, b = boards
    pd.testing.assert_frame_equal(a.drop(columns="score"), b.drop(columns="score"))
    # Everything but the score is compared exactly (above). Scores are stored rounded to 6 decimals; the executors'
    # float noise (≪ 1e-6) can flip the last rounded digit, so two stored copies differ by 0 or one unit: STORED_DIFF.
    gap = (a["score"] - b["score"]).abs().max()
    assert gap <= STORED_DIFF, f"scores differ by {gap!r} (more than one unit of the 6th decimal)"
    for side in layout.sidecar_files(local):  # the same exact prefixes reached the model
        other = remote / side.relative_to(local)

        ours, theirs = json.loads(side.read_text()), json.loads(other.read_text())
        assert theirs["prompts"] == ours["prompts"] and theirs["model_identity"] == minilm_spec.identity


def test_a_killed_driver_leaves_a_folder_the_local_executor_resumes(
        tmp_path: Path, ray_address: str, reference: Path) -> None:
    env = {**os.environ, "HARNESS_FAULT": "kill:cell-done:2"}  # the driver dies right after its second cell
    p = subprocess.run([sys.executable, "-m", "tests.mock_run", str(tmp_path), *TASKS, "--ray", ray_address],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr
    summary = api.run([mock_spec()], tasks=TASKS, conditions=CONDITIONS, results_dir=tmp_path, progress=False)
    assert len(summary.reused) == 2 and len(summary.ran) == 2
    assert_same_results(tmp_path, reference)
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []
