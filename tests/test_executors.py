"""Executors without Ray: the cell split (evaluate → bytes, write → files), the Ray worker's logic in-process,
the schedule (cost, longest first, workers per model) and the CLI's one-line errors for executor options."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import cli
from harness.models.mock import mock_spec
from harness.models.resolve import resolve
from harness.prompts.conditions import Condition
from harness.run import schedule
from harness.run.cell import evaluate_cell, run_cell, write_cell
from harness.run.grid import plan
from harness.run.ray_executor import check_address
from harness.run.ray_worker import CellFailure, CellJob, CellWorker, ModelHandle, TaskFiles
from harness.taskspecs.local import TaskRegistry

TASK = "TemperatureBySensation"


def cells(results: Path, conditions: tuple[str, ...] = ("none", "blog")) -> list:
    return plan([mock_spec()], TaskRegistry().select([TASK]), [Condition.parse(c) for c in conditions], results)


def test_evaluate_returns_the_bytes_write_puts_on_disk_sidecar_last(tmp_path: Path) -> None:
    cell = cells(tmp_path / "a", ("blog",))[0]
    out = evaluate_cell(cell, mock_spec().load())
    assert not (tmp_path / "a").exists()  # evaluating writes nothing
    names = [Path(rel).name for rel, _ in out.files]
    assert names == [f"{TASK}.cosines.parquet", f"{TASK}.predictions.parquet", f"{TASK}.json", "model_meta.json",
                     f"{TASK}.json"]
    assert out.files[-1][0] == str(cell.sidecar_path.relative_to(cell.results_dir))
    write_cell(out, tmp_path / "a")
    assert cell.state() == ("done", "")
    for rel, data in out.files:
        assert (tmp_path / "a" / rel).read_bytes() == data
    # the local executor's path (evaluate + write in-process) gives the same predictions and artifact bytes
    other = cells(tmp_path / "b", ("blog",))[0]
    run_cell(other, mock_spec().load())
    for rel, _ in out.files[:2]:
        assert (tmp_path / "b" / rel).read_bytes() == (tmp_path / "a" / rel).read_bytes()


def test_a_worker_in_process_evaluates_from_shipped_task_files_and_refuses_another_key(tmp_path: Path) -> None:
    cell = cells(tmp_path / "local", ("none",))[0]
    worker = CellWorker(ModelHandle.of(mock_spec()), batch_size=32, threads=None, cache_dir=str(tmp_path / "c"),
                        use_cache=True)
    info = worker.describe()
    assert not info.error and info.identity == cell.spec.identity
    assert info.gpus == ()
    import ray

    assert not ray.is_initialized()  # asking a worker where it runs must not start Ray in this process
    files = TaskFiles.of(cell.task)
    moved = TaskFiles(files.name, str(tmp_path / "not-on-this-node"), files.data_hash, files.files)
    out = worker.evaluate(CellJob(cell.label, cell.key, cell.prompter), moved)
    assert not isinstance(out, CellFailure), out
    assert worker._task(moved).folder != cell.task.folder  # materialised from the shipped bytes
    run_cell(cell, mock_spec().load())
    rel = str(cell.predictions_path.relative_to(cell.results_dir))
    assert dict(out.files)[rel] == cell.predictions_path.read_bytes()
    refused = worker.evaluate(CellJob(cell.label, "0" * 64, cell.prompter), files)
    assert isinstance(refused, CellFailure) and not refused.model
    assert "identity differs from the driver's" in refused.message


def test_a_model_that_fails_to_load_fails_every_later_cell_at_once(tmp_path: Path) -> None:
    spec = mock_spec()
    calls = []

    def broken():
        calls.append(1)
        raise OSError("disk gone")

    spec.loader = broken
    cell = cells(tmp_path, ("none",))[0]
    worker = CellWorker(ModelHandle.of(spec), batch_size=32, threads=None, cache_dir=None, use_cache=False)
    job = CellJob(cell.label, cell.key, cell.prompter)
    for _ in range(2):
        failure = worker.evaluate(job, TaskFiles.of(cell.task))
        assert isinstance(failure, CellFailure) and failure.model
        assert failure.message.startswith("model 'mock' failed to load on node ")
        assert failure.message.endswith("OSError: disk gone")
    assert calls == [1]  # loaded once, not once per cell


def test_models_travel_by_name_when_a_node_can_resolve_them() -> None:
    assert ModelHandle.of(resolve("minilm")).name == "minilm"
    handle = ModelHandle.of(mock_spec())
    assert handle.name is None and handle.spec is not None


def test_cost_orders_cells_longest_first() -> None:
    none, blog = cells(Path("/nonexistent"))
    n, chars = schedule.text_stats(none.task)["query"]
    assert schedule.cell_cost(none) == chars
    assert schedule.cell_cost(blog) == chars + n * len(blog.prompts["query"])
    cost = {c.label: schedule.cell_cost(c) for c in (none, blog)}
    assert schedule.longest_first([none, blog], cost) == [blog, none]


def test_workers_per_model() -> None:
    assert schedule.workers_per_model({"a": 10, "b": 30}, {"a": 5, "b": 5}, 2) == {"a": 1, "b": 1}
    assert schedule.workers_per_model({"a": 12, "b": 30}, {"a": 5, "b": 5}, 5) == {"a": 2, "b": 3}
    assert schedule.workers_per_model({"a": 10, "b": 30}, {"a": 1, "b": 2}, 8) == {"a": 1, "b": 2}
    # fewer slots than models: the costliest start, the others wait for a free slot
    assert schedule.workers_per_model({"a": 1, "b": 3, "c": 2}, {"a": 1, "b": 1, "c": 1}, 2) == {
        "a": 0, "b": 1, "c": 1}
    assert schedule.model_for_free_slot({"a": 1, "b": 3}, {"a": 0, "b": 1}) == "a"  # a model without a worker
    assert schedule.model_for_free_slot({"a": 1, "b": 3}, {"a": 1, "b": 1}) == "b"
    assert schedule.model_for_free_slot({"a": 1}, {"a": 1}) is None


@pytest.mark.parametrize(("args", "expected"), [
    (["--executor", "dask"], "error: --executor dask: unknown executor; expected one of local, ray"),
    (["--workers", "2"], "error: --ray-address and --workers need --executor ray"),
    (["--executor", "ray", "--workers", "0"], "error: --workers 0: must be at least 1"),
    (["--executor", "ray", "--ray-address", "127.0.0.1:1"],
     "error: --ray-address 127.0.0.1:1: no Ray cluster answers there (Connection refused)"),
    (["--executor", "ray", "--ray-address", "nowhere"],
     "error: --ray-address nowhere: expected host:port (e.g. 10.0.0.1:6379), ray://host:port or auto"),
])
def test_executor_options_fail_with_one_line_and_write_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str) -> None:
    results = tmp_path / "results"
    code = cli.main(["run", "--model", "minilm", "--tasks", TASK, "--results", str(results), *args])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [expected]
    assert not results.exists()


def test_check_address_accepts_what_ray_accepts() -> None:
    check_address("auto")  # left to Ray
    with pytest.raises(Exception, match="no Ray cluster answers there"):
        check_address("ray://127.0.0.1:1")
