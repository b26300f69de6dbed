"""Issue 27 items 4 and 5: task folders and sets outside the checkout, --results relative to the current folder,
--name/--instructions for a local model folder; `compare --baseline` on demand with aggregate's statistics."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.cli import main
from harness.models.mock import mock_spec
from tests.conftest import ROOT

TEMP = "TemperatureBySensation"


@pytest.fixture(autouse=True)
def _own_search_path(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HARNESS_TASKS_PATH", "HARNESS_SETS_PATH", "HARNESS_INSTRUCTION_FILES"):
        monkeypatch.setenv(var, "")


def _outside(tmp_path: Path) -> Path:
    """A copy of one task under another name, outside the checkout."""
    root = tmp_path / "elsewhere"
    dst = root / "OutsideTemps"
    shutil.copytree(ROOT / "tasks" / TEMP, dst)
    spec = (dst / "task.yaml").read_text().replace(f"name: {TEMP}", "name: OutsideTemps")
    (dst / "task.yaml").write_text(spec)
    return root


def test_tasks_dir_and_the_environment_variable_find_task_folders_anywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = _outside(tmp_path)
    assert main(["ls", "tasks"]) == 0
    assert "OutsideTemps" not in capsys.readouterr().out
    assert main(["ls", "tasks", "--tasks-dir", str(root)]) == 0
    assert "OutsideTemps" in capsys.readouterr().out
    monkeypatch.setenv("HARNESS_TASKS_PATH", str(root))
    assert any(t["name"] == "OutsideTemps" for t in api.list_tasks())
    assert main(["ls", "tasks", "--tasks-dir", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --tasks-dir {tmp_path / 'nope'}: no such folder"


def test_sets_by_path_must_exist_and_sets_dir_finds_them_by_name(tmp_path: Path) -> None:
    from harness.core.errors import HarnessError
    from harness.prompts.conditions import expand_conditions

    with pytest.raises(HarnessError, match="no such set file"):
        expand_conditions([str(tmp_path / "missing.yaml")])
    sets = tmp_path / "sets"
    sets.mkdir()
    (sets / "mine.yaml").write_text(f"name: mine\ndescription: d\ntasks:\n  {TEMP}:\n    query: Be warm.\n")
    with pytest.raises(HarnessError, match="mine"):
        expand_conditions(["mine"])
    api.add_search_dirs(sets=[sets])
    assert [c.name for c in expand_conditions(["mine"])] == ["mine"]
    assert "mine" in api.list_conditions()


def test_results_default_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = api.run([mock_spec()], tasks=[TEMP], conditions=["none"], progress=False)
    assert len(s.ran) == 1 and (tmp_path / "results" / "run-status.json").exists()


def test_a_local_folder_gets_the_chosen_name_and_an_instruction_file(tmp_path: Path) -> None:
    from harness.core.errors import HarnessError
    from harness.models.bundled import _minilm_folder
    from harness.prompts.files import model_instructions

    folder = _minilm_folder()
    assert api.resolve_models([str(folder)])[0].name == "local/model"
    spec = api.resolve_models([str(folder)], name="sentence-transformers/all-MiniLM-L6-v2")[0]
    assert (spec.name, spec.alias) == ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
    recipe = tmp_path / "mine.yaml"
    recipe.write_text('model: me/my-minilm\nsource:\n  kind: none\nformat_prefixes:\n  query: "query: "\n')
    spec = api.resolve_models([str(folder)], instructions_file=recipe)[0]
    assert spec.name == "me/my-minilm" and model_instructions("me/my-minilm").format_prefixes.query == "query: "
    with pytest.raises(HarnessError, match="its model is 'me/my-minilm', not --name 'x/y'"):
        api.resolve_models([str(folder)], name="x/y", instructions_file=recipe)
    with pytest.raises(HarnessError, match="applies to a local model folder"):
        api.resolve_models(["minilm"], name="x/y")


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("baseline")
    api.run([mock_spec()], tasks=[TEMP], conditions=["none", "blog", "placebo"], results_dir=out, progress=False)
    api.aggregate(out)
    return out


def test_compare_baseline_matches_aggregate_and_holm_is_over_what_is_shown(grid: Path) -> None:
    from harness.analysis.baseline import against

    stored = pd.read_parquet(grid / "deltas.parquet")
    stored = stored[stored.is_main & (stored.baseline == "placebo") & (stored.condition == "blog")]
    _, d = against(grid, "placebo", ["blog"])
    assert len(d) == len(stored) == 2  # two subsets
    for _, r in d.iterrows():
        s = stored[stored.subset == r.subset].iloc[0]
        assert r.delta == pytest.approx(s.delta) and r.ci_low == pytest.approx(s.ci_low)
        assert r.ci_high == pytest.approx(s.ci_high) and r.p_value == pytest.approx(s.p_value)
    from harness.stats import engine

    assert list(d.p_holm) == pytest.approx(list(engine.holm(d.p_value.to_numpy())))
    text = api.compare(grid, baseline="placebo", conditions=["blog", "none"])
    assert "Δ blog − placebo" in text and "Δ none − placebo" in text and "Δ blog − none" not in text
    assert "Holm-adjusted over the 4 delta(s) shown (baseline placebo, computed on demand)" in text


def test_compare_baseline_rejects_unknown_conditions(grid: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--results", str(grid), "--baseline", "blgo"]) == 2
    assert "blgo" in capsys.readouterr().err


def test_the_leaderboard_page_embeds_each_baseline_and_a_select(grid: Path) -> None:
    page = (grid / "leaderboard.html").read_text()
    assert '<select name="base">' in page and '"baselines": ["none", "placebo"]' in page
    assert 'data-key="delta@placebo:blog" data-cond="blog" data-base="placebo"' in page
    assert 'data-key="delta:blog" data-cond="blog">' in page  # none's keys unchanged (links keep working)
