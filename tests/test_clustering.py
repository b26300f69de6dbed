"""Clustering task folders: validation (every problem at once, one line each), mteb's AbsTaskClustering with one
seeded k-means run on every text through the harness's real cell path (seeded mock encoder, exact scores),
per-text assignments that re-derive mteb's v-measure, and the bootstrap over texts (no permutation test)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.run import local as runner
from harness.stats import engine
from harness.stats.metrics import metric_for
from harness.stats.permutation import NO_PERMUTATION
from harness.taskspecs.local import LocalTask, TaskRegistry
from tests.test_stats import tiny_tasks

EXPECTED_ASSIGNED = [0, 2, 1, 1, 0, 0, 2, 2, 1, 0, 2, 2, 0, 2, 1]  # the one k-means run's clusters of the 15 texts
# mteb stores scores to 6 decimals
EXPECTED_SCALE = {("none", "eng"): 0.033241, ("blog", "eng"): 0.053939, ("none", "deu"): 0.039331,
                  ("blog", "deu"): 0.048611}

SPEC = """name: Bad
type: Clustering
description: d
reference: https://example.org
subsets: {eng: [eng-Latn], deu: [deu-Latn]}
main_score: v_measure
date: ["2026-01-01", "2026-01-01"]
domains: [Written]
license: cc-by-4.0
annotations_creators: expert-annotated
sample_creation: created
data: items.csv
"""


def _folder(tmp_path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    f = tmp_path / "Bad"
    f.mkdir()
    (f / "task.yaml").write_text(SPEC)
    pd.DataFrame(rows, columns=["subset", "split", "text", "label"]).to_csv(f / "items.csv", index=False)
    return f


def test_every_data_problem_is_one_line_at_once(tmp_path: Path) -> None:
    rows = [("eng", "test", "hot", "temperature"), ("eng", "test", "fast", "speed"),
            ("eng", "test", "hot", "speed"),  # the same text twice
            ("eng", "test", "", "speed"),  # an empty text
            ("deu", "test", "heiß", "temperature"), ("deu", "test", "kalt", "temperature"),  # one cluster only
            ("eng", "dev", "slow", "speed")]  # an undeclared split
    with pytest.raises(HarnessError) as e:
        LocalTask(_folder(tmp_path, rows)).check_data()
    path = tmp_path / "Bad" / "items.csv"
    assert e.value.lines() == [
        f"{path}: row 4: duplicate text 'hot' in its subset and split",
        f"{path}: row 5: empty 'text'",
        f"{path}: split 'dev' is not declared in task.yaml",
        f"{path}: subset 'deu' split 'test': one cluster only ('temperature'); clustering needs at least two labels",
    ]


def test_one_k_means_run_on_every_text_re_derives_mtebs_v_measure(tmp_path: Path) -> None:
    from sklearn.metrics import v_measure_score

    registry = TaskRegistry(tiny_tasks(tmp_path / "tasks"))
    out = tmp_path / "results"
    summary = runner.run([mock_spec()], tasks=["TinyClustering"], conditions=["none"], results_dir=out,
                         registry=registry, progress=False, cache=False)
    assert not summary.failed
    side = json.loads(next((out / "cells").glob("*/*/none/TinyClustering.json")).read_text())
    frame = pd.read_parquet(out / side["predictions_file"])
    assert list(frame["item"]) == list(range(15))  # every text once, in the data's order
    assert list(frame["gold"]) == [float(i % 3) for i in range(15)]
    assert list(frame["prediction"]) == [float(c) for c in EXPECTED_ASSIGNED]
    want = v_measure_score([i % 3 for i in range(15)], EXPECTED_ASSIGNED)
    result = json.loads((out / side["result_file"]).read_text())["scores"]["test"][0]
    assert result["v_measure"] == pytest.approx(want, abs=5e-7) and result["v_measure_std"] == 0  # one run
    assert engine.recompute("Clustering", "v_measure", frame) == pytest.approx(want, abs=1e-12)
    assert engine.resample_units("Clustering", 15).kind == "item"


def test_weighted_v_measure_equals_sklearn_on_the_resampled_texts() -> None:
    from sklearn.metrics import v_measure_score

    rng = np.random.default_rng(4)
    gold = rng.integers(0, 4, 30).astype(np.float64)
    pred = rng.integers(0, 3, 30).astype(np.float64)
    m = metric_for("Clustering", "v_measure")
    assert m is not None
    idx = rng.integers(0, 30, (6, 30))
    w = np.stack([np.bincount(r, minlength=30) for r in idx]).astype(np.float64)
    assert m.weighted({"gold": gold, "pred": pred}, w) == pytest.approx(
        [v_measure_score(gold[r], pred[r]) for r in idx], abs=1e-12)
    assert m.score({"gold": np.zeros((1, 5)), "pred": np.zeros((1, 5))})[0] == 1.0  # sklearn: both entropies 0


def test_scale_word_clustering_deltas_have_an_interval_and_no_permutation_p(tmp_path: Path) -> None:
    from harness import api
    from harness.analysis.aggregate import aggregate

    task = "ScaleWordClustering"
    summary = api.run([mock_spec()], tasks=[task], conditions=["none", "blog"], results_dir=tmp_path,
                      progress=False)
    assert not summary.failed
    lb, d = aggregate(tmp_path)
    vm = lb[(lb.metric == "v_measure") & lb.is_main].set_index(["condition", "subset"]).score
    assert vm.to_dict() == pytest.approx(EXPECTED_SCALE, abs=5e-7)
    rows = d[(d.metric == "v_measure") & (d.condition == "blog") & (d.baseline == "none")].set_index("subset")
    assert rows.n_units.to_dict() == {"eng": 227, "deu": 227}
    for subset, r in rows.iterrows():
        assert r.delta == pytest.approx(EXPECTED_SCALE[("blog", subset)] - EXPECTED_SCALE[("none", subset)],
                                        abs=1e-6)
        assert r.ci_low <= r.delta <= r.ci_high and math.isnan(r.p_value) and r.p_method == "none", subset
    assert "cluster ids are arbitrary" in NO_PERMUTATION["vmeasure"]
