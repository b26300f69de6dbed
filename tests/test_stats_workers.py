"""Issue 23 item 2: the deltas' statistics in a process pool give bit-for-bit the numbers of one process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.core import timers
from harness.stats import engine


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
    monkeypatch.setenv(engine.WORKERS_ENV, "3")
    assert engine.stats_workers() == 3
    monkeypatch.setenv(engine.WORKERS_ENV, "0")
    with pytest.raises(ValueError, match="HARNESS_STATS_WORKERS='0'"):
        engine.stats_workers()


def test_redraws_with_two_workers_equal_one_bit_for_bit(jobs: list[engine.DeltaJob]) -> None:
    redraws = [(t, m, a, b, seed, None, 1000) for t, m, a, b, seed, unit, _ in jobs[:-1]]
    timers.reset()
    one = engine.redraw_many(redraws, workers=1)
    two = engine.redraw_many(redraws, workers=2)
    assert one == two and all(r is not None and r.n_permutations == 1000 for r in one)
    assert timers.TIMERS[engine.REDRAW_TIMER].worker_cpu_s > 0


def test_one_shared_pool_for_every_map(jobs: list[engine.DeltaJob]) -> None:
    with engine.shared_pool(2):
        first = engine.delta_stats_many(jobs[:3], workers=2)
        pool = engine._shared["pool"]
        assert pool is not None
        again = engine.delta_stats_many(jobs[:3])  # no count given: the pool already started is used
        assert engine._shared["pool"] is pool and again == first
    assert engine._shared["pool"] is None  # shut at the end of the block


def test_aggregate_with_two_workers_writes_the_same_tables(tmp_path_factory: pytest.TempPathFactory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage 1, stage 2's redraws and the family summary in one pool of 2 workers: every parquet file equal to
    one process's, bit for bit."""
    from harness import api
    from harness.analysis.aggregate import aggregate
    from harness.models.mock import mock_spec

    out = tmp_path_factory.mktemp("workers-run")
    api.run([mock_spec()], tasks=["TemperatureBySensation", "ScaleAge", "ScaleTemperature"],
            conditions=["none", "blog", "format"], results_dir=out, progress=False)
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
