"""What people read, on a two-model grid where `format` feeds the strings of `none`: `leaderboard.html` (checked
statically and in headless Chromium, where a sort and filters given in the URL reorder and hide rows after the
scripts ran: the DOM is dumped with --dump-dom), the headline (report, console) and the folding of conditions
with identical inputs in the report."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from harness import api
from harness.models.mock import MockEmbedder, mock_spec
from harness.models.spec import ModelSpec
from harness.report import leaderboard_page

TASK = "TemperatureBySensation"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--virtual-time-budget=5000"]


def _second_mock() -> ModelSpec:
    emb = MockEmbedder(dim=8)  # other vectors, so other scores and ranks
    return ModelSpec(alias="mock8", name="harness/mock-seeded-encoder-8", revision="1", loader=lambda: emb,
                     languages=["eng-Latn"], embed_dim=8, settings={"dim": 8})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("leaderboard")
    api.run([mock_spec(), _second_mock()], tasks=[TASK], conditions=["none", "format", "blog"], results_dir=out,
            progress=False)
    api.aggregate(out)
    return out


def _rows(page: str) -> list[tuple[str, bool, dict[str, str]]]:
    """(model/subset, hidden, {column key: data-v}) of every body row, in DOM order."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    out = []
    for tr in re.findall(r"<tr\b[^>]*>.*?</tr>", body, flags=re.S):
        head = re.match(r"<tr\b[^>]*>", tr).group(0)  # type: ignore[union-attr]
        values = dict(re.findall(r'<td data-key="([^"]+)"(?: data-cond="[^"]*")? data-v="([^"]*)"', tr))
        out.append((f"{values['model']}/{values['subset']}", "hidden" in head, values))
    return out


def _expected(results: Path, by: str, ascending: bool) -> list[str]:
    wide, _ = leaderboard_page.table(pd.read_parquet(results / "leaderboard.parquet"),
                                     pd.read_parquet(results / "deltas.parquet"))
    wide = wide.sort_values([by, "alias", "subset"], ascending=[ascending, True, True], kind="stable")
    return [f"{r.alias}/{r.subset}" for r in wide.itertuples()]


def test_the_page_is_self_contained_and_a_full_static_table(results: Path) -> None:
    page = (results / "leaderboard.html").read_text(encoding="utf-8")
    assert "<link" not in page and "src=" not in page and "http://" not in page and "https://" not in page
    rows = _rows(page)
    assert [r[0] for r in rows] == ["mock/relation", "mock/sensation", "mock8/relation", "mock8/sensation"]
    assert not any(hidden for _, hidden, _ in rows)  # without JavaScript: every row, model then task order
    board = pd.read_parquet(results / "leaderboard.parquet")
    d = pd.read_parquet(results / "deltas.parquet")
    main = board[board.is_main & (board.alias == "mock8") & (board.subset == "relation")].set_index("condition")
    _, _, v = rows[2]
    assert float(v["score:blog"]) == pytest.approx(main.score["blog"])
    delta = d[d.is_main & (d.alias == "mock8") & (d.subset == "relation") & (d.condition == "blog")].iloc[0]
    assert float(v["delta:blog"]) == pytest.approx(delta.delta)
    assert f"[{delta.ci_low:+.3f}, {delta.ci_high:+.3f}]" in page  # the delta's CI
    assert "= none" in page and float(v["delta:format"]) == 0  # format fed the strings of none: folded
    sub = board[board.is_main & (board.subset == "relation") & (board.condition == "blog")]
    best = sub.sort_values("score", ascending=False).alias.iloc[0]
    assert {r[0]: r[2]["rank:blog"] for r in rows}[f"{best}/relation"] == "1.0"


def _dump(results: Path, tmp_path: Path, fragment: str) -> str:
    assert CHROMIUM is not None
    url = (results / "leaderboard.html").as_uri() + fragment
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_chromium_sorts_and_filters_from_the_url(results: Path, tmp_path: Path) -> None:
    dom = _dump(results, tmp_path, "#sort=delta:blog&dir=desc")
    rows = _rows(dom)
    assert [r[0] for r in rows] == _expected(results, "delta:blog", ascending=False)
    assert not any(hidden for _, hidden, _ in rows)
    assert 'aria-sort="descending"' in dom and '<form id="controls">' in dom  # the controls appear with JS

    dom = _dump(results, tmp_path, "#sort=score&dir=asc&model=mock8&condition=blog")  # bare key: the condition's
    rows = _rows(dom)
    visible = [name for name, hidden, _ in rows if not hidden]
    assert visible == [n for n in _expected(results, "score:blog", ascending=True) if n.startswith("mock8/")]
    assert all(name.startswith("mock/") for name, hidden, _ in rows if hidden)
    head = dom.split("<tbody>", 1)[0]
    assert re.search(r'<th data-key="score:format" data-cond="format" hidden', head)  # other conditions' columns
    assert not re.search(r'<th data-key="score:none" data-cond="none" hidden', head)  # none's score stays


def test_report_opens_with_the_headline_and_folds_identical_conditions(results: Path) -> None:
    page = (results / "report.html").read_text(encoding="utf-8")
    body = page.split("</nav>", 1)[1]
    assert body.index('id="headline"') < body.index('id="grid"') < body.index('id="deltas-with-95')
    assert "<b>none = format</b>: exactly the same strings on every task" in page
    deltas = page.split('id="deltas-with-95', 1)[1].split("<h2", 1)[0]
    assert "format − none" not in deltas  # no rows of zeros per condition ...
    assert deltas.count("<td>every task</td>") == 2  # ... one row per model
    assert len(re.findall(r"<td[^>]*>none = format</td>", deltas)) == 2
    assert len(re.findall(r"<td[^>]*>blog − none</td>", deltas)) == 4
    pairs = page.split('id="pair-table', 1)[1].split("<h2", 1)[0]
    assert "<th>none = format</th><th>blog</th>" in pairs
    shift = page.split('id="embedding-shift"', 1)[1].split("<h2", 1)[0]
    assert "<th>none = format</th><th>blog</th><th>texts</th>" in shift
    prefixes = page.split('id="instructions-used"', 1)[1].split("<h2", 1)[0]
    assert "<details><summary>Show the 4 exact prefixes</summary>" in prefixes  # collapsed: 2 models × 2 prefixes
    assert prefixes.count("<td>none = format</td>") == 2


def test_console_prints_the_headline_first(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    from harness.cli import main

    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    assert main(["aggregate", "--results", str(copy)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("wrote ") and out[2] == "mock (harness/mock-seeded-encoder @ 1)"
    assert out[3] == "  none = format: exactly the same strings on every task (nothing to compare)"
    assert out[4].startswith("  blog vs none: ")
    assert any(line.startswith("mock8 (harness/mock-seeded-encoder-8 @ 1)") for line in out)
    assert any(line.startswith("leaderboard") or "leaderboard.html" in line for line in out)
