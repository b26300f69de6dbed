"""Resampling units end to end: predictions carry an STS pair's texts, aggregate infers (or takes the task's stated)
unit and records it in deltas.parquet, and deltas whose interval and test disagree are listed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import api
from harness.analysis.aggregate import disagreement_lines, disagreements
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.run import local as runner
from harness.taskspecs.local import LocalTask, TaskRegistry
from tests.conftest import ROOT

TEMP = "TemperatureBySensation"


def _tasks(tmp_path: Path, unit: str | None = None) -> Path:
    root = tmp_path / "tasks"
    shutil.copytree(ROOT / "tasks" / TEMP, root / TEMP)
    if unit is not None:
        spec = root / TEMP / "task.yaml"
        spec.write_text(spec.read_text() + f"resample_unit: {unit}\n")
    return root


def _run(tmp_path: Path, root: Path) -> pd.DataFrame:
    out = tmp_path / "results"
    runner.run([mock_spec()], tasks=[TEMP], conditions=["none", "blog"], results_dir=out, progress=False,
               registry=TaskRegistry(root))
    _, d = api.aggregate(out)
    return d[(d.kind == "mteb") & d.is_main & (d.condition == "blog")].set_index("subset")


def test_word_pair_task_is_resampled_by_word(tmp_path: Path) -> None:
    d = _run(tmp_path, _tasks(tmp_path))
    words = len(pd.read_csv(ROOT / "tasks" / TEMP / "words.csv"))
    assert set(d.resample_unit) == {"text"} and set(d.n_units) == {words}
    assert (d.ci_scale > 0).all() and d.ci_low.notna().all() and d.p_value.notna().all()
    preds = pd.read_parquet(next((tmp_path / "results" / "cells").rglob(f"none/{TEMP}.predictions.parquet")))
    assert preds.text1.notna().all() and preds.text2.notna().all()
    assert {"warm", "cold"} <= set(preds.text1) | set(preds.text2)  # the raw words, no prefix


def test_a_task_may_state_its_unit(tmp_path: Path) -> None:
    d = _run(tmp_path, _tasks(tmp_path, unit="item"))
    assert set(d.resample_unit) == {"item"} and set(d.n_units) == {595}


def test_the_unit_changes_the_interval_not_the_delta(tmp_path: Path) -> None:
    # (which unit gives the honest width is the calibration tests' business: tests/test_stats_calibration.py)
    by_word = _run(tmp_path / "a", _tasks(tmp_path / "a"))
    by_pair = _run(tmp_path / "b", _tasks(tmp_path / "b", unit="item"))
    assert by_word.delta.equals(by_pair.delta)
    assert not np.allclose(by_word.ci_low, by_pair.ci_low) and not np.allclose(by_word.ci_high, by_pair.ci_high)
    assert set(by_pair.ci_scale) == {1.0} and (by_word.ci_scale != 1.0).all()


def test_a_unit_the_task_type_cannot_have_is_one_line(tmp_path: Path) -> None:
    root = _tasks(tmp_path, unit="query")
    with pytest.raises(HarnessError, match=r"task\.yaml:\d+: field 'resample_unit': 'query' is not one of text, item"):
        LocalTask(root / TEMP)


def test_disagreeing_interval_and_test_are_listed() -> None:
    d = pd.DataFrame({
        "alias": ["m"] * 4, "task": ["T"] * 4, "subset": ["a", "b", "c", "d"], "condition": ["blog"] * 4,
        "baseline": ["none"] * 4, "resample_unit": ["text"] * 4,
        "ci_low": [0.01, 0.02, -0.10, -0.05], "ci_high": [0.20, 0.30, 0.10, 0.04],
        "p_value": [0.10, 0.001, 0.03, 0.40],
    })
    assert list(disagreements(d).subset) == ["a", "c"]  # excludes 0 with p ≥ .05; includes 0 with p < .05
    lines = disagreement_lines(d)
    assert lines[0] == ("m/T/a blog − none: 95% CI [+0.0100, +0.2000] excludes 0 but permutation p = 0.1000 "
                        "(unit: text)")
    assert "includes 0" in lines[1]
