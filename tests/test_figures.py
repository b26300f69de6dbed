"""The report's figures: the word × word heatmaps as SVG (one colour-mapped image per panel, the words as text),
the figure cache (an unchanged input is read back, a changed one redrawn), text from files never parsed as
mathtext (a model named ``a$x^$b``), and mteb result files read without mteb."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import api
from harness.core.errors import HarnessError
from harness.models.mock import mock_spec
from harness.report import build as report
from harness.report import figure_cache, heatmaps, plots
from harness.results.mteb_json import read_scores

TASK = "TemperatureBySensation"
DOLLARS = "a$x^$b"  # mathtext would fail on "$x^$" (a superscript of nothing)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("figures")
    spec = dataclasses.replace(mock_spec(), alias=DOLLARS, name=f"harness/{DOLLARS}")
    summary = api.run([spec], tasks=[TASK], conditions=["none", "blog"], results_dir=out, progress=False)
    assert len(summary.ran) == 2
    api.aggregate(out)  # draws the delta chart (matplotlib) with the model's name in its panel titles
    return out


def _by_cond(words: list[str], seed: int = 0) -> dict[str, tuple[list[str], np.ndarray]]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.2, 0.9, (len(words), len(words)))
    none = (a + a.T) / 2
    np.fill_diagonal(none, 1.0)
    blog = np.clip(none + rng.normal(0, 0.05, none.shape), -1, 1)
    np.fill_diagonal(blog, 1.0)
    return {"none": (words, none), "format": (words, none.copy()), "blog": (words, blog)}


WORDS = ["warm", "cold", "$x^2$", "a<b>&c", "tepid"]


def test_heatmap_svg_has_every_word_as_text_and_one_image_per_panel() -> None:
    svg = heatmaps.svg(("mock", "1", TASK), _by_cond(WORDS))
    # panels: "none = format" (identical matrices share one), "blog", and "blog − none"
    titles = re.findall(r'font-weight="600">([^<]+)</text>', svg)
    assert titles[1:] == ["none = format: cosine", "blog: cosine", "blog − none: Δ cosine"]
    matrices = re.findall(r'<image class="matrix"[^>]*href="data:image/png;base64,[^"]+"', svg)
    assert len(matrices) == 3 and svg.count('<image class="bar"') == 3
    for w in WORDS:  # each word labels a row and a column of every panel, escaped, never as markup
        assert svg.count(f">{html.escape(w)}</text>") == 2 * 3, w
    assert "<b>" not in svg
    width = float(re.match(r'<svg [^>]*width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert width <= 1200  # two panels per row: read at 1:1 on a 1280 px page


def test_heatmap_panel_colours_follow_the_matrix() -> None:
    """The matrix image is the colour-mapped matrix: the diagonal (cosine 1) is viridis' top colour."""
    import base64
    import io

    from matplotlib import colormaps, image

    by = _by_cond(WORDS)
    svg = heatmaps.svg(("mock", "1", TASK), by)
    uri = re.search(r'<image class="matrix"[^>]*href="data:image/png;base64,([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    px = image.imread(io.BytesIO(base64.b64decode(uri)))
    n = len(WORDS)
    cell = px.shape[0] // n
    assert px.shape[:2] == (n * cell, n * cell)
    top = np.array(colormaps["viridis"](1.0)[:3])
    assert np.abs(px[cell // 2, cell // 2, :3] - top).max() < 1 / 255 + 1e-6
    off = by["none"][1]
    vmin = min(float(m[~np.eye(n, dtype=bool)].min()) for _, m in by.values())  # one scale for every panel
    lo = np.unravel_index(np.argmin(np.where(np.eye(n, dtype=bool), np.inf, off)), off.shape)
    expect = np.array(colormaps["viridis"]((off[lo] - vmin) / (1 - vmin))[:3])
    got = px[lo[0] * cell + cell // 2, lo[1] * cell + cell // 2, :3]
    assert np.abs(got - expect).max() < 1 / 255 + 1e-6


def test_cache_reuses_an_unchanged_figure_and_redraws_a_changed_one(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_FIGURE_CACHE", str(tmp_path / "figs"))
    key = ("mock", "1", TASK)
    draws = figure_cache.DRAWS["heatmap"]
    first = heatmaps.heatmap(key, _by_cond(WORDS))
    assert figure_cache.DRAWS["heatmap"] == draws + 1
    again = heatmaps.heatmap(key, _by_cond(WORDS))  # same input: read back, not drawn
    assert figure_cache.DRAWS["heatmap"] == draws + 1 and again == first
    changed = _by_cond(WORDS)
    changed["blog"][1][0, 1] += 0.01
    other = heatmaps.heatmap(key, changed)  # one cosine changed: drawn again
    assert figure_cache.DRAWS["heatmap"] == draws + 2 and other.png != first.png
    for entry in (tmp_path / "figs").rglob("*.fig"):  # a damaged entry is a miss: drawn again, never served
        entry.write_bytes(entry.read_bytes()[:-10])
    assert heatmaps.heatmap(key, _by_cond(WORDS)) == first
    assert figure_cache.DRAWS["heatmap"] == draws + 3
    monkeypatch.setenv("HARNESS_FIGURE_CACHE", "off")
    assert heatmaps.heatmap(key, _by_cond(WORDS)) == first and figure_cache.DRAWS["heatmap"] == draws + 4


def _no_stamps(page: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "", re.sub(r"generated [^<]+", "", page))


def test_rebuilding_the_report_draws_only_what_changed(results: Path, tmp_path: Path) -> None:
    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    report.build(copy)  # this test's own (empty) figure cache: everything is drawn once
    before = dict(figure_cache.DRAWS)
    page = (copy / "report.html").read_text(encoding="utf-8")
    report.build(copy)  # nothing changed: nothing drawn
    assert dict(figure_cache.DRAWS) == before
    # the two builds differ only in their time stamps ("generated …" and the provenance table's ISO time)
    assert _no_stamps((copy / "report.html").read_text(encoding="utf-8")) == _no_stamps(page)
    d = pd.read_parquet(copy / "deltas.parquet")
    d.loc[d.index[0], "delta"] += 0.001  # the deltas changed, the cosine matrices did not
    d.to_parquet(copy / "deltas.parquet")
    report.build(copy)
    drawn = {k: v - before.get(k, 0) for k, v in figure_cache.DRAWS.items() if v != before.get(k, 0)}
    assert drawn == {"delta_chart": 1}


def test_a_model_named_with_dollars_renders(results: Path) -> None:
    page = (results / "report.html").read_text(encoding="utf-8")
    assert page.count('class="delta-chart"') == 1 and f">{DOLLARS}: Δ vs none" in page  # the delta chart, as text
    assert f"{DOLLARS} — {TASK}: word × word cosines" in page


def test_language_plot_text_is_never_mathtext(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    coords = pd.DataFrame({"pair": np.repeat(np.arange(20), 2), "language": ["deu", "eng"] * 20,
                           "pc1": rng.normal(size=40), "pc2": rng.normal(size=40)})
    meta = {"languages": ["deu", "eng"], "explained": [0.3, 0.2], "prefix": "cost: $5 and $x^$ "}
    panel = plots.Panel(DOLLARS, f"harness/{DOLLARS}", "1", "none", "Task$^$", "", coords, meta)
    path = tmp_path / "p.png"
    plots._draw([panel], path)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_result_files_are_read_as_mteb_reads_them(results: Path, tmp_path: Path) -> None:
    from mteb.results import TaskResult

    files = sorted((results / "results").rglob(f"{TASK}.json"))
    assert len(files) == 2
    for f in files:
        assert read_scores(f) == TaskResult.from_disk(f).scores
    bad = tmp_path / "bad.json"
    for text in ("", "{", "[]", '{"mteb_version": "2.0.0", "scores": {"test": [{"hf_subset": "default"}]}}'):
        bad.write_text(text)
        with pytest.raises(HarnessError, match=r"bad\.json: unreadable mteb result .*; rerun the cell"):
            read_scores(bad)
    data = json.loads(files[0].read_text())
    data["scores"] = {"test": [{"main_score": 0.5, "hf_subset": "default", "languages": ["eng-Latn"]}]}
    bad.write_text(json.dumps(data))
    assert read_scores(bad) == {"test": [{"main_score": 0.5, "hf_subset": "default", "languages": ["eng-Latn"]}]}


def test_aggregate_reads_results_without_importing_mteb(results: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    (copy / "leaderboard.parquet").unlink()
    code = ("import sys\nfrom pathlib import Path\nfrom harness import api\n"
            f"api.aggregate(Path({str(copy)!r}))\n"
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('mteb', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    board = pd.read_parquet(copy / "leaderboard.parquet")
    pd.testing.assert_frame_equal(board, pd.read_parquet(results / "leaderboard.parquet"))
