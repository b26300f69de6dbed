"""`harness merge`: results folders from separate jobs combine into one; two half-grids merged equal one full run;
conflicting cells are listed with both sources and nothing is written unless --prefer says which wins."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.publish.merge import MergeConflict

TASK = "TemperatureBySensation"


@pytest.fixture(scope="module")
def grids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One full run (none + blog) and the same grid as two separate jobs, one condition each."""
    root = tmp_path_factory.mktemp("merge")
    out = {"full": root / "full", "a": root / "job-a", "b": root / "job-b"}
    api.run([mock_spec()], tasks=[TASK], conditions=["none", "blog"], results_dir=out["full"], progress=False)
    api.aggregate(out["full"])
    api.run([mock_spec()], tasks=[TASK], conditions=["none"], results_dir=out["a"], progress=False)
    api.run([mock_spec()], tasks=[TASK], conditions=["blog"], results_dir=out["b"], progress=False)
    out["embedding_cache"] = Path(os.environ["HARNESS_EMBEDDING_CACHE"])  # the geometry rows read the vectors there
    return out


def _cell_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.parts[len(folder.parts)] in ("cells", "results"))


def test_two_half_grids_merged_equal_one_full_run(grids: dict[str, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_EMBEDDING_CACHE", str(grids["embedding_cache"]))  # one machine: its vectors
    into = tmp_path / "merged"
    plan = api.merge([grids["a"], grids["b"]], into)
    assert len(plan.copy) == 2 and not plan.conflicts and plan.identical == 0
    assert _cell_files(into) == _cell_files(grids["full"])
    for name in ("leaderboard", "deltas"):
        got = pd.read_parquet(into / f"{name}.parquet")
        want = pd.read_parquet(grids["full"] / f"{name}.parquet")
        drop = [c for c in ("created_at",) if c in got.columns]
        pd.testing.assert_frame_equal(got.drop(columns=drop), want.drop(columns=drop))
    d = pd.read_parquet(into / "deltas.parquet")
    assert d[d.is_main].ci_low.notna().all()  # the deltas span both jobs' cells, with intervals
    from harness.publish import verify

    assert all(ok for ok, _ in verify.same_tables(into, grids["full"]))
    assert (into / "report.html").exists() and (into / "leaderboard.html").exists()


def test_identical_cells_are_deduplicated_and_a_rerun_changes_nothing(grids: dict[str, Path], tmp_path: Path) -> None:
    into = tmp_path / "merged"
    plan = api.merge([grids["a"], grids["full"]], into)  # `none` is in both: same key, same scores
    assert len(plan.copy) == 2 and plan.identical == 1
    before = {p: p.read_bytes() for p in (into / "cells").rglob("*.json")}
    again = api.merge([grids["full"]], into)
    assert not again.copy and again.kept == 2 and again.identical == 2
    assert {p: p.read_bytes() for p in (into / "cells").rglob("*.json")} == before


def _changed_copy(src: Path, dst: Path, *, score: float | None = None, created_at: str | None = None,
                  key: str | None = None) -> Path:
    """A copy of a one-cell folder whose cell has another main score / date / key (its sidecar kept valid)."""
    shutil.copytree(src, dst)
    sidecar = next((dst / "cells").rglob(f"{TASK}.json"))
    side = json.loads(sidecar.read_text())
    if score is not None:
        result = dst / side["result_file"]
        data = json.loads(result.read_text())
        data["scores"]["test"][0]["main_score"] = data["scores"]["test"][0]["cosine_spearman"] = score
        result.write_text(json.dumps(data))
        side["files_sha256"]["result"] = side["cell_files"][side["result_file"]] = hashlib.sha256(
            result.read_bytes()).hexdigest()
    side["created_at"] = created_at or side["created_at"]
    side["key"] = key or side["key"]
    sidecar.write_text(json.dumps(side))
    return dst


def test_conflicting_scores_are_listed_and_nothing_is_written(grids: dict[str, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    other = _changed_copy(grids["b"], tmp_path / "job-b2", score=0.5, created_at="2099-01-01T00:00:00+00:00")
    into = tmp_path / "merged"
    with pytest.raises(MergeConflict) as e:
        api.merge([grids["b"], other], into)
    assert not into.exists()
    assert "1 conflicting cell(s)" in str(e.value) and "\n" not in str(e.value)
    line, last = e.value.lines()  # each conflict, then the one error line
    assert last == f"error: {e.value}"
    assert "mock/blog/TemperatureBySensation" in line and "same cell key, different scores" in line
    assert str(grids["b"] / "cells") in line and str(other / "cells") in line and "0.5" in line

    from harness.cli import main

    assert main(["merge", str(grids["b"]), str(other), "--into", str(into)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("conflict: mock/blog/TemperatureBySensation") and err[1].startswith("error: 1 conflict")
    assert not into.exists()


@pytest.mark.parametrize("prefer", ["first", "newest"])
def test_prefer_resolves_conflicts(grids: dict[str, Path], tmp_path: Path, prefer: str) -> None:
    other = _changed_copy(grids["b"], tmp_path / "job-b2", score=0.5, created_at="2099-01-01T00:00:00+00:00")
    into = tmp_path / "merged"
    shutil.copytree(grids["a"], into)  # cells already in --into count as the first folder
    plan = api.merge([grids["b"], other], into, prefer=prefer)  # type: ignore[arg-type]
    assert len(plan.conflicts) == 1 and len(plan.copy) == 1 and plan.kept == 1
    board = pd.read_parquet(into / "leaderboard.parquet")
    blog = board[board.is_main & (board.condition == "blog") & (board.subset == "sensation")].score.iloc[0]
    assert (blog == 0.5) == (prefer == "newest")


def test_a_different_key_in_the_same_place_is_a_conflict(grids: dict[str, Path], tmp_path: Path) -> None:
    other = _changed_copy(grids["b"], tmp_path / "job-b2", key="0" * 64)
    with pytest.raises(MergeConflict) as e:
        api.merge([grids["b"], other], tmp_path / "merged")
    assert "different cell keys" in e.value.lines()[0]


def test_bad_folders_fail_with_one_line_and_write_nothing(grids: dict[str, Path], tmp_path: Path) -> None:
    into = tmp_path / "merged"
    with pytest.raises(HarnessError, match="nowhere: no such results folder"):
        api.merge([grids["a"], tmp_path / "nowhere"], into)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="empty: no cells to merge"):
        api.merge([tmp_path / "empty"], into)
    broken = tmp_path / "broken"
    shutil.copytree(grids["b"], broken)
    next((broken / "cells").rglob("*.predictions.parquet")).write_bytes(b"cut short")
    with pytest.raises(HarnessError, match=r"predictions\.parquet: sha256 differs from its sidecar's"):
        api.merge([grids["a"], broken], into)
    with pytest.raises(HarnessError, match="given as a source and as --into"):
        api.merge([grids["a"]], grids["a"])
    assert not into.exists()
