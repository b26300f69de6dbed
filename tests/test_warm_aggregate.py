"""A warm aggregate (issue 23): with every delta's statistics cached, stage 1 and the family summary read no
predictions (the cache keys them, the check that they reproduce mteb's scores and a file's subsets by the files'
bytes), and write the same tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.analysis.aggregate import aggregate
from tests.conftest import mock_grid


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mock_grid(tmp_path_factory.mktemp("warm-grid"),
                     ["TemperatureBySensation", "DeEnTranslationRetrieval", "ScaleAge"])


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Predictions files that stage 1 and the family summary read (pandas.read_parquet called from their modules)."""
    seen: list[str] = []
    real = pd.read_parquet

    def spy(path: Any, *a: Any, **k: Any) -> pd.DataFrame:
        if sys._getframe(1).f_globals.get("__name__") in ("harness.analysis.aggregate", "harness.analysis.family"):
            seen.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(pd, "read_parquet", spy)
    return seen


def test_warm_stage_one_reads_no_predictions(grid: Path, tmp_path_factory: pytest.TempPathFactory,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cold, warm = (tmp_path_factory.mktemp(n) for n in ("cold", "warm"))
    seen = _reads(monkeypatch)
    aggregate(grid, out=cold, stats_workers=1)
    assert any(p.endswith(".parquet") for p in seen)  # cold: the deltas' predictions are read
    seen.clear()
    aggregate(grid, out=warm, stats_workers=1)
    assert seen == []  # warm: nothing of stage 1 is read
    cached = pd.read_parquet(warm / "deltas.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(cold / "deltas.parquet"), cached, check_exact=True)
    assert cached.p_value.notna().sum() > 0 and cached.ci_low.notna().sum() > 0
    family = pd.read_parquet(warm / "family.parquet")
    assert not family.empty
    pd.testing.assert_frame_equal(pd.read_parquet(cold / "family.parquet"), family, check_exact=True)


def test_a_changed_score_is_checked_again(grid: Path, tmp_path_factory: pytest.TempPathFactory,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is keyed by mteb's stored score too: predictions that no longer reproduce it get no interval,
    cache or not."""
    from harness.analysis import aggregate as agg

    aggregate(grid, out=tmp_path_factory.mktemp("first"), stats_workers=1)
    real = agg.board_rows

    def shifted(*a: Any, **k: Any) -> Any:
        board, bad = real(*a, **k)
        hit = (board.condition == "blog") & (board.task == "TemperatureBySensation") & board.is_main
        board.loc[hit, "score"] += 0.01
        return board, bad

    monkeypatch.setattr(agg, "board_rows", shifted)
    out = tmp_path_factory.mktemp("shifted")
    aggregate(grid, out=out, stats_workers=1)
    d = pd.read_parquet(out / "deltas.parquet")
    row = d[(d.kind == "mteb") & d.is_main & (d.task == "TemperatureBySensation") & (d.condition == "blog")
            & (d.baseline == "none")]
    assert len(row) and row.ci_low.isna().all() and row.p_value.isna().all()
    other = d[(d.kind == "mteb") & d.is_main & (d.task == "DeEnTranslationRetrieval") & (d.condition == "blog")
              & (d.baseline == "none")]
    assert other.ci_low.notna().all()
