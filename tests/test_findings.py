"""`python -m harness.report.findings` (make findings): from an aggregated mock grid it writes findings.md whose
numbers are deltas.parquet's, the pair table, the language-split plots side by side and the shift figure; a
folder without parquet files is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.models.mock import mock_spec
from harness.report import findings

TASKS = ["TemperatureBySensation", "MixedPoolTranslationRetrieval"]  # the latter has the language probe


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("findings-run")
    api.run([mock_spec()], tasks=TASKS, conditions=["none", "blog"], results_dir=out, progress=False)
    api.aggregate(out)
    return out


def test_findings_tables_are_the_aggregated_numbers(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "findings"
    out.mkdir()
    (out / "deltas.png").write_bytes(b"the chart as an earlier version wrote it")
    paths = findings.write(results, out)
    assert not (out / "deltas.png").exists()
    assert {p.name for p in paths} >= {"findings.md", "deltas.svg", "embedding_shift.png"}
    chart = next(p for p in paths if p.name == "deltas.svg").read_text(encoding="utf-8")
    assert chart.startswith("<svg ") and 'class="delta-chart"' in chart
    assert any(p.name.endswith(".language_split.png") for p in paths)
    for p in paths:
        assert p.stat().st_size > 0
    text = (out / "findings.md").read_text(encoding="utf-8")
    d = pd.read_parquet(results / "deltas.parquet")
    tested = d[(d.kind == "mteb") & d.is_main & (d.baseline == "none") & d.p_value.notna()]
    assert len(tested) >= 3
    for r in tested.itertuples():  # every tested delta, with its interval, is in the table
        assert f"{r.delta:+.3f}" in text
        assert f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]" in text
    sig = int((tested.p_holm < findings.ALPHA).sum())
    assert f"{sig} of {len(tested)} tested deltas significant" in text
    assert "warm – cold" in text  # the origin's pair table
    assert '<img src="' in text and "language_split.png" in text


def test_narrowing_to_tasks_and_a_missing_folder(results: Path, tmp_path: Path) -> None:
    findings.write(results, tmp_path / "one", tasks=["TemperatureBySensation"])
    text = (tmp_path / "one" / "findings.md").read_text(encoding="utf-8")
    assert "MixedPoolTranslationRetrieval" not in text.split("## The origin")[0]
    assert findings.main([str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
