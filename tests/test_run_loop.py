"""The run loop as a user meets it (issue 12): every input checked before the first cell, --skip-invalid, cells of
sets that say nothing about a task, one quiet progress display, and cells on old data never paired with new ones."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.analysis import currency
from harness.analysis.aggregate import aggregate, deltas
from harness.analysis.comparison import load as load_comparison
from harness.analysis.tables import NOT_IN_SET, delta_table
from harness.cli import main
from harness.core.errors import HarnessError, InputErrors
from harness.models.mock import MockEmbedder, mock_spec
from harness.prompts import files as ins
from harness.run import local as runner
from harness.run.progress import Progress, expected_new_strings
from harness.taskspecs.local import TaskRegistry
from tests.conftest import ROOT

TEMP, AGE = "TemperatureBySensation", "ScaleAge"
BLOG = "Classify a given temperature by its sensation."


@pytest.fixture
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private task folder (two small STS tasks) and set folder (blog), used by every command."""
    root = tmp_path / "tasks"
    for name in (TEMP, AGE, "scales"):
        shutil.copytree(ROOT / "tasks" / name, root / name)
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "blog.yaml").write_text(f"name: blog\ndescription: d\ntasks:\n  {TEMP}:\n    query: {BLOG}\n"
                                    f"  {AGE}:\n    query: Classify a given age by how old it is.\n")
    monkeypatch.setattr(TaskRegistry, "default_root", root)
    monkeypatch.setattr(ins, "SETS_DIR", sets)
    return root


def add_broken_tasks(root: Path) -> tuple[Path, Path]:
    """ZzBrokenData: a valid spec whose data has a Latin-1 byte on line 3; ZzBrokenSpec: two required fields
    missing. Both sort after every good task, as in the user's report."""
    spec = (root / TEMP / "task.yaml").read_text(encoding="utf-8").split("report_pairs:")[0]
    data = root / "ZzBrokenData"
    data.mkdir()
    (data / "task.yaml").write_text(spec.replace(f"name: {TEMP}", "name: ZzBrokenData"))
    (data / "pairs.csv").write_bytes(b"subset,split,sentence1,sentence2,score\nsensation,test,a,b,0.5\n"
                                     b"sensation,test,w\xe4rm,cold,0.5\nrelation,test,a,b,1\n")
    bad = root / "ZzBrokenSpec"
    bad.mkdir()
    (bad / "task.yaml").write_text(spec.replace(f"name: {TEMP}", "name: ZzBrokenSpec")
                                   .replace("license: cc-by-4.0\n", "").replace("domains: [Written]\n", ""))
    shutil.copy(root / TEMP / "pairs.csv", bad / "pairs.csv")
    return data, bad


# -- item 3: every input checked before the first cell ----------------------------------------------------------


def test_every_invalid_input_is_reported_at_once_and_nothing_runs(tasks: Path, tmp_path: Path) -> None:
    data, bad = add_broken_tasks(tasks)
    typo = ins.SETS_DIR / "typo.yaml"
    typo.write_text(f"name: typo\ndescription: d\ntaks:\n  {TEMP}:\n    query: q\n")
    emb, results = MockEmbedder(), tmp_path / "results"
    with pytest.raises(InputErrors) as err:
        runner.run([mock_spec(emb)], results_dir=results, registry=TaskRegistry(), progress=False)
    assert err.value.lines() == [
        f"{data / 'pairs.csv'}:3:17: undecodable text (byte 0xe4: invalid continuation byte); save it as UTF-8",
        f"{bad / 'task.yaml'}: field 'domains': Field required",
        f"{bad / 'task.yaml'}: field 'license': Field required",
        f"{typo}:3: field 'taks': unknown key 'taks'; did you mean 'tasks'?",
        "nothing was run: 2 of 4 tasks (ZzBrokenData, ZzBrokenSpec) and 1 set(s) (typo) are invalid; fix them, or "
        "add --skip-invalid to run the other 2 task(s) with the other 4 condition(s)",
    ]
    assert err.value.exit_code == 2 and emb.calls == [] and not results.exists()

    # --skip-invalid: the rest runs, and the run says in one line what it left out
    s = runner.run([mock_spec(emb)], results_dir=results, registry=TaskRegistry(), progress=False,
                   skip_invalid=True)
    assert s.skipped == ["skipped 2 invalid task(s): ZzBrokenData, ZzBrokenSpec and 1 invalid set(s): typo "
                         "(`harness validate` lists the problems)"]
    assert sorted(s.ran) == sorted(f"mock/{c}/{t}" for c in ("none", "format", "official", "blog") for t in (TEMP, AGE))


