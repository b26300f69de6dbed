"""The CLI: unknown names give one line with suggestions, exit code 2, and nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "minilmm"], "error: unknown model 'minilmm'; did you mean minilm?"),
        (["--tasks", "TemperatureBySensaton"], "error: unknown task 'TemperatureBySensaton'"),
        (["--conditions", "none,blgo"], "error: unknown condition 'blgo'"),
    ],
)
def test_unknown_names_fail_with_one_line_and_write_nothing(tmp_path: Path, args: list[str], expected: str) -> None:
    out = tmp_path / "results"
    p = harness("run", *args, "--results", str(out))
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), p.stderr
    assert "did you mean" in lines[0]
    assert not out.exists()


def test_ls_and_validate() -> None:
    p = harness("ls", "tasks")
    assert p.returncode == 0 and "TemperatureBySensation" in p.stdout
    p = harness("ls", "conditions")
    assert p.returncode == 0 and {"none", "blog"} <= set(p.stdout.split())
    p = harness("validate")
    assert p.returncode == 0 and "blog.yaml" in p.stdout


def test_aggregate_on_an_empty_folder_is_a_one_line_error(tmp_path: Path) -> None:
    p = harness("aggregate", "--results", str(tmp_path))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no results to aggregate" in p.stderr


def test_ls_instructions_of_an_unknown_model_is_the_unknown_model_error() -> None:
    p = harness("ls", "instructions", "minilmm")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == ["error: unknown model 'minilmm'; did you mean minilm?"]


def test_output_cut_short_by_the_reader_ends_quietly() -> None:
    """`harness ls instructions minilm | head -1`: the reader closes the pipe; no BrokenPipeError traceback."""
    p = subprocess.Popen([sys.executable, "-m", "harness", "ls", "instructions", "minilm"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # before the harness writes its first line
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0 and err == ""


@pytest.mark.parametrize("args", [["run", "--online", "--model", "minilmm"], ["run", "-v", "--model", "minilmm"],
                                  ["--online", "run", "--model", "minilmm"]])
def test_global_options_work_before_and_after_the_command(args: list[str]) -> None:
    p = harness(*args)
    assert p.returncode == 2 and p.stderr.startswith("error: unknown model 'minilmm'"), p.stderr


def test_ls_plots_of_a_missing_results_folder_is_an_error(tmp_path: Path) -> None:
    p = harness("ls", "plots", "--results", str(tmp_path / "nonexistent"))
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [f"error: {tmp_path / 'nonexistent'}: no such results folder; run "
                                             "`harness run` and `harness aggregate`, or give --results"]


def test_a_typo_in_a_set_names_the_unknown_key_and_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("name: mine\ndescription: d\ntaks:\n  TemperatureBySensation:\n    query: q\n")
    p = harness("run", "--conditions", f"none,{bad}", "--results", str(tmp_path / "r"))
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert lines[0] == f"error: {bad}:3: field 'taks': unknown key 'taks'; did you mean 'tasks'?", p.stderr
    assert "--skip-invalid" in lines[-1] and not (tmp_path / "r").exists()
