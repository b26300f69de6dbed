"""Classification task folders: validation (every problem at once), mteb's AbsTaskClassification fitted once per
cell through the harness's real cell path (seeded mock encoder, exact scores), per-item predictions that re-derive
mteb's accuracy, and the paired statistics over test items."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.run import local as runner
from harness.stats import engine
from harness.taskspecs.local import LocalTask, TaskRegistry
from tests.test_stats import tiny_tasks

EXPECTED_ACCURACY = 0.25  # 3 of 12: the mock's embeddings carry no label information
# correct test items of 36 (eng) and 18 (deu); mteb stores scores to 6 decimals
EXPECTED_TEMPERATURE = {("none", "eng"): 7 / 36, ("blog", "eng"): 13 / 36, ("none", "deu"): 7 / 18,
                        ("blog", "deu"): 4 / 18}

SPEC = """name: Bad
type: Classification
description: d
reference: https://example.org
subsets: {eng: [eng-Latn], deu: [deu-Latn]}
main_score: accuracy
date: ["2026-01-01", "2026-01-01"]
domains: [Written]
license: cc-by-4.0
annotations_creators: expert-annotated
sample_creation: created
data: items.csv
"""


def _folder(tmp_path: Path, spec: str, rows: list[tuple[str, str, str, str]]) -> Path:
    f = tmp_path / "Bad"
    f.mkdir()
    (f / "task.yaml").write_text(spec)
    pd.DataFrame(rows, columns=["subset", "split", "text", "label"]).to_csv(f / "items.csv", index=False)
    return f


def test_every_data_problem_is_one_line_at_once(tmp_path: Path) -> None:
    rows = [("eng", "train", "ice", "cold"), ("eng", "train", "fire", "hot"), ("eng", "test", "snow", "cold"),
            ("eng", "test", "tea", "mild"),  # a label the train split never shows
            ("eng", "test", "snow", "hot"),  # the same text twice in one split
            ("deu", "test", "Eis", "cold"),  # deu has no train split
            ("eng", "dev", "sun", "hot")]  # an undeclared split
    task = LocalTask(_folder(tmp_path, SPEC, rows))
    with pytest.raises(HarnessError) as e:
        task.check_data()
    path = tmp_path / "Bad" / "items.csv"
    assert e.value.lines() == [
        f"{path}: split 'dev' is not declared in task.yaml (splits: train, test)",
        f"{path}: subset 'eng' split 'test': label 'mild' never occurs in train",
        f"{path}: no rows for subset 'deu' split 'train'",
        f"{path}: row 6: duplicate text 'snow' in its subset and split",
    ]


def test_train_is_not_an_evaluation_split(tmp_path: Path) -> None:
    folder = _folder(tmp_path, SPEC.replace("data: items.csv", "data: items.csv\nsplits: [train, test]"), [])
    with pytest.raises(HarnessError, match=r"splits.*'train' is the training split"):
        LocalTask(folder)


def test_one_fitted_classifier_per_cell_and_predictions_re_derive_mtebs_accuracy(tmp_path: Path) -> None:

    registry = TaskRegistry(tiny_tasks(tmp_path / "tasks"))
    out = tmp_path / "results"
    summary = runner.run([mock_spec()], tasks=["TinyClassification"], conditions=["none", "blog"],
                         results_dir=out, registry=registry, progress=False, cache=False)
    assert not summary.failed
    side = json.loads(next((out / "cells").glob("*/*/none/TinyClassification.json")).read_text())
    frame = pd.read_parquet(out / side["predictions_file"])
    assert len(frame) == 12 and list(frame["item"]) == list(range(12))  # one row per test item
    assert list(frame["gold"]) == [float(i % 3) for i in range(12)]  # labels a, b, c → 0, 1, 2
    accuracy = float((frame.gold == frame.prediction).mean())
    assert accuracy == EXPECTED_ACCURACY
    assert engine.recompute("Classification", "accuracy", frame) == pytest.approx(accuracy, abs=1e-12)
    assert engine.resample_units("Classification", 12).kind == "item"


def test_temperature_classification_deltas_are_paired_over_test_items(tmp_path: Path) -> None:
    from harness import api
    from harness.analysis.aggregate import aggregate

    task = "TemperatureSensationClassification"
    summary = api.run([mock_spec()], tasks=[task], conditions=["none", "blog"], results_dir=tmp_path,
                      progress=False)
    assert not summary.failed
    lb, d = aggregate(tmp_path)
    acc = lb[(lb.metric == "accuracy") & (lb.split == "test")].set_index(["condition", "subset"]).score
    assert acc.to_dict() == pytest.approx(EXPECTED_TEMPERATURE, abs=5e-7)
    rows = d[(d.metric == "accuracy") & (d.condition == "blog")].set_index("subset")
    assert rows.resample_unit.to_dict() == {"eng": "item", "deu": "item"}
    assert rows.n_units.to_dict() == {"eng": 36, "deu": 18}
    for subset, r in rows.iterrows():
        assert r.delta == pytest.approx(EXPECTED_TEMPERATURE[("blog", subset)] - EXPECTED_TEMPERATURE[("none", subset)],
                                        abs=1e-6)
        assert r.ci_low <= r.delta <= r.ci_high and 0 < r.p_value <= 1 and r.p_method == "permutation", subset
