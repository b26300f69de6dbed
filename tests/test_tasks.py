"""Task specs → mteb tasks: validation by mteb, gold reproducibility, and one-line errors for bad task files."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.taskspecs.local import LocalTask, TaskRegistry
from tests.conftest import ROOT

TEMP = ROOT / "tasks" / "TemperatureBySensation"


def test_every_task_builds_valid_mteb_metadata() -> None:
    for task in TaskRegistry().select(None):
        md = task.metadata()
        assert md.is_filled(), task.name
        assert md.name == task.name
        mteb_task = task.mteb_task()
        assert mteb_task.data_loaded
        assert mteb_task.metadata.dataset["revision"] == task.data_hash[:12]


def test_temperature_task_is_an_mteb_sts_task_with_two_subsets() -> None:
    from mteb.abstasks import AbsTaskSTS

    t = TaskRegistry().get("TemperatureBySensation")
    mt = t.mteb_task()
    assert isinstance(mt, AbsTaskSTS)
    assert mt.metadata.main_score == "cosine_spearman"
    assert sorted(mt.metadata.hf_subsets) == ["relation", "sensation"]
    assert len(mt.dataset["sensation"]["test"]) == len(mt.dataset["relation"]["test"]) == 595


def test_temperature_vocabulary_meets_the_brief() -> None:
    import csv

    words = list(csv.DictReader((TEMP / "words.csv").open(encoding="utf-8")))
    temp = [w for w in words if w["kind"] == "temperature"]
    controls = [w for w in words if w["kind"] == "control"]
    assert len(temp) >= 20 and len(controls) >= 6
    assert {"warm", "hot", "cold", "philosophy"} <= {w["word"] for w in words}
    positions = [float(w["position"]) for w in temp]
    assert min(positions) == -1.0 and max(positions) == 1.0


def test_committed_gold_equals_generator_output(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_gold", TEMP / "make_gold.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.gold_rows()
    committed = (TEMP / "pairs.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert [",".join(r.values()) for r in rows] == committed
    by = {(r["subset"], r["sentence1"], r["sentence2"]): float(r["score"]) for r in rows}
    assert by[("sensation", "frozen", "scorching")] == -1.0  # opposite ends are negative
    assert by[("sensation", "warm", "philosophy")] == 0.0  # controls sit at 0
    assert by[("sensation", "cold", "warm")] < by[("sensation", "warm", "hot")]
    assert by[("relation", "cold", "warm")] == 1.0 and by[("relation", "warm", "philosophy")] == 0.0


def _task_copy(tmp_path: Path) -> Path:
    root = tmp_path / "tasks"
    shutil.copytree(TEMP, root / "TemperatureBySensation")
    return root / "TemperatureBySensation"


def _error(folder: Path) -> str:
    with pytest.raises(HarnessError) as e:
        task = TaskRegistry(folder.parent).get(folder.name)
        task.metadata()
        task.load_dataset()
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: (d / "task.yaml").write_text((d / "task.yaml").read_text() + "colour: blue\n"),
         "task.yaml:32: field 'colour': unknown key 'colour'"),
        (lambda d: (d / "task.yaml").write_text("name: [unclosed\n"), "task.yaml: malformed YAML at line 2"),
        (lambda d: (d / "task.yaml").write_text((d / "task.yaml").read_text().replace("type: STS", "type: Sorting")),
         "task.yaml:4: field 'type': 'Sorting' is not one of STS, Retrieval, BitextMining"),
        (lambda d: (d / "task.yaml").write_text(
            (d / "task.yaml").read_text().replace("license: cc-by-4.0", "license: my-own-license")),
         "task.yaml:17: field 'license'"),  # rejected by mteb's own TaskMetadata validation
        (lambda d: (d / "pairs.csv").write_text("sentence1,sentence2\nwarm,cold\n"), "missing column(s) score"),
        (lambda d: (d / "pairs.csv").write_text("subset,sentence1,sentence2,score\nsensation,warm,,0.5\n"),
         "row 2: empty 'sentence2'"),
        (lambda d: (d / "pairs.csv").write_text("subset,sentence1,sentence2,score\nsensation,warm,cold,NaN\n"),
         "score 'NaN' is not a number"),
        (lambda d: (d / "pairs.csv").write_text("subset,sentence1,sentence2,score\nsensation,warm,cold,7\n"),
         "row 2: score 7 outside [-1.0, 1.0]"),
        (lambda d: (d / "pairs.csv").write_bytes(b"subset,sentence1,sentence2,score\nsensation,w\xe4rm,cold,0.5\n"),
         "pairs.csv:2:12: undecodable text (byte 0xe4: invalid continuation byte); save it as UTF-8"),
        (lambda d: (d / "pairs.csv").unlink(), "data file not found"),
        (lambda d: (d / "pairs.csv").write_text("subset,sentence1,sentence2,score\nsensation,warm,cold,0.5\n"),
         "no rows for subset 'relation'"),
    ],
    ids=["unknown-key", "malformed-yaml", "bad-type", "bad-license", "missing-column", "empty-text", "nan-score",
         "out-of-range", "undecodable", "missing-file", "missing-subset"],
)
def test_bad_task_files_give_one_line_naming_file_and_field(tmp_path: Path, mutate, expected: str) -> None:
    folder = _task_copy(tmp_path)
    mutate(folder)
    assert expected in _error(folder)


def test_duplicate_ids_in_retrieval_data(tmp_path: Path) -> None:
    d = tmp_path / "tasks" / "TinyRetrieval"
    d.mkdir(parents=True)
    (d / "task.yaml").write_text(
        "name: TinyRetrieval\ntype: Retrieval\ndescription: tiny\nsubsets: {default: [eng-Latn]}\n"
        "main_score: ndcg_at_10\ndate: ['2026-01-01', '2026-01-01']\ndomains: [Written]\nlicense: cc-by-4.0\n"
        "annotations_creators: derived\nsample_creation: created\n"
        "data: {corpus: corpus.csv, queries: queries.csv, qrels: qrels.csv}\n"
    )
    (d / "corpus.csv").write_text("id,text\nd1,a\nd1,b\n")
    (d / "queries.csv").write_text("id,text\nq1,x\n")
    (d / "qrels.csv").write_text("query_id,doc_id,score\nq1,d1,1\n")
    assert "corpus.csv: row 3: duplicate id 'd1'" in _error(d)
    (d / "corpus.csv").write_text("id,text\nd1,a\nd2,b\n")
    (d / "qrels.csv").write_text("query_id,doc_id,score\nq1,d9,1\n")
    assert "doc_id 'd9' not in corpus.csv" in _error(d)
    (d / "qrels.csv").write_text("query_id,doc_id,score\nq1,d2,1\n")
    task = LocalTask(d)
    assert task.mteb_task().metadata.type == "Retrieval"


def test_unknown_task_suggests_close_names() -> None:
    with pytest.raises(HarnessError, match="did you mean TemperatureBySensation"):
        TaskRegistry().get("TemperatureBySensaton")


def test_changed_data_changes_the_revision(tmp_path: Path) -> None:
    folder = _task_copy(tmp_path)
    before = LocalTask(folder).data_hash
    (folder / "pairs.csv").write_text((folder / "pairs.csv").read_text().replace("0.65", "0.64", 1))
    assert LocalTask(folder).data_hash != before


def test_every_problem_of_a_task_file_is_named_with_its_line(tmp_path: Path) -> None:
    """Two missing fields and an unknown key: all three, one line each (not "(+1 more)"), unknown key first."""
    folder = _task_copy(tmp_path)
    spec = folder / "task.yaml"
    text = spec.read_text().replace("license: cc-by-4.0\n", "").replace("domains: [Written]\n", "")
    spec.write_text(text.replace("splits: [test]", "splts: [test]"))
    with pytest.raises(HarnessError) as e:
        TaskRegistry(folder.parent).get(folder.name)
    lines = e.value.lines()
    line = next(i for i, t in enumerate(spec.read_text().splitlines(), 1) if t.startswith("splts"))
    assert lines == [f"{spec}:{line}: field 'splts': unknown key 'splts'; did you mean 'splits'?",
                     f"{spec}: field 'domains': Field required", f"{spec}: field 'license': Field required"]


def test_undecodable_byte_is_reported_at_its_line_and_column_in_the_file(tmp_path: Path) -> None:
    folder = _task_copy(tmp_path)
    pairs = folder / "pairs.csv"
    body = pairs.read_bytes().splitlines(keepends=True)
    body[500] = body[500].replace(b",", b",\xff", 1)  # line 501, right after the first comma
    pairs.write_bytes(b"".join(body))
    col = body[500].index(b"\xff") + 1
    assert _error(folder).startswith(f"{pairs}:501:{col}: undecodable text (byte 0xff")


def test_a_broken_task_folder_does_not_hide_the_others(tmp_path: Path) -> None:
    folder = _task_copy(tmp_path)
    broken = folder.parent / "Broken"
    broken.mkdir()
    (broken / "task.yaml").write_text("name: Broken\ntype: STS\n")
    reg = TaskRegistry(folder.parent)
    assert reg.names() == ["TemperatureBySensation"] and list(reg.broken) == ["Broken"]
    with pytest.raises(HarnessError, match=r"Broken/task.yaml: field 'data': Field required"):
        reg.get("Broken")
