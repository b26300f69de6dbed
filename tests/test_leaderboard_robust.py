"""The leaderboard page shows the prompt-robust score (issue 28 item 4): per row, the mean main score over the
paraphrases [worst, best], blog's and official's percentile among them, and the rank by the mean — the values of
robust_score.parquet, computed here independently from leaderboard.parquet."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import api
from harness.models.mock import MockEmbedder, mock_spec
from harness.models.spec import ModelSpec

TASK = "TemperatureBySensation"
VARIANTS = ["paraphrase#1", "paraphrase#2", "paraphrase#3"]


def _second_mock() -> ModelSpec:
    emb = MockEmbedder(dim=8)
    return ModelSpec(alias="mock8", name="harness/mock-seeded-encoder-8", revision="1", loader=lambda: emb,
                     languages=["eng-Latn"], embed_dim=8, settings={"dim": 8})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("robust-page")
    api.run([mock_spec(), _second_mock()], tasks=[TASK], conditions=["none", "blog", *VARIANTS], results_dir=out,
            progress=False)
    api.aggregate(out)
    return out


def _cells(page: str) -> dict[tuple[str, str], dict[str, str]]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    out = {}
    for tr in re.findall(r"<tr\b[^>]*>.*?</tr>", body, flags=re.S):
        values = dict(re.findall(r'<td data-key="([^"]+)"(?: data-cond="[^"]*")? data-v="([^"]*)"', tr))
        out[(values["model"], values["subset"])] = values
    return out


def test_the_page_shows_mean_worst_best_and_blogs_percentile(results: Path) -> None:
    page = (results / "leaderboard.html").read_text(encoding="utf-8")
    assert 'data-group="robust:paraphrase"' in page and "prompt-robust over paraphrase" in page
    board = pd.read_parquet(results / "leaderboard.parquet")
    main = board[(board.kind == "mteb") & board.is_main]
    cells = _cells(page)
    assert len(cells) == 4  # 2 models × 2 subsets
    means: dict[str, dict[str, float]] = {}
    for (alias, subset), v in cells.items():
        g = main[(main.alias == alias) & (main.subset == subset)].set_index("condition").score
        scores = g[VARIANTS].to_numpy(np.float64)
        assert float(v["robust:paraphrase:mean"]) == pytest.approx(scores.mean(), abs=1e-12)
        assert float(v["robust:paraphrase:worst"]) == pytest.approx(scores.min(), abs=1e-12)
        blog = float(g["blog"])
        pct = 100 * ((scores < blog).sum() + 0.5 * (scores == blog).sum()) / len(scores)
        assert float(v["robust:paraphrase:blog_pct"]) == pytest.approx(pct, abs=1e-12)
        assert v["robust:paraphrase:official_pct"] == ""  # official did not run: no percentile, shown as —
        means.setdefault(subset, {})[alias] = float(scores.mean())
    for (alias, subset), v in cells.items():  # rank by the mean among the models on the same subset
        others = means[subset]
        assert int(float(v["robust:paraphrase:rank_mean"])) == 1 + sum(m > others[alias] for m in others.values())


def test_no_variant_set_no_robust_columns(tmp_path: Path) -> None:
    api.run([mock_spec()], tasks=[TASK], conditions=["none", "blog"], results_dir=tmp_path, progress=False)
    api.aggregate(tmp_path)
    page = (tmp_path / "leaderboard.html").read_text(encoding="utf-8")
    assert "robust:" not in page.split("<tbody>", 1)[0].split("<table", 1)[1]
