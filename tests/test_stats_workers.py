"""Issue 23 item 2: the deltas' statistics in a process pool give bit-for-bit the numbers of one process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.core import timers
from harness.stats import engine, pool
from tests.conftest import mock_grid


def _frames(rng: np.random.Generator, n_words: int, shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    i, j = np.triu_indices(n_words, 1)
    eff = rng.normal(0, 1, n_words)
    base = eff[i] + eff[j]
    gold = np.round(base + rng.normal(0, 0.5, len(i)), 2)
    common = {"item": np.arange(len(i)), "gold": gold, "subset": "default", "split": "test",
              "text1": [f"w{k}" for k in i], "text2": [f"w{k}" for k in j]}
    a = pd.DataFrame(common | {"prediction": base + rng.normal(0, 0.6, len(i))})
    b = pd.DataFrame(common | {"prediction": shift * base + rng.normal(0, 0.6, len(i))})
    return a, b


@pytest.fixture(scope="module")
def jobs() -> list[engine.DeltaJob]:
    rng = np.random.default_rng(3)
    out: list[engine.DeltaJob] = []
    for k, shift in enumerate((1.0, 0.6, 0.3)):
        a, b = _frames(rng, 9, shift)
        for metric in ("cosine_spearman", "cosine_pearson"):
            out.append(("STS", metric, a, b, engine.seed_for("workers", k, metric), None,
                        {"n_bootstrap": 200, "n_permutations": 300}))
    out.append(("STS", "cosine_spearman", out[0][2], out[0][3], 1, "nonsense", {}))  # a ValueError comes back
    return out


def test_two_workers_equal_one_bit_for_bit(jobs: list[engine.DeltaJob]) -> None:
    timers.reset()
    one = engine.delta_stats_many(jobs, workers=1)
    two = engine.delta_stats_many(jobs, workers=2)
    assert one == two  # dataclass equality: every float compared with ==
    assert isinstance(one[-1], str) and "unit 'nonsense'" in one[-1]
    for got in one[:-1]:
        assert isinstance(got, engine.PairedStats) and got.resample_unit == "text"
    assert timers.TIMERS[engine.TIMER].worker_cpu_s > 0  # the workers report their CPU seconds


def test_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pool.WORKERS_ENV, "3")
    assert pool.stats_workers() == 3
    monkeypatch.setenv(pool.WORKERS_ENV, "0")
    with pytest.raises(ValueError, match="HARNESS_STATS_WORKERS='0'"):
        pool.stats_workers()


def test_redraws_with_two_workers_equal_one_bit_for_bit(jobs: list[engine.DeltaJob]) -> None:
    redraws = [(t, m, a, b, seed, None, 1000) for t, m, a, b, seed, unit, _ in jobs[:-1]]
    timers.reset()
    one = engine.redraw_many(redraws, workers=1)
    two = engine.redraw_many(redraws, workers=2)
    assert one == two and all(r is not None and r.n_permutations == 1000 for r in one)
    assert timers.TIMERS[engine.REDRAW_TIMER].worker_cpu_s > 0


def test_one_shared_pool_for_every_map(jobs: list[engine.DeltaJob]) -> None:
    with pool.shared_pool(2):
        first = engine.delta_stats_many(jobs[:3], workers=2)
        started = pool._shared["pool"]
        assert started is not None
        again = engine.delta_stats_many(jobs[:3])  # no count given: the pool already started is used
        assert pool._shared["pool"] is started and again == first
    assert pool._shared["pool"] is None  # shut at the end of the block


def test_aggregate_with_two_workers_writes_the_same_tables(tmp_path_factory: pytest.TempPathFactory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage 1, stage 2's redraws and the family summary in one pool of 2 workers: every parquet file equal to
    one process's, bit for bit."""
    from harness.analysis.aggregate import aggregate

    out = mock_grid(tmp_path_factory.mktemp("workers-run"),
                    ["TemperatureBySensation", "ScaleAge", "ScaleTemperature"])
    monkeypatch.setenv("HARNESS_STATS_CACHE", "off")
    tables = {}
    for n in (1, 2):
        dest = tmp_path_factory.mktemp(f"workers-{n}")
        aggregate(out, stats_workers=n, out=dest)
        tables[n] = {p.name: pd.read_parquet(p) for p in sorted(dest.glob("*.parquet"))}
    assert {"deltas.parquet", "family.parquet", "geometry.parquet"} <= set(tables[1])
    assert set(tables[1]) == set(tables[2])
    assert tables[1]["deltas.parquet"].p_value.notna().sum() > 0 and not tables[1]["family.parquet"].empty
    assert tables[1]["geometry.parquet"].metric.str.startswith("centred").any()  # geometry's jobs ran too
    for name, frame in tables[1].items():
        pd.testing.assert_frame_equal(frame, tables[2][name], check_exact=True, obj=name)


def test_jobs_go_out_costliest_first_and_come_back_in_order() -> None:
    """map_jobs hands an executor the jobs in descending cost and returns the results in the jobs' order."""

    class Recording:
        def __init__(self) -> None:
            self.handed: list[int] = []

        def map(self, fn: object, jobs: list[int]) -> list[tuple[int, float]]:
            self.handed = list(jobs)
            return [_square(j) for j in jobs]

    rec = Recording()
    jobs = [3, 9, 1, 7, 5]
    with pool.shared_pool(2, executor=rec):
        got = pool.map_jobs(_square, jobs, cost=float)
        assert rec.handed == [9, 7, 5, 3, 1]
        assert got == [9, 81, 1, 49, 25]
        assert pool.map_jobs(_square, jobs) == got and rec.handed == jobs  # no cost: the jobs' own order
        assert pool.map_jobs(_square, jobs, workers=1, cost=float) == got  # in this process
    assert pool._shared["executor"] is None


def _square(k: int) -> tuple[int, float]:
    return k * k, 0.0


def test_a_process_pool_in_cost_order_gives_the_same_results(jobs: list[engine.DeltaJob]) -> None:
    in_order = pool.map_jobs(engine._delta_job, jobs, workers=2)
    by_cost = pool.map_jobs(engine._delta_job, jobs, workers=2, cost=lambda j: -len(j[2]) - j[4] % 7)
    assert by_cost == in_order
