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
