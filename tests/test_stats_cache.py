"""The statistics cache: a second aggregate reuses every delta's statistics and writes the same parquet; a
changed predictions file, a corrupt row or an unreadable cache folder is a miss that recomputes, never an error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.analysis.aggregate import aggregate
from harness.models.mock import mock_spec
from harness.stats import engine, stats_cache

TASK = "TemperatureBySensation"
STAT_COLUMNS = ["delta", "ci_low", "ci_high", "p_value", "p_holm", "p_method", "resample_unit", "n_units"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stats-cache-run")
    api.run([mock_spec()], tasks=[TASK], conditions=["none", "blog"], results_dir=out, progress=False)
    return out


def _stats(results_dir: Path) -> pd.DataFrame:
    deltas = aggregate(results_dir)[1]
    cols = [c for c in STAT_COLUMNS if c in deltas.columns]
    return deltas.sort_values(["subset", "metric"]).reset_index(drop=True)[cols]


def _db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / stats_cache.DB_NAME)


def test_second_aggregate_reuses_every_delta_and_writes_the_same_numbers(
        results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATS_CACHE", str(tmp_path))
    first = _stats(results)
    with _db(tmp_path) as db:
        n = db.execute("SELECT count(*) FROM stats").fetchone()[0]
    assert n == first.p_value.notna().sum() > 0

    def no_computing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a delta was recomputed although its statistics are cached")

    monkeypatch.setattr(engine, "delta_stats", no_computing)
    second = _stats(results)
    pd.testing.assert_frame_equal(first, second)


def test_a_corrupt_row_is_recomputed_to_the_same_value(results: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATS_CACHE", str(tmp_path))
    first = _stats(results)
    with _db(tmp_path) as db:
        db.execute("UPDATE stats SET value = '{\"not\": 1}'")
    pd.testing.assert_frame_equal(first, _stats(results))


def test_changed_predictions_are_a_new_key(results: Path) -> None:
    files = sorted(results.rglob("*.predictions.parquet"))
    assert len(files) >= 2
    k = {"subset": "sensation", "split": "test", "task_type": "STS", "metric": "cosine_spearman", "unit": None,
         "n_bootstrap": 10, "n_permutations": 10, "seed": 1}
    a, b = (stats_cache.file_sha256(f) for f in files[:2])
    assert a != b
    assert stats_cache.key(a_sha256=a, b_sha256=b, **k) != stats_cache.key(a_sha256=b, b_sha256=a, **k)
    assert stats_cache.key(a_sha256=a, b_sha256=b, **k) == stats_cache.key(a_sha256=a, b_sha256=b, **k)


def test_off_and_unusable_folders_compute_everything(results: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATS_CACHE", "off")
    assert stats_cache.default_dir() is None
    off = _stats(results)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HARNESS_STATS_CACHE", str(blocker))
    pd.testing.assert_frame_equal(off, _stats(results))
