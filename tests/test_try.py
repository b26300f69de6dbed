"""`harness try` (issue 27, item 3): the origin's table in one command — pair cosines without and with each
instruction, through the exact-prefix planner and embedding cache of `run`; the Spearman delta with the shared
statistics when the pairs carry gold; `--save` writes a task folder + set file that `harness run` accepts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from harness import api
from harness.analysis.aggregate import leaderboard
from harness.cli import main
from harness.models.mock import MockEmbedder, mock_spec
from harness.run.cache import EmbeddingCache
from harness.stats import engine
from tests.conftest import STORED

BLOG = "Classify a given temperature by its sensation."
WORDS = ["warm", "hot", "cold", "philosophy"]
PAIRS = [("warm", "hot", 0.8), ("warm", "cold", -0.6), ("warm", "philosophy", 0.0), ("hot", "cold", -1.0),
         ("cold", "freezing", 0.9), ("hot", "scorching", 0.9), ("freezing", "scorching", -1.0),
         ("warm", "freezing", -0.7), ("philosophy", "freezing", 0.0), ("hot", "freezing", -0.9)]


@pytest.fixture(autouse=True)
def _own_search_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """--tasks-dir/--sets-dir/--instructions write these variables: each test restores them."""
    for var in ("HARNESS_TASKS_PATH", "HARNESS_SETS_PATH", "HARNESS_INSTRUCTION_FILES"):
        monkeypatch.setenv(var, "")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text("sentence1,sentence2,score\n" + "".join(f"{a},{b},{s}\n" for a, b, s in PAIRS))
    return path


def test_the_table_holds_each_pairs_cosine_of_the_exact_strings(tmp_path: Path) -> None:
    emb = MockEmbedder()
    tried = api.try_instructions(mock_spec(emb), instructions=[BLOG], words=WORDS, cache_dir=tmp_path / "c")
    assert tried.conditions == ["none", "mine"]
    # the mock has no instruction file: the harness default template "{instruction} " on both texts
    assert tried.prefixes["mine"] == (f"{BLOG} ", f"{BLOG} ")
    for i, w in enumerate(WORDS):  # warm against every word, itself included
        bare = emb.embed(["warm", w])
        instructed = emb.embed([f"{BLOG} warm", f"{BLOG} {w}"])
        assert tried.cosines["none"][i] == pytest.approx(_cos(bare[0], bare[1]), abs=1e-5)
        assert tried.cosines["mine"][i] == pytest.approx(_cos(instructed[0], instructed[1]), abs=1e-5)
    lines = tried.table().splitlines()
    assert lines[1].split() == ["pair", "none", "#1", "Δ#1"]
    assert [line.split("  ")[0].strip() for line in lines[2:6]] == [f"warm – {w}" for w in WORDS]
    row = lines[4].split()  # warm – cold
    assert float(row[-3]) == pytest.approx(tried.cosines["none"][2], abs=5e-4)
    assert float(row[-1]) == pytest.approx(tried.cosines["mine"][2] - tried.cosines["none"][2], abs=1e-3)
    assert f"#1 = mine: {BLOG!r} (exact prefix {BLOG + ' '!r})" in tried.table()
    assert tried.deltas == []  # no gold, no Spearman


def test_side_query_instructs_the_first_text_only(tmp_path: Path) -> None:
    emb = MockEmbedder()
    tried = api.try_instructions(mock_spec(emb), instructions=[BLOG], words=["warm", "cold"], side="query",
                                 cache_dir=tmp_path / "c")
    assert tried.prefixes["mine"] == (f"{BLOG} ", "")
    v = emb.embed([f"{BLOG} warm", "cold"])
    assert tried.cosines["mine"][1] == pytest.approx(_cos(v[0], v[1]), abs=1e-5)


def test_the_embedding_cache_is_the_one_run_uses(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    first = api.try_instructions(mock_spec(), instructions=[BLOG], words=WORDS, cache_dir=cache)
    assert (first.encoded, first.from_cache) == (8, 0)  # 4 words × (none, instructed), warm once each
    again = api.try_instructions(mock_spec(), instructions=[BLOG, "Another one."], words=WORDS, cache_dir=cache)
    assert (again.encoded, again.from_cache) == (4, 8)
    with EmbeddingCache(cache) as c:
        assert all(c.contains(mock_spec().identity, [f"{BLOG} {w}" for w in WORDS]))
    nothing = api.try_instructions(mock_spec(), instructions=[BLOG], words=WORDS, use_cache=False,
                                   cache_dir=tmp_path / "unused")
    assert nothing.encoded == 8 and not (tmp_path / "unused").exists()


def test_gold_pairs_get_the_spearman_delta_of_the_shared_statistics(tmp_path: Path) -> None:
    tried = api.try_instructions(mock_spec(), instructions=[BLOG, "Represent the word."],
                                 pairs=_pairs_file(tmp_path), cache_dir=tmp_path / "c")
    gold = [s for _, _, s in PAIRS]
    assert len(tried.deltas) == 2
    for d, cond in zip(tried.deltas, ["mine#1", "mine#2"], strict=True):
        want = spearmanr(gold, tried.cosines[cond])[0] - spearmanr(gold, tried.cosines["none"])[0]
        assert d["delta"] == pytest.approx(want, abs=1e-9)
        assert d["ci_low"] <= d["delta"] <= d["ci_high"]
        assert d["resample_unit"] == "text" and d["n_items"] == len(PAIRS)  # words recur across pairs
    holm = engine.holm([d["p_value"] for d in tried.deltas])
    assert [d["p_holm"] for d in tried.deltas] == pytest.approx(list(holm))
    text = tried.table()
    assert "Spearman vs gold, mine#1 − none:" in text and "Holm p=" in text and "over the 2 shown" in text


def test_save_writes_a_task_and_set_that_run_accepts_with_the_same_strings(tmp_path: Path) -> None:
    out, cache = tmp_path / "saved", tmp_path / "c"
    tried = api.try_instructions(mock_spec(), instructions=[BLOG], pairs=_pairs_file(tmp_path), cache_dir=cache,
                                 save=out, task="MyTemps", set_name="mine")
    assert tried.saved == (out / "tasks" / "MyTemps", out / "sets" / "mine.yaml")
    assert "saved: task" in tried.table()
    api.add_search_dirs(tasks=[out / "tasks"])
    results = tmp_path / "results"
    summary = api.run([mock_spec()], tasks=["MyTemps"], conditions=["none", str(out / "sets" / "mine.yaml")],
                      results_dir=results, cache_dir=cache, progress=False)
    assert len(summary.ran) == 2 and not summary.failed
    assert summary.encoded_distinct == 0  # every exact string was embedded by `try`: the same planner
    board = leaderboard(results)
    main_rows = board[board.is_main].set_index("condition").score
    # mteb's cosine_spearman on the saved task = try's Spearman for each condition
    assert main_rows["none"] == pytest.approx(tried.deltas[0]["baseline_score"], abs=STORED)
    assert main_rows["mine"] == pytest.approx(tried.deltas[0]["score"], abs=STORED)


def test_save_refuses_without_gold_or_over_an_existing_folder_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "saved"
    assert main(["try", "--words", "warm,hot", "--instruction", BLOG, "--save", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "needs a gold score" in err and not out.exists()
    pairs = _pairs_file(tmp_path)
    (out / "tasks" / "MyPairs").mkdir(parents=True)
    assert main(["try", "--pairs", str(pairs), "--instruction", BLOG, "--save", str(out)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and not (out / "sets").exists()


@pytest.mark.parametrize(("args", "says"), [
    (["--instruction", BLOG], "give --words"),
    (["--words", "warm", "--instruction", BLOG], "at least two different words"),
    (["--words", "warm,cold", "--instruction", " "], "non-empty --instruction"),
    (["--pairs", "missing.csv", "--instruction", BLOG], "missing.csv: no such file"),
    (["--words", "warm,cold", "--instruction", BLOG, "--side", "query", "--save", "x"], "gold score"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["try", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert os.listdir(tmp_path) == []


def test_a_pairs_file_without_its_columns_names_the_file_and_line(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "p.csv"
    bad.write_text("a,b\nwarm,cold\n")
    assert main(["try", "--pairs", str(bad), "--instruction", BLOG]) == 2
    assert f"{bad}:1: missing column(s) sentence1, sentence2" in capsys.readouterr().err
    bad.write_text("sentence1,sentence2,score\nwarm,cold,high\n")
    assert main(["try", "--pairs", str(bad), "--instruction", BLOG]) == 2
    assert f"{bad}:2: score 'high' is not a number" in capsys.readouterr().err


def test_minilm_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The real model, the origin's words and instruction: the instruction pulls warm–cold together (the blog's
    observation) and the table has the four pairs."""
    assert main(["try", "--model", "minilm", "--words", ",".join(WORDS), "--instruction", BLOG,
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0].strip(): line.split() for line in out.splitlines() if line.startswith("warm – ")}
    assert list(rows) == [f"warm – {w}" for w in WORDS]
    assert float(rows["warm – warm"][3]) == pytest.approx(1.0, abs=1e-3)
    none, instructed = float(rows["warm – cold"][3]), float(rows["warm – cold"][4])
    assert 0 < none < instructed <= 1


def test_pairs_frame_shape_matches_a_cells_predictions() -> None:
    """The statistics see frames shaped like a cell's predictions parquet (item, gold, prediction, text1,
    text2): the same inputs `aggregate` gives delta_stats."""
    from harness.analysis.pair_deltas import _frame

    f = _frame(["a", "b"], ["c", "d"], np.array([0.1, 0.2]), np.array([0.3, 0.4]))
    assert list(f.columns) == ["item", "gold", "prediction", "text1", "text2"]
    assert isinstance(f, pd.DataFrame) and engine.recompute("STS", "cosine_spearman", f) == pytest.approx(1.0)