def test_cli_run_and_validate_list_every_problem(tasks: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data, bad = add_broken_tasks(tasks)
    results = tmp_path / "results"
    assert main(["run", "--model", "minilm", "--results", str(results)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err), err
    assert "ZzBrokenData/pairs.csv:3:17" in err[0] and "--skip-invalid" in err[-1]
    assert not results.exists()

    assert main(["validate"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"error: {data / 'pairs.csv'}:3:17: undecodable text (byte 0xe4: invalid "
                                "continuation byte); save it as UTF-8",
                                f"error: {bad / 'task.yaml'}: field 'domains': Field required",
                                f"error: {bad / 'task.yaml'}: field 'license': Field required"]
    assert f"ok  {tasks / TEMP / 'task.yaml'}" in out and out.splitlines()[-1].startswith("3 problem(s);")


def test_a_bad_instruction_file_stops_the_run_even_with_skip_invalid(tasks: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "instructions"
    own.mkdir()
    (own / "harness__mock-seeded-encoder.yaml").write_text("model: harness/mock-seeded-encoder\ncolour: red\n")
    monkeypatch.setattr(ins, "INSTRUCTIONS_DIR", own)
    with pytest.raises(HarnessError) as err:
        runner.run([mock_spec()], results_dir=tmp_path / "r", registry=TaskRegistry(), progress=False,
                   skip_invalid=True)
    assert err.value.lines()[0].endswith(":2: field 'colour': unknown key 'colour'")
    assert err.value.lines()[-1] == "nothing was run: fix the instruction file(s) above"


# -- item 4: sets that say nothing about a task -----------------------------------------------------------------


def test_cells_of_a_set_with_no_entry_for_the_task_are_skipped_and_shown_as_such(tasks: Path, tmp_path: Path
                                                                                  ) -> None:
    (ins.SETS_DIR / "mine.yaml").write_text(f"name: mine\ndescription: d\ntasks:\n  {TEMP}:\n    query: Feel it.\n")
    results = tmp_path / "results"
    s = runner.run([mock_spec()], conditions=["none", "mine"], results_dir=results, registry=TaskRegistry(),
                   progress=False)
    assert sorted(s.ran) == [f"mock/mine/{TEMP}", f"mock/none/{AGE}", f"mock/none/{TEMP}"]
    assert s.skipped == ["skipped 1 cell(s) whose set has no instruction for the task (they would feed exactly the "
                         f"strings of none/format; --all-cells runs them): mine: {AGE}"]
    board, _ = aggregate(results)
    row = next(line for line in delta_table(board).splitlines() if f" {AGE} " in line)
    assert row.count(NOT_IN_SET) == 2 and "nan" not in row  # the score and its delta
    table = load_comparison(results).table()
    assert NOT_IN_SET in table and "nan" not in table
    # asked for, they run (and show exactly none's numbers)
    again = runner.run([mock_spec()], conditions=["none", "mine"], results_dir=results, registry=TaskRegistry(),
                       progress=False, all_cells=True)
    assert again.ran == [f"mock/mine/{AGE}"] and not again.skipped


def test_official_and_format_cells_still_run_for_a_model_without_prefixes(tasks: Path, tmp_path: Path) -> None:
    s = runner.run([mock_spec()], tasks=[TEMP], conditions=["none", "format", "official"], results_dir=tmp_path,
                   registry=TaskRegistry(), progress=False)
    assert len(s.ran) == 3 and not s.skipped


# -- item 1: never pair cells from different data versions ------------------------------------------------------


def _edit_gold(task: Path) -> None:
    pairs = task / "pairs.csv"
    lines = pairs.read_text(encoding="utf-8").splitlines()
    head, rows = lines[0], [r.split(",") for r in lines[1:]]
    sensation = {(r[2], r[3]): r[4] for r in rows if r[0] == "sensation"}
    fixed = [",".join([*r[:4], sensation[(r[2], r[3])]]) if r[0] == "relation" else ",".join(r) for r in rows]
    pairs.write_text("\n".join([head, *fixed]) + "\n", encoding="utf-8")


def test_a_cell_on_old_data_is_never_paired_with_one_on_new_data(tasks: Path, tmp_path: Path) -> None:
    """The user's report: edit pairs.csv, rerun only `none`, aggregate, compare."""
    results = tmp_path / "results"
    runner.run([mock_spec()], tasks=[TEMP], conditions=["none", "blog"], results_dir=results,
               registry=TaskRegistry(), progress=False)
    _edit_gold(tasks / TEMP)
    runner.run([mock_spec()], tasks=[TEMP], conditions=["none"], results_dir=results, registry=TaskRegistry(),
               progress=False)
    board, d = api.aggregate(results)
    assert set(board.condition) == {"none"} and d.empty  # before: blog (old data) − none (new data) = a delta
    stale = json.loads((results / "left-out-cells.json").read_text())
    assert [(s["cell"], s["reason"].split(" (")[0]) for s in stale["stale"]] == [
        (f"mock/blog/{TEMP}", "task data changed since it ran")]
    command = f"harness run --model mock --tasks {TEMP} --conditions blog --results {results}"
    assert stale["stale"][0]["command"] == command and stale["recompute"] == [command]
    c = load_comparison(results)
    assert set(c.scores.condition) == {"none"} and any(command in n for n in c.notes)
    report = (results / "report.md").read_text()
    assert "Cells left out" in report and command in report
    assert api.stale_lines(results)[1].startswith(f"  mock/blog/{TEMP}: task data changed")
    # recomputing it brings the pair back, on one data version
    runner.run([mock_spec()], tasks=[TEMP], conditions=["none", "blog"], results_dir=results,
               registry=TaskRegistry(), progress=False)
    board, d = aggregate(results)
    assert set(d.condition) == {"blog"} and json.loads((results / "left-out-cells.json").read_text())["stale"] == []


def test_changed_instructions_and_model_settings_make_cells_stale(tasks: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    runner.run([mock_spec()], tasks=[TEMP], conditions=["none", "blog"], results_dir=results,
               registry=TaskRegistry(), progress=False)
    blog = ins.SETS_DIR / "blog.yaml"
    committed = blog.read_text()
    blog.write_text(committed.replace(BLOG, "Feel it.", 1))
    found = currency.check(results)
    assert [s.cell for s in found.stale] == [f"mock/blog/{TEMP}"]
    assert "its instructions changed" in found.stale[0].reason and "Feel it. " in found.stale[0].reason
    # a newer `none` cell of the same model revision with other settings: the older blog cell no longer matches
    spec = mock_spec()
    spec.settings = {**spec.settings, "max_seq_length": 64}
    runner.run([spec], tasks=[TEMP], conditions=["none"], results_dir=results, registry=TaskRegistry(),
               progress=False)
    blog.write_text(committed)
    found = currency.check(results)
    assert [s.cell for s in found.stale] == [f"mock/blog/{TEMP}"]
    assert "model settings differ" in found.stale[0].reason


def test_cells_of_tasks_not_here_are_kept_and_paired_only_on_equal_data(tmp_path: Path) -> None:
    def board(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
        base = {"schema_version": 3, "model": "m", "alias": "m", "revision": "1", "task": "Elsewhere",
                "task_type": "STS", "subset": "default", "split": "test", "kind": "mteb", "metric": "cosine_spearman",
                "is_main": True, "n_items": 10, "model_identity": "m@1"}
        return pd.DataFrame([base | {"condition": c, "task_data_sha256": h, "instruction_sha256": c, "score": s}
                             for c, h, s in rows])

    assert deltas(board([("none", "new", 0.5), ("blog", "old", 0.9)])).empty
    d = deltas(board([("none", "new", 0.5), ("blog", "new", 0.7), ("official", "old", 0.1)]))
    assert d[["condition", "baseline"]].values.tolist() == [["blog", "none"]]
    assert d.delta.iloc[0] == pytest.approx(0.2)


# -- item 7: one progress display, distinct strings -------------------------------------------------------------


def test_the_estimate_counts_strings_to_encode_not_cells() -> None:
    cached = {"a", "b"}
    plans = expected_new_strings(
        [("m/none/T", "T", "id", ["a", "b", "c", "c"]), ("m/format/T", "T", "id", ["a", "b", "c"]),
         ("m/blog/T", "T", "id", ["x a", "x b", "x c", "a"])],
        lambda _identity, strings: [s in cached for s in strings])
    assert [(p.texts, p.new) for p in plans] == [(3, 1), (3, 0), (4, 3)]
    screen = io.StringIO()
    bar = Progress(total_cells=3, plans=plans, stream=screen)
    assert bar.seconds_left() is None  # nothing measured yet
    bar.cell_started("m/none/T")
    bar.strings("id", ["c"], ["a", "b"], 2.0)  # 2 s per encoded string
    bar.cell_finished("m/none/T")
    bar.cell_started("m/format/T")
    bar.strings("id", [], ["a", "b", "c"], 0.0)
    bar.cell_finished("m/format/T")
    # blog: 3 strings to encode at 2 s each + its time outside encoding (that of task T's finished cells)
    left = bar.seconds_left()
    assert left is not None and 6.0 <= left < 6.5
    assert "m/format/T" not in bar.line() and "2/3 cells" in bar.line() and "encoded 1 of ~4" in bar.line()
    bar.close()
    assert bar.tally.n_encoded == 1 and bar.tally.n_reused == 2  # distinct strings, not look-ups


def test_library_output_goes_to_a_log_file_and_verbose_keeps_it(tasks: Path, tmp_path: Path,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    s = runner.run([mock_spec()], tasks=[TEMP], conditions=["none"], results_dir=tmp_path / "q",
                   registry=TaskRegistry(), progress=False)
    _, err = capfd.readouterr()
    assert err == "" and s.log_file is not None and s.log_file.parent == tmp_path / "q" / "logs"
    assert s.log_file.exists()  # what goes into it: tests/test_reliability.py (a separate process)
    loud = runner.run([mock_spec()], tasks=[TEMP], conditions=["none"], results_dir=tmp_path / "v",
                      registry=TaskRegistry(), progress=False, verbose=True)
    assert loud.log_file is None and not (tmp_path / "v" / "logs").exists()
