"""The scale-task family (tasks/Scale*, tasks/scales/): gold reproducibility, vocabulary rules, claims, loading."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from harness.taskspecs.local import TaskRegistry
from harness.taskspecs.spec import STSSpec
from tests.conftest import ROOT

SCALES = ROOT / "tasks" / "scales"
EXPECTED = ["ScaleAge", "ScaleBrightness", "ScaleLoudness", "ScaleSize", "ScaleSpeed", "ScaleTemperature",
            "ScaleWeight"]
SUBSETS = {"scale": ["eng-Latn"], "relation": ["eng-Latn"], "scale_deu": ["deu-Latn"], "relation_deu": ["deu-Latn"]}


@pytest.fixture(scope="module")
def gold() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scales_make_gold", SCALES / "make_gold.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def words(task: str) -> list[dict[str, str]]:
    return _rows(ROOT / "tasks" / task / "words.csv")


CONTROLS = _rows(SCALES / "controls.csv")


def test_the_family_is_the_seven_scales(gold: ModuleType) -> None:
    assert gold.scale_tasks() == EXPECTED


def test_committed_pairs_equal_generator_output(gold: ModuleType) -> None:
    for task, rows in gold.all_gold_rows().items():
        committed = (ROOT / "tasks" / task / "pairs.csv").read_text(encoding="utf-8").splitlines()
        assert committed[0] == "subset,split,sentence1,sentence2,score", task
        assert [",".join(r.values()) for r in rows] == committed[1:], task
    assert gold.check() is None  # agreement.csv too (absent until a second placement exists)


def test_check_flag_names_the_first_differing_file(gold: ModuleType, tmp_path: Path, monkeypatch) -> None:
    ok = subprocess.run([sys.executable, str(SCALES / "make_gold.py"), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    original = gold.expected_files
    bad = ROOT / "tasks" / "ScaleSize" / "pairs.csv"
    monkeypatch.setattr(gold, "expected_files", lambda: {**original(), bad: "changed\n"})
    assert gold.check() == bad
    assert gold.main(["--check"]) == 1


def test_gold_values_follow_the_positions(gold: ModuleType) -> None:
    rows = gold.gold_rows("ScaleTemperature")
    by = {(r["subset"], r["sentence1"], r["sentence2"]): float(r["score"]) for r in rows}
    assert by[("scale", "frozen", "scorching")] == -1.0
    assert by[("scale", "cold", "warm")] == -0.05
    assert by[("scale", "warm", "philosophy")] == 0.0 and by[("relation", "warm", "philosophy")] == 0.0
    assert by[("relation", "cold", "warm")] == 1.0
    assert by[("scale_deu", "kalt", "warm")] == -0.05 and by[("relation_deu", "warm", "Philosophie")] == 0.0
    assert by[("scale", "philosophy", "algebra")] == 0.0
    n = len(words("ScaleTemperature")) + len(CONTROLS)
    assert len(rows) == 4 * n * (n - 1) // 2


@pytest.mark.parametrize("task", EXPECTED)
def test_vocabulary_meets_the_brief(task: str) -> None:
    ws = words(task)
    assert list(ws[0]) == ["word", "position", "word_deu"]
    assert len(ws) >= 30
    positions = [float(w["position"]) for w in ws]
    assert all(-1.0 <= p <= 1.0 for p in positions)
    assert min(positions) == -1.0 and max(positions) == 1.0
    assert all(len(w["position"].split(".")[-1]) == 2 for w in ws)  # two decimals
    for column in ("word", "word_deu"):
        values = [w[column] for w in ws] + [c[column] for c in CONTROLS]
        assert all(v and " " not in v and v == v.strip() for v in values), (task, column)
        assert len({v.lower() for v in values}) == len(values), (task, column)  # distinct, controls included


def test_controls_are_shared_and_enough() -> None:
    assert list(CONTROLS[0]) == ["word", "word_deu"]
    assert len(CONTROLS) >= 12
    assert "philosophy" in {c["word"] for c in CONTROLS}


def test_no_word_belongs_to_two_scales_or_to_a_scale_and_the_controls() -> None:
    control_words = {c[col].lower() for c in CONTROLS for col in ("word", "word_deu")}
    owner: dict[str, str] = {}
    for task in EXPECTED:
        # English and German together: a German word must not repeat another scale's English word either
        vocab = {w[col].lower() for w in words(task) for col in ("word", "word_deu")}
        assert not vocab & control_words, (task, vocab & control_words)
        for v in vocab:
            assert v not in owner, f"{v!r} in {owner.get(v)} and {task}"
            owner[v] = task


def test_temperature_scale_extends_the_origin_with_the_same_positions() -> None:
    origin = {w["word"]: float(w["position"]) for w in _rows(ROOT / "tasks" / "TemperatureBySensation" / "words.csv")
              if w["kind"] == "temperature"}
    ext = {w["word"]: float(w["position"]) for w in words("ScaleTemperature")}
    assert {w: ext.get(w) for w in origin} == origin
    assert len(ext) > len(origin)


@pytest.mark.parametrize("task", EXPECTED)
def test_claims_hold_in_the_scale_gold(gold: ModuleType, task: str) -> None:
    spec = TaskRegistry().get(task).spec
    assert isinstance(spec, STSSpec)
    assert spec.claims and len(spec.report_pairs) == 4
    pos = {w["word"]: float(w["position"]) for w in words(task)}
    controls = {c["word"] for c in CONTROLS}
    by = {frozenset((r["sentence1"], r["sentence2"])): float(r["score"]) for r in gold.gold_rows(task)
          if r["subset"] == "scale"}
    for claim in spec.claims:
        (w, c), (w2, o) = claim.higher, claim.lower
        assert w == w2 and c in controls and w in pos and o in pos
        assert pos[w] > 0 > pos[o]
        assert by[frozenset((w, c))] == 0.0 > by[frozenset((w, o))]
    for a, b in spec.report_pairs:
        assert a in pos and (b in pos or b in controls)


def test_every_scale_task_loads_through_the_harness(gold: ModuleType) -> None:
    reg = TaskRegistry()
    for task in EXPECTED:
        local = reg.get(task)
        assert local.spec.subsets == SUBSETS
        mt = local.mteb_task()
        n = len(words(task)) + len(CONTROLS)
        assert sorted(mt.dataset) == sorted(SUBSETS)
        assert all(len(mt.dataset[s]["test"]) == n * (n - 1) // 2 for s in SUBSETS), task


def test_agreement_is_spearman_over_the_scale_words(gold: ModuleType, tmp_path: Path, monkeypatch) -> None:
    # a fake family in tmp_path: one scale with a second placement that swaps two neighbours
    root = tmp_path / "tasks"
    (root / "scales").mkdir(parents=True)
    (root / "scales" / "controls.csv").write_text("word,word_deu\nphilosophy,Philosophie\n")
    (root / "ScaleToy").mkdir()
    (root / "ScaleToy" / "words.csv").write_text(
        "word,position,word_deu\na,-1.00,a1\nb,-0.50,b1\nc,0.50,c1\nd,1.00,d1\n")
    (root / "ScaleToy" / "words_second.csv").write_text("word,position\nd,0.90\nc,-0.40\nb,-0.30\na,-1.00\n")
    monkeypatch.setattr(gold, "TASKS_DIR", root)
    monkeypatch.setattr(gold, "CONTROLS", root / "scales" / "controls.csv")
    monkeypatch.setattr(gold, "AGREEMENT", root / "scales" / "agreement.csv")
    assert gold.agreement_rows() == [
        {"task": "ScaleToy", "n_words": "4", "spearman": "0.800", "max_abs_diff": "0.90", "mean_abs_diff": "0.300"}]
    assert gold.main([]) == 0
    assert (root / "scales" / "agreement.csv").read_text().splitlines()[1] == "ScaleToy,4,0.800,0.90,0.300"
    assert gold.check() is None
    (root / "ScaleToy" / "words_second.csv").write_text("word,position\na,-1.00\n")
    with pytest.raises(gold.GoldError, match="words differ"):
        gold.agreement_rows()
