"""Issue 23 item 2: ``harness aggregate --executor ray`` runs the statistics as Ray tasks (a local instance on
127.0.0.1, num_cpus=2, started once for this module) and writes every parquet table equal, bit for bit, to the
in-process aggregate's; its bad options fail in one line before anything is written."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.run.ray_local import init_local
from harness.run.ray_pool import RayPool
from tests.conftest import ROOT, mock_grid


@pytest.fixture(scope="module")
def ray_started() -> Iterator[None]:
    import ray

    init_local(ray, num_cpus=2, log_to_driver=False, logging_level=logging.ERROR)  # 127.0.0.1 only
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mock_grid(tmp_path_factory.mktemp("ray-aggregate-run"),
                     ["TemperatureBySensation", "ScaleAge", "DeEnTranslationBitextMining"])


def _tables(results: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_parquet(p) for p in sorted(results.glob("*.parquet"))}


@pytest.fixture(scope="module")
def grid_embeddings(grid: Path) -> str:
    """The embedding cache the grid's cells filled (the session's: module fixtures run before the per-test
    caches), so the aggregates below have the embeddings and write the geometry's embedding rows too."""
    return os.environ["HARNESS_EMBEDDING_CACHE"]


@pytest.fixture(scope="module")
def local_tables(grid: Path, grid_embeddings: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> dict[str, pd.DataFrame]:
    """The in-process aggregate's tables (every statistic computed, in this process): what both Ray paths must
    write, bit for bit."""
    local = tmp_path_factory.mktemp("ray-aggregate-local") / "results"
    shutil.copytree(grid, local)
    touched: list[object] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_STATS_CACHE", "off")
        mp.setenv("HARNESS_FIGURE_CACHE", "off")
        mp.setenv("HARNESS_STATS_WORKERS", "1")
        mp.setenv("HARNESS_EMBEDDING_CACHE", grid_embeddings)
        mp.setattr(RayPool, "map", lambda self, fn, jobs: touched.append(fn))
        api.aggregate(local)
    assert not touched  # the local aggregate never touched Ray
    return _tables(local)


def test_ray_aggregate_equals_the_local_one_bit_for_bit(ray_started: None, grid: Path, tmp_path: Path,
                                                        local_tables: dict[str, pd.DataFrame], grid_embeddings: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATS_CACHE", "off")  # every statistic computed, none served
    monkeypatch.setenv("HARNESS_FIGURE_CACHE", "off")
    monkeypatch.setenv("HARNESS_EMBEDDING_CACHE", grid_embeddings)
    on_ray = tmp_path / "ray"
    shutil.copytree(grid, on_ray)
    maps: list[tuple[str, int]] = []
    real_map = RayPool.map

    def counted(self: RayPool, fn: object, jobs: list[object]) -> list[object]:
        maps.append((getattr(fn, "__name__", "?"), len(jobs)))
        return real_map(self, fn, jobs)  # type: ignore[arg-type]

    monkeypatch.setattr(RayPool, "map", counted)
    api.aggregate(on_ray, executor="ray")
    names = {n for n, _ in maps}
    assert {"_delta_job", "_subset_job"} <= names, maps  # the deltas' and the geometry's jobs ran as Ray tasks
    assert sum(k for _, k in maps) >= 10
    want, got = local_tables, _tables(on_ray)
    assert {"deltas.parquet", "family.parquet", "geometry.parquet", "leaderboard.parquet"} <= set(want)
    assert (want["deltas.parquet"].kind == "geometry").any()  # the embeddings were there: geometry deltas too
    assert set(want) == set(got)
    assert want["deltas.parquet"].p_value.notna().sum() > 0
    for name, frame in want.items():
        pd.testing.assert_frame_equal(frame, got[name], check_exact=True, obj=name)


def test_ray_pool_keeps_the_jobs_order_across_batches(ray_started: None) -> None:
    import numpy as np
    import ray

    from harness.stats import engine

    rng = np.random.default_rng(8)
    gold = rng.normal(size=30)
    frame = pd.DataFrame({"item": np.arange(30), "gold": gold, "subset": "default", "split": "test",
                          "text1": [f"a{k}" for k in range(30)], "text2": [f"b{k}" for k in range(30)]})
    a = frame.assign(prediction=gold + rng.normal(size=30))
    jobs = [("STS", "cosine_spearman", a, frame.assign(prediction=gold * s + rng.normal(size=30)),
             engine.seed_for("ray", k), None, 200) for k, s in enumerate((0.0, 0.5, 1.0, 2.0, 3.0))]
    pool = RayPool(ray, max_in_flight=2)  # three batches
    got = pool.map(engine._redraw_job, jobs)
    assert [g for g, _ in got] == [engine._redraw_job(j)[0] for j in jobs]
    assert pool.tasks == 5 and all(cpu > 0 for _, cpu in got)


@pytest.mark.parametrize(("args", "message"), [
    (["--ray-address", "127.0.0.1:1"], "--ray-address needs --executor ray"),
    (["--executor", "ray", "--stats-workers", "2"], "--stats-workers is for --executor local"),
    (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "--ray-address 127.0.0.1:1: no Ray cluster answers"),
    (["--executor", "ray", "--ray-address", "nonsense"], "--ray-address nonsense: expected host:port"),
])
def test_bad_ray_options_fail_in_one_line_and_write_nothing(grid: Path, tmp_path: Path, args: list[str],
                                                            message: str) -> None:
    results = tmp_path / "results"
    shutil.copytree(grid, results)
    before = sorted(p.relative_to(results) for p in results.rglob("*"))
    done = subprocess.run([sys.executable, "-m", "harness", "aggregate", "--results", str(results), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert sorted(p.relative_to(results) for p in results.rglob("*")) == before


def test_cli_aggregate_on_ray_writes_the_local_tables(grid: Path, tmp_path: Path, grid_embeddings: str,
                                                      local_tables: dict[str, pd.DataFrame]) -> None:
    """`harness aggregate --executor ray` end to end: its own local Ray instance (127.0.0.1), exit 0, every table
    equal to the in-process aggregate's."""
    on_ray = tmp_path / "ray"
    shutil.copytree(grid, on_ray)
    env = {**os.environ, "HARNESS_STATS_CACHE": "off", "HARNESS_FIGURE_CACHE": "off",
           "HARNESS_EMBEDDING_CACHE": grid_embeddings}
    done = subprocess.run([sys.executable, "-m", "harness", "aggregate", "--results", str(on_ray), "--executor", "ray",
                           "--timings"], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Ray (connect or start)" in done.stderr  # the timings of the Ray run name its connection
    got = _tables(on_ray)
    assert set(local_tables) == set(got) and "deltas.parquet" in got
    for name, frame in local_tables.items():
        pd.testing.assert_frame_equal(frame, got[name], check_exact=True, obj=name)
