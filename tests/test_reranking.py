"""Reranking task folders (the Retrieval files + ``candidates``): validation of every problem at once, mteb's
AbsTaskRetrieval with ``top_ranked`` through the harness's real cell path (seeded mock encoder), per-query
predictions restricted to the candidates that re-derive mteb's main score, resampled by query; the committed
DeEnTranslationReranking task equals its build script's output."""

from __future__ import annotations

import importlib.util
import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec, mock_vector
from harness.run import local as runner
from harness.stats import engine
from harness.taskspecs.local import LocalTask, TaskRegistry
from tests.conftest import ROOT

EXPECTED_NDCG = 0.44894  # the mock carries no meaning: about chance among 6 candidates (mteb keeps 5 decimals)

SPEC = textwrap.dedent("""\
    name: TinyReranking
    type: Reranking
    description: tiny reranking task
    reference: https://example.org
    subsets: {default: [eng-Latn]}
    main_score: ndcg_at_10
    splits: [test]
    date: ["2026-01-01", "2026-01-01"]
    domains: [Written]
    license: cc-by-4.0
    annotations_creators: expert-annotated
    sample_creation: created
    data: {corpus: corpus.csv, queries: queries.csv, qrels: qrels.csv, candidates: candidates.csv}
    """)


def tiny_reranking(root: Path, candidates: list[tuple[str, str]] | None = None,
                   qrels: list[tuple[str, str, int]] | None = None) -> Path:
    """8 queries, 24 documents; query q<i> reranks d<i> (relevant) and the 5 documents after it (cyclically)."""
    t = root / "TinyReranking"
    t.mkdir(parents=True)
    (t / "task.yaml").write_text(SPEC)
    pd.DataFrame({"id": [f"d{i}" for i in range(24)], "text": [f"word{i} text" for i in range(24)]}).to_csv(
        t / "corpus.csv", index=False)
    pd.DataFrame({"id": [f"q{i}" for i in range(8)], "text": [f"word{i} query" for i in range(8)]}).to_csv(
        t / "queries.csv", index=False)
    rel = qrels if qrels is not None else [(f"q{i}", f"d{i}", 1) for i in range(8)]
    pd.DataFrame(rel, columns=["query_id", "doc_id", "score"]).to_csv(t / "qrels.csv", index=False)
    cand = candidates if candidates is not None else [(f"q{i}", f"d{(i + k) % 24}") for i in range(8)
                                                       for k in range(6)]
    pd.DataFrame(cand, columns=["query_id", "doc_id"]).to_csv(t / "candidates.csv", index=False)
    return root


def _independent_ranks() -> list[int]:
    """Rank (1-based) of q<i>'s relevant d<i> among its 6 candidates by cosine of the mock vectors, by hand."""
    ranks = []
    for i in range(8):
        q = mock_vector(f"word{i} query").astype(np.float64)
        sims = []
        for k in range(6):
            d = mock_vector(f"word{(i + k) % 24} text").astype(np.float64)
            sims.append(float(q @ d / (np.linalg.norm(q) * np.linalg.norm(d))))
        ranks.append(1 + sum(s > sims[0] for s in sims[1:]))
    return ranks


def test_expected_ndcg_is_computed_independently_of_mteb() -> None:
    ranks = _independent_ranks()
    # one relevant document per query: nDCG@10 = 1 / log2(rank + 1) (ideal DCG = 1), averaged over queries
    assert round(float(np.mean([1 / math.log2(r + 1) for r in ranks])), 5) == EXPECTED_NDCG


