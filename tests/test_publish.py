"""`harness publish`: a Hugging Face dataset folder from a results folder (mock encoder), loaded back offline with
`datasets` and `mteb.ResultCache`; refusals when anything is stale or an interval is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from harness import api
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.publish import card, dataset
from harness.results import columns
from harness.results.schema import DELTAS_SCHEMA, write_parquet

TASK = "TemperatureBySensation"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("publish-results")
    api.run([mock_spec()], tasks=[TASK], conditions=["none", "format", "blog"], results_dir=out, progress=False)
    api.aggregate(out)
    return out


@pytest.fixture(scope="module")
def published(results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("published") / "hf"
    api.publish(out, results, with_predictions=True)
    return out


def _front_matter(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_the_folder_holds_the_tables_the_mteb_tree_and_a_card(results: Path, published: Path) -> None:
    for name in ("leaderboard", "deltas"):
        assert (published / "data" / f"{name}.parquet").read_bytes() == (results / f"{name}.parquet").read_bytes()
    preds = sorted(p.relative_to(published).as_posix() for p in (published / "data" / "predictions").rglob("*.*"))
    assert preds == [f"data/predictions/harness__mock-seeded-encoder/1/{c}/{TASK}.parquet"
                     for c in ("blog", "format", "none")]
    tree = sorted(p.relative_to(published).as_posix() for p in (published / "results").rglob("*.json"))
    assert tree == [f"results/harness__mock-seeded-encoder/1/experiments/condition_{c}/{f}"
                    for c in ("blog", "format", "none") for f in (f"{TASK}.json", "model_meta.json")]
    meta = _front_matter(published / "README.md")
    assert meta["license"] == "cc-by-4.0" and "mteb" in meta["tags"] and meta["language"] == ["en"]
    assert meta["size_categories"] == ["1K<n<10K"]  # 3 cells × 1,190 predictions
    assert [c["config_name"] for c in meta["configs"]] == ["leaderboard", "deltas", "predictions"]
    assert meta["configs"][1]["data_files"] == [{"split": "train", "path": "data/deltas.parquet"}]
    assert (published / "leaderboard.html").exists()
    text = (published / "README.md").read_text(encoding="utf-8")
    assert card.MARKER in text and "hf upload USER/NAME" in text
    assert "none = format" in text  # conditions that fed the same strings share a row
    assert "`'Classify a given temperature by its sensation. '`" in text  # the exact instruction string
    assert "| `mock` | `harness/mock-seeded-encoder` | `1` | dim=16 |" in text  # model with revision
    import mteb

    assert mteb.__version__ in text
    assert f"--tasks {TASK} --conditions none,format,blog" in text  # how to reproduce


def _card_columns(text: str, table: str) -> list[str]:
    section = text.split(f"### `{table}`\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)


@pytest.mark.parametrize("table", ["leaderboard", "deltas", "predictions"])
def test_every_column_of_every_published_table_is_documented(published: Path, table: str) -> None:
    text = (published / "README.md").read_text(encoding="utf-8")
    path = {"predictions": next((published / "data" / "predictions").rglob("*.parquet"))}.get(
        table, published / "data" / f"{table}.parquet")
    names = pq.read_schema(path).names
    assert _card_columns(text, table) == names
    for name, _type, description in columns.columns(table):
        assert len(description) > 10, name
        assert f"| `{name}` |" in text


def test_every_schema_field_has_one_description() -> None:
    for table, schema in columns.SCHEMAS.items():
        assert set(columns.DESCRIPTIONS[table]) == set(schema.names), table


@pytest.mark.parametrize("config", ["leaderboard", "deltas", "predictions"])
def test_datasets_loads_every_config_offline_with_equal_rows_and_types(published: Path, tmp_path: Path,
                                                                        config: str) -> None:
    import datasets

    assert os.environ.get("HF_DATASETS_OFFLINE") == "1"
    ds = datasets.load_dataset(str(published), config, split="train", cache_dir=str(tmp_path / "cache"))
    if config == "predictions":
        parts = [pq.read_table(p) for p in sorted((published / "data" / "predictions").rglob("*.parquet"))]
        assert ds.num_rows == sum(t.num_rows for t in parts)
        assert ds.data.table.schema.remove_metadata() == parts[0].schema.remove_metadata()
        return
    table = pq.read_table(published / "data" / f"{config}.parquet")
    got = ds.data.table
    assert got.schema.remove_metadata() == table.schema.remove_metadata()  # same columns, same types
    assert got.num_rows == table.num_rows > 0
    assert got.replace_schema_metadata(None).equals(table.replace_schema_metadata(None))  # same rows
    pd.testing.assert_frame_equal(ds.to_pandas(), table.to_pandas(ignore_metadata=True))


def test_verify_command_checks_every_config_and_the_mteb_tree(published: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from harness.publish import verify

    assert verify.main([str(published)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ok  leaderboard", "ok  deltas", "ok  predictions",
                                                      "ok  mteb.ResultCache"]
    assert verify.main([str(published / "leaderboard")]) == 2  # not a published folder: one line, no traceback
    assert verify.main(["--same", str(published), str(published / "nowhere")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_mteb_result_cache_loads_the_published_tree(published: Path) -> None:
    import mteb

    res = mteb.ResultCache(published).load_results(load_experiments="match_name")
    by_exp = {m.experiment_name: m for m in res.model_results}
    assert set(by_exp) == {"condition_none", "condition_format", "condition_blog"}
    assert all(m.model_revision == "1" and [t.task_name for t in m.task_results] == [TASK] for m in by_exp.values())


def _copy(results: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    return copy


def _refused(results: Path, out: Path, match: str) -> str:
    with pytest.raises(HarnessError, match=match) as e:
        api.publish(out, results)
    assert not out.exists()  # nothing written
    assert not list(out.parent.glob(f".{out.name}.*"))  # no staging left behind
    assert "\n" not in str(e.value)
    return str(e.value)


def test_refuses_when_a_cell_is_newer_than_the_deltas(results: Path, tmp_path: Path) -> None:
    copy = _copy(results, tmp_path)
    sidecar = next((copy / "cells").rglob(f"blog/{TASK}.json"))
    later = (copy / "deltas.parquet").stat().st_mtime + 60
    os.utime(sidecar, (later, later))
    msg = _refused(copy, tmp_path / "out", r"deltas\.parquet: older than 1 cell")
    assert "harness aggregate --results" in msg


def test_refuses_when_the_tables_hold_other_cells_than_the_disk(results: Path, tmp_path: Path) -> None:
    copy = _copy(results, tmp_path)
    sidecar = next((copy / "cells").rglob(f"blog/{TASK}.json"))
    side = json.loads(sidecar.read_text())
    side["created_at"] = "2030-01-01T00:00:00+00:00"  # a rerun whose mtime was lost in a copy
    sidecar.write_text(json.dumps(side))
    for name in ("leaderboard.parquet", "deltas.parquet"):
        os.utime(copy / name)
    _refused(copy, tmp_path / "out", r"leaderboard\.parquet: does not hold 1 cell")


def test_refuses_a_main_delta_without_its_interval(results: Path, tmp_path: Path) -> None:
    copy = _copy(results, tmp_path)
    d = pd.read_parquet(copy / "deltas.parquet")
    tested = d.is_main & (d.kind == "mteb") & ~d.identical_inputs.astype(bool)
    assert tested.sum() == 2  # blog − none on both subsets; format − none are identical inputs
    d.loc[tested.idxmax(), ["ci_low", "ci_high"]] = None
    write_parquet(d, DELTAS_SCHEMA, copy / "deltas.parquet")
    msg = _refused(copy, tmp_path / "out", r"1 main-metric delta\(s\) without a 95% CI")
    assert "mock TemperatureBySensation/relation blog − none" in msg


def test_refuses_stale_cells_listed_by_aggregate(results: Path, tmp_path: Path) -> None:
    copy = _copy(results, tmp_path)
    (copy / "stale-cells.json").write_text(json.dumps([f"mock/blog/{TASK}"]))
    _refused(copy, tmp_path / "out", r"stale-cells\.json: 1 cell\(s\) left out, stale or unreadable")


def test_refuses_an_unrelated_folder_and_the_results_folder_itself(results: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(HarnessError, match=r"not empty \(notes\.txt\) and not written by `harness publish`"):
        api.publish(other, results)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    with pytest.raises(HarnessError, match="would hold the results folder"):
        api.publish(results.parent, results)


def test_republishing_replaces_its_own_files_and_keeps_git(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "repo"
    (out / ".git").mkdir(parents=True)  # a fresh clone of a Hub dataset repository
    (out / ".gitattributes").write_text("*.parquet filter=lfs\n")
    first = dataset.publish(results, out, with_predictions=True)
    assert (out / "data" / "predictions").is_dir() and first.files == 1 + 2 + 3 + 6 + 1
    second = dataset.publish(results, out)  # without predictions now: the old ones go
    assert not (out / "data" / "predictions").exists() and second.files == 1 + 2 + 6 + 1
    assert (out / ".git").is_dir() and (out / ".gitattributes").read_text().startswith("*.parquet")
    meta = _front_matter(out / "README.md")
    assert [c["config_name"] for c in meta["configs"]] == ["leaderboard", "deltas"]


def test_cli_publish_prints_the_push_command_and_errors_are_one_line(results: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    out = tmp_path / "hf"
    assert main(["publish", str(out), "--results", str(results)]) == 0
    printed = capsys.readouterr().out
    assert f"hf upload USER/NAME {out} . --repo-type dataset" in printed and "leaderboard" in printed
    assert main(["publish", str(tmp_path / "x"), "--results", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such results folder" in err
