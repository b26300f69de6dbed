"""Task families: tasks that declare the same family are summarised together in family.parquet, the console and the
report — the mean main score and its delta with word-level intervals, and the claims that hold or flip."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import api
from harness.analysis.tables import family_table
from harness.models.mock import mock_spec
from harness.run import local as runner
from harness.taskspecs.local import TaskRegistry
from tests.conftest import ROOT, STORED, STORED_DIFF, stored_sd

FAMILY = ["ScaleSize", "ScaleSpeed", "ScaleWeight"]


@pytest.fixture(scope="module")
def family_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("family")
    root = tmp / "tasks"
    for name in [*FAMILY, "TemperatureBySensation"]:  # the temperature task has no family: left out
        shutil.copytree(ROOT / "tasks" / name, root / name)
    out = tmp / "results"
    runner.run([mock_spec()], tasks=None, conditions=["none", "blog"], results_dir=out, progress=False,
               registry=TaskRegistry(root))
    board, _ = api.aggregate(out)
    return out, board, pd.read_parquet(out / "family.parquet")


def test_family_mean_is_the_mean_of_the_tasks_main_scores(family_results) -> None:
    _, board, fam = family_results
    assert set(fam.family) == {"scales"} and set(fam.n_tasks) == {3}
    assert set(fam.subset) == {"scale", "relation", "scale_deu", "relation_deu"}
    main = board[(board.kind == "mteb") & board.is_main]
    for r in fam.itertuples():
        scores = main[(main.task.isin(FAMILY)) & (main.subset == r.subset) & (main.condition == r.condition)]
        assert sorted(scores.task) == sorted(r.tasks.split(","))
        assert r.mean_score == pytest.approx(scores.score.mean(), abs=STORED)
        base = main[(main.task.isin(FAMILY)) & (main.subset == r.subset) & (main.condition == "none")]
        assert r.delta == pytest.approx(scores.score.mean() - base.score.mean(), abs=STORED_DIFF)
        assert r.score_ci_low < r.mean_score < r.score_ci_high
        if r.condition == "blog":
            assert r.delta_ci_low < r.delta < r.delta_ci_high
            assert r.delta_sd_tasks == pytest.approx(np.std(
                scores.set_index("task").score - base.set_index("task").score, ddof=1), abs=stored_sd(len(scores)))
        assert "text" in r.resample_unit and r.n_bootstrap == 2000


def test_family_interval_is_narrower_than_one_tasks(family_results) -> None:
    out, _, fam = family_results
    d = pd.read_parquet(out / "deltas.parquet")
    one = d[(d.kind == "mteb") & d.is_main & (d.condition == "blog") & (d.baseline == "none")
            & (d.subset == "scale")]
    mean = fam[(fam.condition == "blog") & (fam.subset == "scale")].iloc[0]
    assert set(one.resample_unit) == {"text"}
    assert (mean.delta_ci_high - mean.delta_ci_low) < (one.ci_high - one.ci_low).mean()


def test_claims_are_counted_and_flips_are_against_none(family_results) -> None:
    _, board, fam = family_results
    claims = board[(board.kind == "probe") & board.metric.str.startswith("claim:") & board.task.isin(FAMILY)]
    for cond in ("none", "blog"):
        holds = int(claims[claims.condition == cond].score.sum())
        assert set(fam[fam.condition == cond].claims_hold) == {holds}
    now = claims[claims.condition == "blog"].set_index("task").score
    then = claims[claims.condition == "none"].set_index("task").score
    assert set(fam[fam.condition == "blog"].claims_flipped) == {int((now != then).sum())}
    assert set(fam[fam.condition == "none"].claims_flipped) == {0}


def test_family_shows_in_console_and_report(family_results) -> None:
    out, _, fam = family_results
    text = family_table(fam)
    assert text.splitlines()[0].startswith("family") and "scales" in text and "blog" in text
    html = (out / "report.html").read_text()
    assert "Task families" in html and "family.scales.svg" not in html  # inline, not linked
    assert html.count('class="family-multiples"') == 1 and ">ScaleSize</text>" in html
    assert (out / "report_files" / "family.scales.svg").exists()


def test_a_second_summary_reuses_every_row_and_equals_the_first(
        family_results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.analysis import family

    out, board, _ = family_results
    monkeypatch.setenv("HARNESS_STATS_CACHE", str(tmp_path / "stats"))
    first = family.summarise(out, board, n_bootstrap=200)
    assert len(first) > 0
    computed = 0
    real = family._part

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal computed
        computed += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(family, "_part", counting)
    second = family.summarise(out, board, n_bootstrap=200)
    assert computed == 0  # every row's replicates came from the cache
    pd.testing.assert_frame_equal(first, second)  # bit for bit: the replicates are stored as float64
    # another number of resamples is another key: computed again, one contribution per task, view and condition
    third = family.summarise(out, board, n_bootstrap=100)
    assert computed == sum(r.n_tasks for r in third.itertuples())
    off = tmp_path / "off"
    monkeypatch.setenv("HARNESS_STATS_CACHE", "off")
    computed = 0
    pd.testing.assert_frame_equal(family.summarise(out, board, n_bootstrap=200), first)  # the cache changes nothing
    assert computed > 0 and not off.exists()
