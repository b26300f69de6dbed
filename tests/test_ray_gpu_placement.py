"""The Ray executor's GPU branch, on a local Ray instance that declares 2 (logical) GPUs: Ray schedules by the
resources a node declares, so the placement — ``num_gpus`` per worker, one GPU each, distinct ids — is tested here
without a GPU (the models themselves run on CPU). Its own Ray instance, started once for this module."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import api
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.run.ray_local import init_local

TASKS = ["TemperatureBySensation"]
CONDITIONS = ["none", "blog"]


@pytest.fixture(scope="module")
def two_gpus() -> Iterator[None]:
    import ray

    init_local(ray, num_cpus=2, num_gpus=2, log_to_driver=False, logging_level=logging.ERROR)  # 127.0.0.1 only
    try:
        yield
    finally:
        ray.shutdown()


def test_each_worker_asks_for_a_gpu_and_gets_its_own(tmp_path: Path, two_gpus: None) -> None:
    one = mock_spec()
    other = dataclasses.replace(mock_spec(revision="2"), alias="mock2")
    summary = api.run([one, other], tasks=TASKS, conditions=CONDITIONS, results_dir=tmp_path / "r", progress=False,
                      executor="ray", threads=1)
    assert not summary.failed and len(summary.ran) == 4
    assert summary.timings["workers_started"] == 2  # 2 GPUs, 1 per worker: one worker per model, at once
    gpus = {}
    for line in summary.workers:
        m = re.fullmatch(r"(mock2?) on \S+ \(pid \d+, GPU (\d+)\)", line)
        assert m, line
        gpus[m.group(1)] = m.group(2)
    assert sorted(gpus) == ["mock", "mock2"] and sorted(gpus.values()) == ["0", "1"]  # one GPU each, not shared


def test_more_gpus_per_worker_than_any_node_has_fails_in_one_line_and_writes_nothing(
        tmp_path: Path, two_gpus: None) -> None:
    out = tmp_path / "r"
    with pytest.raises(HarnessError, match=r"^--gpus-per-worker 3: no Ray node has that many GPUs$"):
        api.run([mock_spec()], tasks=TASKS, conditions=CONDITIONS, results_dir=out, progress=False,
                executor="ray", threads=1, gpus_per_worker=3)
    assert not out.exists() or not any(out.iterdir())
