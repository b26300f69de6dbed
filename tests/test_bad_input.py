"""Issue 25: bad input gets one line and exit 2 with nothing written; one bad cell never blocks `harness aggregate`;
aggregate's outputs are all-or-nothing. Property-based tests (hypothesis) fuzz cell sidecars and set files in
process: the harness accepts the input or raises one single-line HarnessError, never a traceback."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import api
from harness.analysis import aggregate as agg
from harness.analysis import currency
from harness.cli import main
from harness.core import faults
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.prompts import files as instructions
from harness.results import layout
from tests.conftest import ROOT

TASK = "TemperatureBySensation"
BLOG = f"cells/harness__mock-seeded-encoder/1/blog/{TASK}.json"
FAST = settings(derandomize=True, max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SLOW = settings(FAST, max_examples=1500)
RUNS: dict[str, int] = {}  # test → examples run (printed with -s; recorded in NOTES)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("bad-input") / "results"
    api.run([mock_spec()], tasks=[TASK], conditions=["none", "blog"], results_dir=results, progress=False)
    api.aggregate(results)
    return results


def _copy(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "r"
    shutil.copytree(finished, out)
    return out


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "logs" not in p.parts}


BAD_SIDECARS = {
    "truncated": lambda text: text[:100],
    "empty": lambda text: "",
    "empty object": lambda text: "{}",
    "list": lambda text: "[1, 2]",
    "wrong type": lambda text: json.dumps(json.loads(text) | {"n_items": [1], "model": 7}),
    "not utf-8": lambda text: "\udcff",
}


@pytest.mark.parametrize("how", BAD_SIDECARS)
def test_one_bad_sidecar_is_left_out_and_listed_the_rest_aggregated(finished: Path, tmp_path: Path, how: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    r = _copy(finished, tmp_path)
    side = r / BLOG
    text = BAD_SIDECARS[how](side.read_text())
    side.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert main(["aggregate", "--results", str(r)]) == 0
    err = capsys.readouterr().err
    assert err.count(BLOG) == 1 and "left out 1 unreadable cell(s)" in err  # listed once
    board = json.loads((r / layout.LEFT_OUT_CELLS).read_text())
    assert [u["sidecar"] for u in board["unreadable"]] == [BLOG] and board["stale"] == []
    assert board["unreadable"][0]["command"] == (f"harness run --model harness/mock-seeded-encoder --tasks {TASK} "
                                                 f"--conditions blog --results {r}")
    import pandas as pd

    assert set(pd.read_parquet(r / "leaderboard.parquet").condition) == {"none"}
    assert not (r / layout.STALE_CELLS).exists()  # the older name is replaced, not kept beside it
    assert "Cells whose sidecar or result file could not be read" in (r / "report.md").read_text()


def test_an_unreadable_result_file_is_left_out_too(finished: Path, tmp_path: Path) -> None:
    r = _copy(finished, tmp_path)
    result = r / json.loads((r / BLOG).read_text())["result_file"]
    result.write_text('{"scores": ')
    board, _ = api.aggregate(r)
    assert set(board.condition) == {"none"}
    assert currency.read(r).unreadable[0].sidecar == BLOG


def test_nothing_left_is_exit_2_and_nothing_written(finished: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    r = _copy(finished, tmp_path)
    for p in layout.sidecar_files(r):
        p.write_text("")
    before = _digests(r)
    assert main(["aggregate", "--results", str(r)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {r}: no results to aggregate (2 unreadable")
    assert _digests(r) == before  # no left-out file, no staging folder, old tables untouched
    assert not any(p.name.startswith(".aggregate") for p in r.iterdir())


def test_empty_folder_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no results to aggregate"):
        api.aggregate(tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.parametrize("point", ["aggregate", "aggregate-swap"])
def test_full_disk_leaves_the_previous_outputs_whole(finished: Path, tmp_path: Path, point: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    r = _copy(finished, tmp_path)
    (r / "cells" / "harness__mock-seeded-encoder" / "1" / "blog" / f"{TASK}.json").unlink()  # outputs would change
    before = _digests(r)
    faults._seen.clear()
    monkeypatch.setenv("HARNESS_FAULT", f"enospc:{point}")
    with pytest.raises(HarnessError) as e:
        api.aggregate(r)
    assert str(e.value) == (f"{r}: aggregate failed while writing its outputs (No space left on device); the "
                            "previous tables and report are unchanged")
    assert _digests(r) == before
    assert not any(p.name.startswith(".aggregate") for p in r.iterdir())


def test_publish_of_none_only_is_one_line(finished: Path, tmp_path: Path) -> None:
    r = _copy(finished, tmp_path)
    shutil.rmtree(r / "cells" / "harness__mock-seeded-encoder" / "1" / "blog")
    api.aggregate(r)
    with pytest.raises(HarnessError, match=r"deltas\.parquet: no deltas to publish \(the cells hold only "
                                           r"condition\(s\) none\)") as e:
        api.publish(tmp_path / "out", r)
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()


def test_model_folder_with_invalid_config_json_is_one_line(tmp_path: Path) -> None:
    from harness.models.resolve import resolve

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text('{"a": ')
    with pytest.raises(HarnessError, match=r"config\.json: not valid JSON \(line 1, column 7: Expecting value\)"):
        resolve(str(tmp_path / "m"))


def test_set_by_path_is_checked_like_a_committed_one(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: typo\ndescription: d\ntasks:\n  TemperatureBySensaton:\n    query: Feel it.\n")
    other = tmp_path / "mine.yaml"
    other.write_text(f"name: othername\ndescription: d\ntasks:\n  {TASK}:\n    query: Feel it.\n")
    checked, problems = api.validate_report([typo, other, ROOT / "tasks" / TASK])
    assert checked == [str(ROOT / "tasks" / TASK / "task.yaml")]
    assert problems.lines == [
        f"{typo}:4: field 'tasks.TemperatureBySensaton': unknown task 'TemperatureBySensaton'; did you mean "
        "TemperatureBySensation, TemperatureSensationClassification, ScaleTemperature?",
        f"{other}:1: field 'name': 'othername' must equal the file name 'mine'",
    ]
    with pytest.raises(HarnessError, match="did you mean TemperatureBySensation"):
        api.run([mock_spec()], tasks=[TASK], conditions=["none", str(typo)], results_dir=tmp_path / "res",
                progress=False)
    assert not (tmp_path / "res").exists()


# -- property-based -----------------------------------------------------------------------------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True)
                    | st.text(max_size=20), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@st.composite
def sidecar_texts(draw: Any, original: str) -> str:
    """A sidecar as a user (or a crash) could leave it: cut short, a field dropped, retyped or added, odd unicode."""
    side = json.loads(original)
    how = draw(st.sampled_from(["truncate", "drop", "retype", "extra", "replace", "unicode"]))
    if how == "truncate":
        return original[:draw(st.integers(0, len(original) - 1))]
    if how == "replace":
        return json.dumps(draw(JSON))
    key = draw(st.sampled_from(sorted(side)))
    if how == "drop":
        side.pop(key)
    elif how == "retype":
        side[key] = draw(JSON)
    elif how == "extra":
        side[draw(st.text(min_size=1, max_size=10))] = draw(JSON)
    else:
        side[key] = draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
    return json.dumps(side, ensure_ascii=draw(st.booleans()))


def _one_cell(finished: Path, tmp_path: Path, text: str) -> None:
    """Property: reading the cell gives a usable sidecar or a one-line reason; a usable one yields board rows
    or a one-line reason; the currency check never raises."""
    side_path = tmp_path / BLOG
    side_path.parent.mkdir(parents=True, exist_ok=True)
    side_path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        side = layout.read_sidecar(side_path)
    except layout.BadCell as e:
        assert str(e) and "\n" not in str(e)
        return
    # its result file resolves inside the finished folder (the fuzzed value may point anywhere)
    board, bad = agg.board_rows(finished, [(finished / BLOG, side)], frozenset())
    assert all("\n" not in reason for _, reason in bad)
    assert board.empty or not bad
    currency.check(finished, [(finished / BLOG, side)])


def test_fuzzed_sidecars_are_used_or_left_out_with_one_line(finished: Path, tmp_path: Path) -> None:
    original = (finished / BLOG).read_text()
    n = 0

    @FAST
    @given(sidecar_texts(original))
    def prop(text: str) -> None:
        nonlocal n
        n += 1
        _one_cell(finished, tmp_path, text)

    prop()
    RUNS["sidecars"] = n
    assert n >= 50


@st.composite
def set_texts(draw: Any) -> str:
    name = draw(st.sampled_from(["fuzz", "other", "", "fuzz\n", "ü"]))
    body: dict[str, Any] = {"name": name, "description": draw(st.text(max_size=10) | JSON)}
    tasks = draw(st.dictionaries(st.sampled_from([TASK, "TemperatureBySensaton", "Nope", "ä" * 3, ""]),
                                 st.dictionaries(st.sampled_from(["query", "document", "qurey"]),
                                                 st.text(max_size=15) | JSON, max_size=2) | JSON, max_size=3))
    body["tasks"] = tasks
    for k in draw(st.lists(st.sampled_from(["extra", "name", "tasks"]), max_size=2)):
        body.pop(k, None) if k != "extra" else body.update(extra=1)
    import yaml

    text = yaml.safe_dump(body, allow_unicode=True)
    if draw(st.booleans()):
        text = text[:draw(st.integers(0, len(text)))]
    return text


def test_fuzzed_set_files_are_accepted_or_one_line(tmp_path: Path) -> None:
    n = 0

    @FAST
    @given(set_texts())
    def prop(text: str) -> None:
        nonlocal n
        n += 1
        path = tmp_path / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        checked, problems = api.validate_report([path])
        assert bool(checked) != bool(problems)
        assert all(line and "\n" not in line for line in problems.lines)

    prop()
    RUNS["sets"] = n
    assert n >= 50


@pytest.mark.slow
def test_fuzzed_sidecars_larger_budget(finished: Path, tmp_path: Path) -> None:
    original = (finished / BLOG).read_text()

    @SLOW
    @given(sidecar_texts(original))
    def prop(text: str) -> None:
        _one_cell(finished, tmp_path, text)

    prop()


@pytest.mark.slow
def test_fuzzed_set_files_larger_budget(tmp_path: Path) -> None:
    @SLOW
    @given(set_texts())
    def prop(text: str) -> None:
        path = tmp_path / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        _, problems = api.validate_report([path])
        assert all(line and "\n" not in line for line in problems.lines)

    prop()


def test_set_loader_never_leaks_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: x\ndescription: d\ntasks: [1, 2]\n")
    with pytest.raises(HarnessError):
        instructions.load_set(str(path))


# -- every problem at once -----------------------------------------------------------------------------------
def _task_copy(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(ROOT / "tasks" / TASK, folder)
    spec = folder / "task.yaml"
    spec.write_text(spec.read_text().replace(f"name: {TASK}", f"name: {name}"))
    return folder


def test_every_bad_row_of_a_data_file_is_listed_up_to_the_cap(tmp_path: Path) -> None:
    import pandas as pd

    from harness.taskspecs.data import MAX_ROWS

    folder = _task_copy(tmp_path, "ManyBadRows")
    pairs = pd.read_csv(folder / "pairs.csv", dtype=str, keep_default_na=False)
    pairs.loc[0:14, "score"] = "x"  # rows 2..16 of the file
    pairs.loc[19:21, "sentence2"] = ""  # rows 21..23
    pairs.to_csv(folder / "pairs.csv", index=False)
    _, problems = api.validate_report([folder])
    path = folder / "pairs.csv"
    assert problems.lines == [*(f"{path}: row {r}: score 'x' is not a number" for r in range(2, 2 + MAX_ROWS)),
                              f"{path}: and 8 more bad row(s)"]


def test_an_invalid_type_does_not_hide_the_other_fields(tmp_path: Path) -> None:
    folder = _task_copy(tmp_path, "BadType")
    spec = folder / "task.yaml"
    spec.write_text(spec.read_text().replace("type: STS", "type: STSS")
                    .replace("license: cc-by-4.0", "license: 7\ncolour: red"))
    _, problems = api.validate_report([folder])
    assert problems.lines == [f"{spec}:4: field 'type': 'STSS' is not one of STS, Retrieval, BitextMining, "
                              "Classification, Reranking, PairClassification, Clustering",
                              f"{spec}:18: field 'colour': unknown key 'colour'",
                              f"{spec}:17: field 'license': Input should be a valid string"]


# -- property-based: task.yaml, data files, model instruction files ------------------------------------------
SPEC = (ROOT / "tasks" / TASK / "task.yaml").read_text()
ODD = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@st.composite
def spec_texts(draw: Any) -> str:
    """task.yaml with fields dropped, retyped, added, the type changed, cut short."""
    import yaml

    body = yaml.safe_load(SPEC)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["drop", "retype", "extra", "type", "odd"]))
        key = draw(st.sampled_from(sorted(body) or ["name"]))
        if how == "drop":
            body.pop(key, None)
        elif how == "retype":
            body[key] = draw(JSON)
        elif how == "extra":
            body[draw(st.text(min_size=1, max_size=8))] = draw(JSON)
        elif how == "type":
            body["type"] = draw(st.sampled_from(["STS", "Retrieval", "BitextMining", "STSS", "", 3]))
        else:
            body[key] = draw(ODD)
    text = yaml.safe_dump(body, allow_unicode=True)
    return text[:draw(st.integers(0, len(text)))] if draw(st.booleans()) else text


def _accepts_or_one_line(call: Any) -> bool:
    try:
        call()
    except HarnessError as e:
        assert e.lines() and all(line and "\n" not in line for line in e.lines()), e.lines()
        return False
    return True


def test_fuzzed_task_specs_are_accepted_or_one_line(tmp_path: Path) -> None:
    from harness.taskspecs.local import LocalTask

    folder = _task_copy(tmp_path, TASK)
    n = 0

    @FAST
    @given(spec_texts())
    def prop(text: str) -> None:
        nonlocal n
        n += 1
        (folder / "task.yaml").write_text(text, encoding="utf-8")
        _accepts_or_one_line(lambda: LocalTask(folder).check_data())

    prop()
    RUNS["task.yaml"] = n
    assert n >= 50


CELL = st.one_of(ODD, st.none(), st.integers(-10**20, 10**20).map(str), st.floats().map(str),
                 st.sampled_from(["", " ", "0.5", "-1", "nan", "1e308", "x" * 5000]))


@st.composite
def data_files(draw: Any) -> tuple[str, bytes]:
    """pairs data as CSV, TSV, JSONL or parquet: odd cells, missing or extra columns, huge values, empty files,
    truncations, bytes that are not UTF-8."""
    import pandas as pd

    from harness.results.schema import table_bytes

    ext = draw(st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet"]))
    cols = draw(st.lists(st.sampled_from(["sentence1", "sentence2", "score", "subset", "split", "extra"]),
                         unique=True, min_size=0, max_size=6))
    n = draw(st.integers(0, 6))
    df = pd.DataFrame({c: [draw(CELL) for _ in range(n)] for c in cols})
    if ext == ".csv":
        data = df.to_csv(index=False).encode()
    elif ext == ".tsv":
        data = df.to_csv(index=False, sep="\t").encode()
    elif ext == ".jsonl":
        data = df.to_json(orient="records", lines=True).encode() if cols else b""
    else:
        import pyarrow as pa

        data = table_bytes(pa.Table.from_pandas(df.astype(str) if cols else df, preserve_index=False))
    how = draw(st.sampled_from(["as is", "truncate", "garbage", "empty"]))
    if how == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif how == "garbage":
        data += draw(st.binary(min_size=1, max_size=8))
    elif how == "empty":
        data = b""
    return ext, data


def test_fuzzed_data_files_are_accepted_or_one_line(tmp_path: Path) -> None:
    from harness.taskspecs.local import LocalTask

    folder = _task_copy(tmp_path, TASK)
    spec = (folder / "task.yaml").read_text()
    n = 0

    @FAST
    @given(data_files())
    def prop(case: tuple[str, bytes]) -> None:
        nonlocal n
        n += 1
        ext, data = case
        (folder / "task.yaml").write_text(spec.replace("data: pairs.csv", f"data: pairs{ext}"))
        (folder / f"pairs{ext}").write_bytes(data)
        _accepts_or_one_line(lambda: LocalTask(folder).check_data())

    prop()
    RUNS["data files"] = n
    assert n >= 50


@st.composite
def model_files(draw: Any) -> str:
    import yaml

    body: dict[str, Any] = {"model": draw(st.sampled_from(["org/fuzz", "", "fuzz"]) | ODD)}
    for key in draw(st.lists(st.sampled_from(["source", "template", "task_types", "tasks", "format_prefixes",
                                              "instruct_documents", "colour"]), unique=True, max_size=4)):
        body[key] = draw(JSON | st.dictionaries(st.sampled_from(["STS", TASK, "Nope", "query"]),
                                                JSON | st.dictionaries(st.sampled_from(["query", "document"]),
                                                                       ODD, max_size=2), max_size=2))
    text = yaml.safe_dump(body, allow_unicode=True)
    return text[:draw(st.integers(0, len(text)))] if draw(st.booleans()) else text


def test_fuzzed_model_instruction_files_are_accepted_or_one_line(tmp_path: Path) -> None:
    n = 0

    @FAST
    @given(model_files())
    def prop(text: str) -> None:
        nonlocal n
        n += 1
        path = tmp_path / "org__fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        _accepts_or_one_line(lambda: instructions.load_model_file(path))

    prop()
    RUNS["instruction files"] = n
    assert n >= 50


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["task.yaml", "data", "instructions"])
def test_fuzzed_user_files_larger_budget(tmp_path: Path, kind: str) -> None:
    from harness.taskspecs.local import LocalTask

    folder = _task_copy(tmp_path, TASK)
    spec = (folder / "task.yaml").read_text()

    def task_yaml(text: str) -> None:
        (folder / "task.yaml").write_text(text, encoding="utf-8")
        _accepts_or_one_line(lambda: LocalTask(folder).check_data())

    def data(case: tuple[str, bytes]) -> None:
        ext, raw = case
        (folder / "task.yaml").write_text(spec.replace("data: pairs.csv", f"data: pairs{ext}"))
        (folder / f"pairs{ext}").write_bytes(raw)
        _accepts_or_one_line(lambda: LocalTask(folder).check_data())

    def model_file(text: str) -> None:
        path = tmp_path / "org__fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        _accepts_or_one_line(lambda: instructions.load_model_file(path))

    strategy, check = {"task.yaml": (spec_texts(), task_yaml), "data": (data_files(), data),
                       "instructions": (model_files(), model_file)}[kind]
    SLOW(given(strategy)(check))()
