"""The grid on the seeded mock encoder: exact scores, exact strings, mteb layout, reuse and staleness."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from harness import api
from harness.analysis.aggregate import aggregate
from harness.models.mock import MockEmbedder, mock_spec, mock_vector
from tests.conftest import ROOT

TASK = "TemperatureBySensation"
BLOG = "Classify a given temperature by its sensation. "


def expected_spearman(subset: str, prefix: str) -> float:
    with (ROOT / "tasks" / TASK / "pairs.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["subset"] == subset]
    gold = [float(r["score"]) for r in rows]
    pred = []
    for r in rows:
        a, b = mock_vector(prefix + r["sentence1"]), mock_vector(prefix + r["sentence2"])
        pred.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    return float(spearmanr(gold, pred).statistic)


@pytest.fixture
def ran(tmp_path: Path, mock_embedder: MockEmbedder):
    summary = api.run([mock_spec(mock_embedder)], tasks=[TASK], conditions=["none", "blog"],
                      results_dir=tmp_path, progress=False)
    board, deltas = aggregate(tmp_path)
    return summary, board, deltas, mock_embedder


def main_score(board, condition: str, subset: str) -> float:
    row = board[(board.condition == condition) & (board.subset == subset) & board.is_main]
    assert len(row) == 1
    return float(row.score.iloc[0])


def test_exact_scores_match_an_independent_computation(ran) -> None:
    summary, board, _, _ = ran
    assert len(summary.ran) == 2 and not summary.failed
    for cond, prefix in (("none", ""), ("blog", BLOG)):
        for subset in ("sensation", "relation"):
            # mteb stores 6 decimals
            assert main_score(board, cond, subset) == pytest.approx(expected_spearman(subset, prefix), abs=5e-7)
    # pinned: guards against any silent change in data, prompts or scoring
    assert main_score(board, "none", "sensation") == pytest.approx(PINNED["none/sensation"], abs=1e-9)
    assert main_score(board, "blog", "relation") == pytest.approx(PINNED["blog/relation"], abs=1e-9)


PINNED = {"none/sensation": -0.002775, "blog/relation": -0.004178}


def test_exact_strings_reach_the_encoder(ran) -> None:
    _, _, _, emb = ran
    words = {r["word"] for r in csv.DictReader((ROOT / "tasks" / TASK / "words.csv").open(encoding="utf-8"))}
    seen = set(emb.encoded)
    assert words <= seen  # `none`: the raw text, nothing added
    assert {BLOG + w for w in words} <= seen  # `blog`: the instruction in the default template
    assert seen == words | {BLOG + w for w in words}


def test_deltas_are_condition_minus_none(ran) -> None:
    _, board, deltas, _ = ran
    d = deltas[(deltas.condition == "blog") & deltas.is_main & (deltas.subset == "sensation")]
    assert len(d) == 1
    expected = main_score(board, "blog", "sensation") - main_score(board, "none", "sensation")
    assert d.delta.iloc[0] == pytest.approx(expected)
    assert set(deltas.condition) == {"blog"}


def test_mteb_result_cache_reads_every_condition(ran, tmp_path: Path) -> None:
    import mteb

    res = mteb.ResultCache(tmp_path).load_results(load_experiments="match_name")
    by_exp = {m.experiment_name: m for m in res.model_results}
    assert set(by_exp) == {"condition_none", "condition_blog"}
    for m in by_exp.values():
        assert m.model_name == "harness/mock-seeded-encoder" and m.model_revision == "1"
        assert [t.task_name for t in m.task_results] == [TASK]


def test_sidecar_records_exact_prompts_and_hash(ran, tmp_path: Path) -> None:
    side = json.loads(next((tmp_path / "cells").glob(f"*/*/blog/{TASK}.json")).read_text())
    assert side["prompts"] == {"query": BLOG, "document": BLOG}  # symmetric STS: both texts get the query side
    assert len(side["prompts_sha256"]) == 64
    assert side["n_items"] == {"relation": {"test": 595}, "sensation": {"test": 595}}


def test_rerun_reuses_and_changes_rerun(ran, tmp_path: Path) -> None:
    emb = MockEmbedder()
    again = api.run([mock_spec(emb)], tasks=[TASK], conditions=["none", "blog"], results_dir=tmp_path, progress=False)
    assert len(again.reused) == 2 and not again.ran and emb.calls == []
    # a new model revision is a new cell
    other = api.run([mock_spec(emb, revision="2")], tasks=[TASK], conditions=["none"], results_dir=tmp_path,
                    progress=False)
    assert len(other.ran) == 1
