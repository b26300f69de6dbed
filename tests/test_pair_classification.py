"""PairClassification task folders: validation (every problem at once, one line each), mteb's
AbsTaskPairClassification through the harness's real cell path (seeded mock encoder, exact scores), per-pair
predictions that re-derive mteb's similarity_ap, and the paired statistics over pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.run import local as runner
from harness.stats import engine
from harness.stats.metrics import metric_for
from harness.taskspecs.local import LocalTask, TaskRegistry
from tests.test_stats import tiny_tasks

EXPECTED_AP = 41 / 45  # the mock's similarities rank the 5 label-1 pairs at 1, 2, 3, 5, 9 (of 10)

# mteb stores scores to 6 decimals
EXPECTED_SCALE = {("none", "eng"): 0.450542, ("blog", "eng"): 0.457134, ("none", "deu"): 0.485438,
                  ("blog", "deu"): 0.445163}

SPEC = """name: Bad
type: PairClassification
description: d
reference: https://example.org
subsets: {eng: [eng-Latn], deu: [deu-Latn]}
main_score: similarity_ap
date: ["2026-01-01", "2026-01-01"]
domains: [Written]
license: cc-by-4.0
annotations_creators: expert-annotated
sample_creation: created
data: pairs.csv
"""


def _folder(tmp_path: Path, rows: list[tuple[str, str, str, str, str]], spec: str = SPEC) -> Path:
    f = tmp_path / "Bad"
    f.mkdir()
    (f / "task.yaml").write_text(spec)
    pd.DataFrame(rows, columns=["subset", "split", "sentence1", "sentence2", "label"]).to_csv(f / "pairs.csv",
                                                                                           index=False)
    return f


def test_every_data_problem_is_one_line_at_once(tmp_path: Path) -> None:
    rows = [("eng", "test", "hot", "warm", "1"), ("eng", "test", "hot", "cold", "0"),
            ("eng", "test", "warm", "hot", "1"),  # the first pair again, in the other order
            ("eng", "test", "icy", "", "0"),  # an empty text
            ("eng", "test", "icy", "cool", "yes"),  # a label that is not 0/1
            ("eng", "dev", "sun", "fire", "1")]  # an undeclared split; deu has no rows at all
    task = LocalTask(_folder(tmp_path, rows))
    with pytest.raises(HarnessError) as e:
        task.check_data()
    path = tmp_path / "Bad" / "pairs.csv"
    assert e.value.lines() == [
        f"{path}: row 4: duplicate pair 'hot' / 'warm' (also row 2)",
        f"{path}: row 5: empty 'sentence2'",
        f"{path}: row 6: label 'yes' is not 0 or 1",
        f"{path}: split 'dev' is not declared in task.yaml",
        f"{path}: no rows for subset 'deu' split 'test'",
    ]


def test_a_split_with_one_label_is_refused(tmp_path: Path) -> None:
    rows = [("eng", "test", "hot", "warm", "1"), ("eng", "test", "cold", "icy", "1"),
            ("deu", "test", "heiß", "kalt", "0"), ("deu", "test", "warm", "kühl", "1")]
    with pytest.raises(HarnessError) as e:
        LocalTask(_folder(tmp_path, rows)).check_data()
    assert e.value.lines() == [f"{tmp_path / 'Bad' / 'pairs.csv'}: subset 'eng' split 'test': every pair has label 1 "
                               "(average precision needs pairs of both labels)"]


def test_only_similarity_ap_is_a_main_score(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="main_score"):
        LocalTask(_folder(tmp_path, [], SPEC.replace("similarity_ap", "max_ap")))


def test_per_pair_similarities_re_derive_mtebs_average_precision(tmp_path: Path) -> None:
    from sklearn.metrics import average_precision_score

    registry = TaskRegistry(tiny_tasks(tmp_path / "tasks"))
    out = tmp_path / "results"
    summary = runner.run([mock_spec()], tasks=["TinyPairClassification"], conditions=["none"], results_dir=out,
                         registry=registry, progress=False, cache=False)
    assert not summary.failed
    side = json.loads(next((out / "cells").glob("*/*/none/TinyPairClassification.json")).read_text())
    frame = pd.read_parquet(out / side["predictions_file"])
    assert list(frame["item"]) == list(range(10)) and list(frame["gold"]) == [float(i % 2) for i in range(10)]
    assert average_precision_score(frame.gold, frame.prediction) == pytest.approx(EXPECTED_AP, abs=1e-12)
    assert engine.recompute("PairClassification", "similarity_ap", frame) == pytest.approx(EXPECTED_AP, abs=1e-12)
    result = json.loads((out / side["result_file"]).read_text())
    assert result["scores"]["test"][0]["similarity_ap"] == pytest.approx(EXPECTED_AP, abs=5e-7)
    assert engine.resample_units("PairClassification", 10).kind == "item"


def test_weighted_average_precision_equals_sklearns_with_sample_weights() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(3)
    gold = (rng.random(40) < 0.4).astype(np.float64)
    pred = np.round(rng.random(40), 1)  # ties
    w = rng.integers(0, 3, (5, 40)).astype(np.float64)
    m = metric_for("PairClassification", "similarity_ap")
    assert m is not None
    got = m.weighted({"gold": gold, "pred": pred}, w)
    want = [average_precision_score(gold, pred, sample_weight=row) for row in w]
    assert got == pytest.approx(want, abs=1e-12)
    assert m.score({"gold": gold[None, :], "pred": pred[None, :]})[0] == pytest.approx(
        average_precision_score(gold, pred), abs=1e-12)


def test_scale_end_pairs_deltas_are_paired_over_pairs_with_a_permutation_p(tmp_path: Path) -> None:
    from harness import api
    from harness.analysis.aggregate import aggregate

    task = "ScaleEndPairClassification"
    summary = api.run([mock_spec()], tasks=[task], conditions=["none", "blog"], results_dir=tmp_path,
                      progress=False)
    assert not summary.failed
    lb, d = aggregate(tmp_path)
    ap = lb[(lb.metric == "similarity_ap") & lb.is_main].set_index(["condition", "subset"]).score
    assert ap.to_dict() == pytest.approx(EXPECTED_SCALE, abs=5e-7)
    rows = d[(d.metric == "similarity_ap") & (d.condition == "blog") & (d.baseline == "none")].set_index("subset")
    assert rows.resample_unit.to_dict() == {"eng": "item", "deu": "item"}
    assert rows.n_units.to_dict() == {"eng": 109, "deu": 109}
    for subset, r in rows.iterrows():
        assert r.delta == pytest.approx(EXPECTED_SCALE[("blog", subset)] - EXPECTED_SCALE[("none", subset)],
                                        abs=1e-6)
        assert r.ci_low <= r.delta <= r.ci_high and 0 < r.p_value <= 1 and r.p_method == "permutation", subset


