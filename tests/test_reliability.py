"""Resumable runs that never lose or reuse stale results: kills, staleness, corruption, full disks, determinism."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.core.errors import HarnessError
from harness.models.mock import MockEmbedder, mock_spec
from harness.prompts.conditions import Condition
from harness.run import grid
from harness.run import local as runner
from harness.taskspecs.local import TaskRegistry
from tests.conftest import ROOT

TASKS = ["TemperatureBySensation", "DeEnTranslationBitextMining"]
TIMESTAMPS = ["created_at"]


def mock_run(results: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_FAULT"}
    if fault:
        env["HARNESS_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "tests.mock_run", str(results), *TASKS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def parquet(results: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(results / f"{name}.parquet").drop(columns=TIMESTAMPS, errors="ignore")


def leftovers(results: Path) -> list[Path]:
    return [p for p in results.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    p = mock_run(out)
    assert p.returncode == 0, p.stderr
    return out


# A kill mid-encode is also covered by test_kill_mid_run_costs_only_the_cell_in_flight, and one just after a cell
# landed by the mid-write kill: those two run in `make test-slow` only (each is a ~40 s pair of subprocess runs).
@pytest.mark.parametrize("fault", [pytest.param("kill:encode:3", marks=pytest.mark.slow), "kill:write:7",
                                   pytest.param("kill:cell-done:2", marks=pytest.mark.slow), "kill:aggregate:1"])
def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path: Path, reference: Path, fault: str) -> None:
    killed = mock_run(tmp_path, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = mock_run(tmp_path)
    assert again.returncode == 0, again.stderr
    for name in ("leaderboard", "deltas"):
        pd.testing.assert_frame_equal(parquet(tmp_path, name), parquet(reference, name))
    assert leftovers(tmp_path) == []


def test_kill_mid_run_costs_only_the_cell_in_flight(tmp_path: Path) -> None:
    killed = mock_run(tmp_path, "kill:encode:7")  # the third cell is being encoded (STS: 4 encode calls a cell)
    assert killed.returncode == -signal.SIGKILL
    status = json.loads((tmp_path / "run-status.json").read_text())["cells"]
    done = sorted(label for label, s in status.items() if s["state"] == "done")
    in_flight = [label for label, s in status.items() if s["state"] == "pending"]
    assert 1 <= len(done) < 4
    summary = api.run([mock_spec()], tasks=TASKS, conditions=["none", "blog"], results_dir=tmp_path, progress=False)
    assert sorted(summary.reused) == done  # nothing finished is redone
    assert sorted(summary.ran) == sorted(in_flight)


@pytest.fixture
def finished(tmp_path: Path) -> tuple[Path, Path]:
    tasks_root = tmp_path / "tasks"
    shutil.copytree(ROOT / "tasks" / "TemperatureBySensation", tasks_root / "TemperatureBySensation")
    results = tmp_path / "results"
    summary = runner.run([mock_spec()], conditions=["none", "blog"], results_dir=results,
                         registry=TaskRegistry(tasks_root), progress=False)
    assert len(summary.ran) == 2
    return tasks_root, results


def rerun(tasks_root: Path, results: Path, conditions: list[str], **kw) -> runner.RunSummary:
    spec = kw.pop("spec", None) or mock_spec()
    return runner.run([spec], conditions=conditions, results_dir=results, registry=TaskRegistry(tasks_root),
                      progress=False)


def test_changed_task_data_reruns_the_task(finished) -> None:
    tasks_root, results = finished
    pairs = tasks_root / "TemperatureBySensation" / "pairs.csv"
    pairs.write_text(pairs.read_text().replace("0.65", "0.60", 1))
    s = rerun(tasks_root, results, ["none", "blog"])
    assert len(s.ran) == 2 and not s.reused
    assert all("task_data_sha256" in why for _, why in s.recomputed)


def test_changed_instruction_reruns_only_that_condition(finished, tmp_path: Path) -> None:
    tasks_root, results = finished
    own = tmp_path / "blog.yaml"  # same set name, another instruction
    own.write_text("name: blog\ndescription: edited\ntasks:\n  TemperatureBySensation:\n    query: Feel it.\n")
    s = rerun(tasks_root, results, ["none", str(own)])
    assert s.reused == ["mock/none/TemperatureBySensation"]
    assert s.ran == ["mock/blog/TemperatureBySensation"]
    assert "prompts" in s.recomputed[0][1]


def test_changed_model_revision_and_schema_version_rerun(finished, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks_root, results = finished
    s = rerun(tasks_root, results, ["none"], spec=mock_spec(revision="2"))
    assert s.ran == ["mock/none/TemperatureBySensation"]  # a new revision is a new cell
    monkeypatch.setattr(grid, "RESULT_SCHEMA_VERSION", grid.RESULT_SCHEMA_VERSION + 1)
    s = rerun(tasks_root, results, ["none"])
    assert s.ran == ["mock/none/TemperatureBySensation"] and "schema_version" in s.recomputed[0][1]


@pytest.mark.parametrize("victim", ["result", "sidecar", "predictions"])
def test_corrupt_or_truncated_files_are_reported_and_recomputed(finished, victim: str) -> None:
    tasks_root, results = finished
    cell = runner.plan([mock_spec()], TaskRegistry(tasks_root).select(None),
                       [Condition.parse("none")], results)[0]
    path = {"result": cell.result_path, "sidecar": cell.sidecar_path, "predictions": cell.predictions_path}[victim]
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    s = rerun(tasks_root, results, ["none", "blog"])
    assert s.ran == ["mock/none/TemperatureBySensation"]
    assert s.recomputed[0][1].startswith("corrupt") and path.name in s.recomputed[0][1]
    assert cell.state() == ("done", "")


def test_full_disk_during_a_write_is_one_line_and_loses_nothing(finished, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks_root, results = finished
    before = {p: p.read_bytes() for p in results.rglob("*.json")}
    monkeypatch.setenv("HARNESS_FAULT", "enospc:write:1")
    from harness.core import faults

    faults._seen.clear()
    with pytest.raises(HarnessError, match=r"write failed \(No space left on device\); nothing was replaced"):
        rerun(tasks_root, results, ["none", "official"])
    assert leftovers(results) == []
    for p, data in before.items():
        if p.name != "run-status.json":
            assert p.read_bytes() == data


def test_unwritable_results_folder_fails_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    emb = MockEmbedder()
    with pytest.raises(HarnessError, match=f"results: is under {blocker}, which is a file, not a folder"):
        api.run([mock_spec(emb)], tasks=["TemperatureBySensation"], results_dir=blocker / "results", progress=False)
    with pytest.raises(HarnessError, match="file: is a file, not a folder; give --results a folder"):
        api.run([mock_spec(emb)], tasks=["TemperatureBySensation"], results_dir=blocker, progress=False)
    assert emb.calls == [] and blocker.read_text() == "not a folder"


def _immutable(path: Path, on: bool) -> bool:
    """chattr +i makes a folder unwritable even for root (CI runs as root, so chmod alone proves nothing)."""
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True).returncode == 0


def test_read_only_results_folder_fails_with_one_line(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    if not _immutable(ro, True):
        pytest.skip("chattr +i is not available on this file system")
    try:
        p = subprocess.run([sys.executable, "-m", "harness", "run", "--model", "minilm", "--results", str(ro)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        _immutable(ro, False)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [f"error: {ro}: results folder is not writable (Operation not permitted)"]
    assert list(ro.iterdir()) == []


def test_two_runs_give_identical_parquet_apart_from_timestamps(tmp_path: Path, reference: Path) -> None:
    p = mock_run(tmp_path)
    assert p.returncode == 0
    for name in ("leaderboard", "deltas"):
        pd.testing.assert_frame_equal(parquet(tmp_path, name), parquet(reference, name))


def test_minilm_is_deterministic(tmp_path: Path, minilm_spec) -> None:
    boards = []
    for i in range(2):
        out = tmp_path / str(i)
        api.run([minilm_spec], tasks=["TemperatureBySensation"], conditions=["none", "blog"], results_dir=out,
                progress=False)
        api.aggregate(out)
        boards.append(parquet(out, "leaderboard"))
    pd.testing.assert_frame_equal(boards[0], boards[1])


def test_ctrl_c_prints_one_line_exits_130_and_the_rerun_resumes(tmp_path: Path, reference: Path) -> None:
    """A real SIGINT (what Ctrl-C sends) in the middle of the third cell: one line, exit 130, the finished cells
    kept; the rerun finishes the grid exactly as an uninterrupted run. The libraries' output (mteb's bars, torch's
    warning on bitext cells) is in the run's log file, never on the console."""
    stopped = mock_run(tmp_path, "sigint:encode:7")
    status = json.loads((tmp_path / "run-status.json").read_text())["cells"]
    done = [label for label, s in status.items() if s["state"] == "done"]
    assert stopped.returncode == 130, stopped.stderr
    assert stopped.stderr.splitlines() == [
        f"interrupted: {len(done)} of 4 cells done; rerun the same command to resume"]
    assert 1 <= len(done) < 4 and [s["state"] for s in status.values()].count("interrupted") == 1
    again = mock_run(tmp_path)
    assert again.returncode == 0 and again.stderr == ""
    for name in ("leaderboard", "deltas"):
        pd.testing.assert_frame_equal(parquet(tmp_path, name), parquet(reference, name))
    assert leftovers(tmp_path) == []
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("run-*.log"))
    assert "Matching sentences" in logs and "UserWarning" in logs


def test_ctrl_c_sent_from_outside_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_FAULT"}
    p = subprocess.Popen([sys.executable, "-m", "tests.mock_run", str(tmp_path), *TASKS], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    status = tmp_path / "run-status.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if any(s["state"] == "done" for s in json.loads(status.read_text())["cells"].values()):
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    lines = err.splitlines()
    assert len(lines) == 1 and re.fullmatch(r"interrupted: [1-3] of 4 cells done; rerun the same command to resume",
                                            lines[0]), err