def test_every_candidates_problem_is_one_line_at_once(tmp_path: Path) -> None:
    cand = [(f"q{i}", f"d{i}") for i in range(1, 7)]  # q0 and q7 have none
    cand += [("q1", "d1"), ("q9", "d1"), ("q2", "d99")]  # a duplicate, an unknown query, an unknown document
    qrels = [(f"q{i}", f"d{i}", 1) for i in range(8)] + [("q3", "d5", 1)]  # d5 is not among q3's candidates
    root = tiny_reranking(tmp_path / "tasks", cand, qrels)
    task = LocalTask(root / "TinyReranking")
    with pytest.raises(HarnessError) as e:
        task.check_data()
    path = root / "TinyReranking" / "candidates.csv"
    assert e.value.lines() == [
        f"{path}: query_id 'q9' not in the queries file (default/test)",
        f"{path}: doc_id 'd99' not in the corpus file (default/test)",
        f"{path}: candidate 'd1' listed twice for query 'q1' (default/test)",
        f"{path}: query 'q0' has no candidates (default/test; 2 such queries)",
        f"{path}: relevant document 'd0' of query 'q0' is not among its candidates (default/test; 3 such pairs)",
    ]


def test_bad_candidates_and_specs_are_one_line_each_exit_2_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TASKS_PATH", "")  # --tasks-dir writes it: restored after this test
    root = tiny_reranking(tmp_path / "tasks")
    folder = root / "TinyReranking"
    (folder / "candidates.csv").write_text("query_id,document\nq0,d0\n")  # a column misnamed
    assert main(["validate", str(folder)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {folder / 'candidates.csv'}: missing column(s) doc_id; has query_id, document"]
    out = tmp_path / "results"
    # refused before any model is loaded: the problem, and that nothing ran
    assert main(["run", "--model", "minilm", "--tasks-dir", str(root), "--tasks", "TinyReranking",
                 "--conditions", "none", "--results", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {folder / 'candidates.csv'}: missing column(s) doc_id; has query_id, document",
        "error: nothing was run: 1 of 1 tasks (TinyReranking) is invalid; fix them (no valid task is left to run)"]
    assert not out.exists()
    # a reranking task.yaml that names no candidates file: the field, with its line
    (folder / "task.yaml").write_text(SPEC.replace(", candidates: candidates.csv", ""))
    assert main(["validate", str(folder)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {folder / 'task.yaml'}:13: field 'data.candidates': Field required"]


def test_reranking_scores_only_candidates_and_predictions_re_derive_mtebs_score(tmp_path: Path) -> None:
    registry = TaskRegistry(tiny_reranking(tmp_path / "tasks"))
    out = tmp_path / "results"
    summary = runner.run([mock_spec()], tasks=["TinyReranking"], conditions=["none"], results_dir=out,
                         registry=registry, progress=False, cache=False)
    assert not summary.failed
    side = json.loads(next((out / "cells").glob("*/*/none/TinyReranking.json")).read_text())
    assert side["task_type"] == "Reranking"
    frame = pd.read_parquet(out / side["predictions_file"])
    assert list(frame["query_id"]) == [f"q{i}" for i in range(8)]  # one row per (query, relevant document)
    # ranked among its 6 candidates, never among all 24 documents: the ranks computed by hand
    assert [int(r) for r in frame["rank"]] == _independent_ranks()
    result = json.loads(next(p for p in out.rglob("TinyReranking.json") if "cells" not in p.parts).read_text())
    main_score = result["scores"]["test"][0]["main_score"]
    assert main_score == pytest.approx(EXPECTED_NDCG, abs=5e-7)
    assert engine.recompute("Reranking", "ndcg_at_10", frame) == pytest.approx(main_score, abs=5e-6)
    assert engine.resample_units("Reranking", 8).kind == "query"


def test_committed_task_equals_its_build_script_and_is_a_valid_reranking_task(tmp_path: Path) -> None:
    folder = ROOT / "tasks" / "DeEnTranslationReranking"
    spec = importlib.util.spec_from_file_location("build_reranking", folder / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for stem, rows in build.tables().items():
        committed = pd.read_csv(folder / f"{stem}.csv", dtype=str, keep_default_na=False)
        assert committed.to_dict("records") == rows, stem
    task = TaskRegistry().get("DeEnTranslationReranking")
    assert task.type == "Reranking"
    task.check_data()
    cand = pd.read_csv(folder / "candidates.csv")
    assert len(cand) == 1000 * 21 and (cand.groupby("query_id").size() == 21).all()
