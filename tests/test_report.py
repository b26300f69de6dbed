"""The report (HTML + Markdown), the embedding-shift and word-cosine probes, and `harness compare`, rendered from
the seeded mock encoder's results."""

from __future__ import annotations

import base64
import csv
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import api
from harness.models.mock import mock_spec, mock_vector
from harness.report import build as report
from harness.report import heatmaps
from harness.results.layout import COSINES_ARTIFACT
from tests.conftest import ROOT

TASK = "TemperatureBySensation"
BLOG = "Classify a given temperature by its sensation. "
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    summary = api.run([mock_spec()], tasks=[TASK], conditions=["none", "blog"], results_dir=out, progress=False)
    assert len(summary.ran) == 2
    api.aggregate(out)
    return out


def _words() -> list[str]:
    with (ROOT / "tasks" / TASK / "words.csv").open(encoding="utf-8") as f:
        return [r["word"] for r in csv.DictReader(f)]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_embedding_shift_is_zero_without_a_prefix_and_exact_with_one(results: Path) -> None:
    board = pd.read_parquet(results / "leaderboard.parquet")
    shift = board[board.metric.str.startswith("embedding_shift/")]
    none = shift[shift.condition == "none"]
    assert set(none.metric) == {"embedding_shift/query/mean", "embedding_shift/query/std"}
    assert (none.score == 0).all() and set(none.subset) == {"sensation", "relation"}
    words = _words()
    d = np.array([1 - _unit(mock_vector(BLOG + w)) @ _unit(mock_vector(w)) for w in words])
    blog = shift[(shift.condition == "blog") & (shift.subset == "sensation")].set_index("metric")
    assert blog.loc["embedding_shift/query/mean", "score"] == pytest.approx(d.mean(), abs=1e-6)
    assert blog.loc["embedding_shift/query/std", "score"] == pytest.approx(d.std(), abs=1e-6)
    assert (blog.n_items == len(words)).all()


def test_word_cosine_artifact_holds_the_full_matrix(results: Path) -> None:
    path = next((results / "cells").glob(f"*/*/blog/{TASK}.{COSINES_ARTIFACT}"))
    t = pd.read_parquet(path)
    words = _words()
    texts = t.sort_values("i").drop_duplicates("i").text_a.tolist()
    assert sorted(texts) == sorted(words) and len(t) == len(words) ** 2
    row = t[(t.text_a == "warm") & (t.text_b == "cold")].cosine.iloc[0]
    assert row == pytest.approx(_unit(mock_vector(BLOG + "warm")) @ _unit(mock_vector(BLOG + "cold")), abs=1e-6)


def test_report_is_self_contained_and_has_every_section(results: Path) -> None:
    page = (results / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'src="([^"]+)"', page)
    assert srcs == []  # no <img>: the charts are inline SVG (no language plots in this grid)
    assert "<link" not in page and "<script" not in page and "http://" not in page and "https://" not in page
    for heading in ("Deltas with 95% confidence intervals", "Pair table", "Word × word cosine heatmaps",
                    "Language split", "Embedding shift", "Instructions used", "Versions and date"):
        assert heading in page, heading
    d = pd.read_parquet(results / "deltas.parquet")
    main = d[d.is_main & (d.subset == "sensation")].iloc[0]
    assert f"[{main.ci_low:+.4f}, {main.ci_high:+.4f}]" in page  # the delta's CI, as in deltas.parquet
    assert "warm – cold" in page and "claim: warm – philosophy &gt; warm – cold" in page  # pair table
    assert "Classify a given temperature by its sensation. " in page  # the exact prefix (repr)
    assert "cosines.png" not in page and "cosines.svg" not in page  # images are embedded, not linked
    hrefs = re.findall(r'<image [^>]*href="([^"]+)"', page)
    assert hrefs and all(h.startswith("data:image/png;base64,") for h in hrefs)
    for h in hrefs:  # the heatmaps' panels: PNGs written by report/heatmaps.py itself
        assert base64.b64decode(h.split(",", 1)[1]).startswith(PNG_MAGIC)
    # the delta chart, one heatmap (3 panels) and the model's geometry figure (report/geometry.py)
    assert page.count('<svg width=') == 3 and page.count('<image class="matrix"') == 3
    assert page.count('class="delta-chart"') == 1
    assert "Geometry: shared shift, anisotropy and centred scores" in page
    import mteb

    assert mteb.__version__ in page


def test_markdown_report_links_existing_images(results: Path) -> None:
    md = (results / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 3
    svgs = [link for link in links if link.endswith(".cosines.svg")]
    assert len(svgs) == 1 and "report_files/deltas.svg" in links
    assert [link for link in links if "geometry__" in link] == ["report_files/geometry__mock.svg"]
    chart = (results / "report_files" / "deltas.svg").read_text(encoding="utf-8")
    assert chart.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and 'class="delta-chart"' in chart
    svg = (results / svgs[0]).read_text(encoding="utf-8")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and ">warm</text>" in svg
    assert "| model | task (main score) | subset | condition − baseline |" in md
    assert "`'Classify a given temperature" in md


def test_language_plots_under_plots_are_embedded(results: Path, tmp_path: Path) -> None:
    copy = tmp_path / "r"
    shutil.copytree(results, copy)
    png = base64.b64decode(heatmaps._png(np.zeros((4, 4, 4), np.uint8)).split(",", 1)[1])
    (copy / "plots").mkdir(exist_ok=True)
    (copy / "plots" / "mock.language_split.png").write_bytes(png)
    report.build(copy)
    page = (copy / "report.html").read_text(encoding="utf-8")
    assert "mock: language split" in page and page.count('src="data:image/png;base64,') == 1


def test_compare_prints_models_by_conditions_with_cis(results: Path) -> None:
    text = api.compare(results, tasks=[TASK])
    lines = text.splitlines()
    assert lines[0] == f"{TASK} (cosine_spearman)"
    assert "none" in lines[1] and "blog" in lines[1] and "Δ blog − none" in lines[1]
    d = pd.read_parquet(results / "deltas.parquet")
    r = d[d.is_main & (d.subset == "relation")].iloc[0]
    row = next(line for line in lines if line.startswith("mock") and "relation" in line)
    assert f"{r.delta:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]" in row
    from harness.core.errors import HarnessError

    with pytest.raises(HarnessError, match=r"unknown model 'mokc' in .*; did you mean mock"):
        api.compare(results, models=["mokc"])


def test_cli_compare_and_aggregate_print_the_intervals(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["compare", "--results", str(results), "--tasks", TASK]) == 0
    assert "95% CI" in capsys.readouterr().out
    assert main(["compare", "--results", str(results.parent / "nowhere")]) == 2
    assert "run `harness aggregate` first" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(results: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                    "--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}",
                    (results / "report.html").as_uri()], check=True, capture_output=True, timeout=120)
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape == (2400, 1280)
    assert (img < 128).mean() > 0.01  # text and figures were drawn: not a blank page
