"""The layout: declared layers kept (import-linter, every import counted, also inside functions), no import cycles,
no oversized module, every subpackage saying what it owns and may import, and start-up that imports no model
library until a cell actually runs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

HARNESS = ROOT / "harness"
MAX_LINES = 500
SUBPACKAGES = ("core", "results", "taskspecs", "prompts", "models", "run", "stats", "analysis", "report", "publish",
               "perf")


def test_import_linter_contracts_are_kept() -> None:
    from importlinter.cli import lint_imports

    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert code == 0, "import-linter found a broken contract: run `.venv/bin/lint-imports` for the chain"


def test_the_contracts_cover_layers_forbidden_imports_and_cycles() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    types = sorted(c["type"] for c in contracts)
    assert types == ["acyclic_siblings", "forbidden", "forbidden", "forbidden", "forbidden", "layers"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.split("|")}
    assert {f"harness.{p}" for p in SUBPACKAGES} | {"harness.cli", "harness.api"} == named


def _modules() -> list[Path]:
    return sorted(p for p in HARNESS.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_is_over_the_size_limit() -> None:
    big = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"split these modules (> {MAX_LINES} lines): {big}"


def test_top_level_holds_only_the_users_surface() -> None:
    top = sorted(p.name for p in HARNESS.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "api.py", "cli.py"]
    assert sorted(p.name for p in HARNESS.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(SUBPACKAGES)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_subpackage_says_what_it_owns_and_may_import(package: str) -> None:
    init = HARNESS / package / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert len(doc.splitlines()) >= 3, f"{init}: docstring must say what the package owns"
    assert "may import" in doc.lower(), f"{init}: docstring must say what the package may import"
    assert all(isinstance(n, ast.Expr) for n in tree.body), f"{init}: keep __init__ free of code (no cycles)"


def _imported_after(code: str, cache: Path | None = None) -> set[str]:
    env = {**os.environ, "HARNESS_CACHE": str(cache)} if cache is not None else None
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    return set(out.stdout.split())


HEAVY = {"mteb", "torch", "transformers", "sentence_transformers", "datasets", "sklearn", "ray"}


def test_help_imports_no_model_library() -> None:
    mods = _imported_after("from harness.cli import build_parser\nbuild_parser().format_help()")
    assert not HEAVY & mods


def test_checking_which_cells_are_done_imports_no_model_library(tmp_path: Path) -> None:
    # what an all-reused rerun does before it decides there is nothing to run: resolve, plan, check every cell.
    # Resolving a model asks mteb's registry for its languages once per mteb version (harness.core.mteb_memo): in a
    # fresh checkout the first call imports mteb to fill that memo, so the memo lives in a folder of this test's
    # own, filled by a first run, and the second run is the one checked (whatever ran before in this checkout)
    code = """
from pathlib import Path
from harness.models.resolve import resolve
from harness.prompts.conditions import Condition
from harness.prompts.files import list_conditions
from harness.run.grid import plan
from harness.taskspecs.local import TaskRegistry
cells = plan([resolve("minilm")], TaskRegistry().select(None), [Condition.parse(c) for c in list_conditions()],
             Path("/nonexistent-results"))
assert cells and all(c.state()[0] == "missing" for c in cells)
"""
    _imported_after(code, tmp_path)  # fills the memo
    mods = _imported_after(code, tmp_path)
    assert not HEAVY & mods, sorted(HEAVY & mods)


LIGHT_COMMANDS = (["--help"], ["validate"], ["ls", "models"], ["ls", "tasks"], ["ls", "conditions"],
                  ["ls", "instructions", "minilm"])
NOT_FOR_LIGHT_COMMANDS = HEAVY | {"matplotlib"}


def _cli_run(args: list[str], cache: Path) -> tuple[str, set[str]]:
    """Run ``python -m harness ARGS`` in a fresh interpreter: (its stdout, the modules it had imported at exit)."""
    code = ("import runpy, sys\n"
            f"sys.argv = ['harness', *{args!r}]\n"
            "try:\n    runpy.run_module('harness', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n")
    env = {**os.environ, "HARNESS_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    text, _, mods = out.stdout.rpartition("\nMODULES ")
    return text, set(mods.split())


@pytest.mark.parametrize("args", LIGHT_COMMANDS, ids=" ".join)
def test_quick_commands_import_no_model_library_nor_matplotlib(args: list[str], tmp_path: Path) -> None:
    # validate and ls models ask mteb once per mteb version (task metadata, a model's languages) and keep the
    # answer: the first call may import mteb, every later one must not, and must answer the same
    first, _ = _cli_run(args, tmp_path)
    text, mods = _cli_run(args, tmp_path)
    assert not NOT_FOR_LIGHT_COMMANDS & mods, sorted(NOT_FOR_LIGHT_COMMANDS & mods)
    if args[0] in ("--help", "ls"):  # listing reads YAML; pandas only where tables or task data are read
        assert "pandas" not in mods
    assert text == first and text.strip()
