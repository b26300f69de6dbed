"""The language-split probe on embeddings whose answers are known exactly, and end to end on the fixture tasks
(probe rows in the leaderboard, the parquet artifact, the figure)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import api
from harness.analysis.tables import language_table
from harness.core.errors import HarnessError
from harness.models.mock import MockEmbedder, mock_spec, mock_vector
from harness.models.spec import Embedder
from harness.report.plots import list_plots
from harness.run import local as runner
from harness.run.language_probe import (
    PREFIX,
    derangement,
    language_split,
    pair_folds,
    principal_components,
    probe_items,
)
from harness.taskspecs.local import LocalTask, TaskRegistry
from tests.conftest import ROOT
from tests.test_ding import build_fixture_tasks

MIXED = "MixedPoolTranslationRetrieval"


def paired_labels(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows 0..n-1 first language, n..2n-1 second; pair i = rows i and n+i."""
    return np.r_[np.ones(n, bool), np.zeros(n, bool)], np.r_[np.arange(n), np.arange(n)]


def test_separated_clusters_give_accuracy_one_and_exact_alignment() -> None:
    n = 40
    eye = np.eye(2 + n)
    de = eye[0] + eye[2:]  # language direction e0 + a direction of its own per pair
    en = eye[1] + eye[2:]
    first, pairs = paired_labels(n)
    r = language_split(np.vstack([de, en]), first, pairs)
    assert r.separation_accuracy == {2: 1.0, 10: 1.0}
    assert r.cosine_true == pytest.approx(0.5, abs=1e-12)  # (e0+ej)·(e1+ej) / 2
    assert r.cosine_shuffled == pytest.approx(0.0, abs=1e-12)  # no shared direction across pairs
    assert r.alignment == pytest.approx(0.5, abs=1e-12)
    assert r.silhouette[2] > 0.5
    assert r.coords[first, 0].mean() < 0 < r.coords[~first, 0].mean()  # first language oriented to the left


def test_identical_translations_cannot_be_told_apart() -> None:
    """Each sentence embeds exactly like its translation: the probe is at chance (exactly 0.5, because both
    members of a pair share a fold) and the silhouette is exactly -1/n (the twin sits in the other class)."""
    n = 50
    v = np.random.default_rng(3).standard_normal((n, 12))
    first, pairs = paired_labels(n)
    r = language_split(np.vstack([v, v]), first, pairs)
    assert r.separation_accuracy == {2: 0.5, 10: 0.5}
    assert r.silhouette[2] == pytest.approx(-1 / n, abs=1e-9)
    assert r.silhouette[10] == pytest.approx(-1 / n, abs=1e-9)
    assert r.cosine_true == pytest.approx(1.0, abs=1e-12)
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    expected_shuffled = np.mean(np.sum(u * u[derangement(n)], axis=1))
    assert r.cosine_shuffled == pytest.approx(expected_shuffled, abs=1e-12)


def test_variance_share() -> None:
    # ±a e0, ±b e1, ±c e2: centred already; variances 2a², 2b², 2c²
    a, b, c = 3.0, 2.0, 1.0
    pts = np.array([[a, 0, 0], [-a, 0, 0], [0, b, 0], [0, -b, 0], [0, 0, c], [0, 0, -c]])
    _, share = principal_components(pts)
    assert share[:2].sum() == pytest.approx((a * a + b * b) / (a * a + b * b + c * c), abs=1e-12)
    # unit rows spanning a plane: all variance on two components
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((16, 2)))[0].T
    plane = np.cos(angles)[:, None] * basis[0] + np.sin(angles)[:, None] * basis[1]
    first, pairs = paired_labels(10)
    assert language_split(plane, first, pairs).top2_variance_share == pytest.approx(1.0, abs=1e-12)


def test_derangement_and_folds() -> None:
    for n in (2, 3, 17):
        d = derangement(n, seed=5)
        assert sorted(d) == list(range(n)) and not (d == np.arange(n)).any()
    assert (derangement(17, seed=5) == derangement(17, seed=5)).all()
    _, pairs = paired_labels(23)
    folds = pair_folds(pairs)
    assert (folds[:23] == folds[23:]).all()  # a pair never straddles folds
    assert sorted(np.bincount(folds[:23])) == [4, 4, 5, 5, 5]


def test_probe_items_checks_the_queries_file(tmp_path: Path) -> None:
    folder = tmp_path / MIXED
    shutil.copytree(ROOT / "tasks" / MIXED, folder)
    settings, df = probe_items(LocalTask(folder))
    assert settings.languages == ("de", "en") and len(df) == 4000
    q = pd.read_csv(folder / "queries.csv", dtype=str, keep_default_na=False)
    q.loc[0, "language"] = "fr"
    q.to_csv(folder / "queries.csv", index=False)
    with pytest.raises(HarnessError, match="language 'fr' is not one of"):
        probe_items(LocalTask(folder))
    q.loc[0, "language"] = "en"  # now pair 0 has two 'en' rows
    q.to_csv(folder / "queries.csv", index=False)
    with pytest.raises(HarnessError, match=r"pair '.*' .* has languages \['en', 'en'\]"):
        probe_items(LocalTask(folder))
    spec = (folder / "task.yaml").read_text().replace("  role: query", "  role: query\n  colour: red")
    (folder / "task.yaml").write_text(spec)
    with pytest.raises(HarnessError, match=r"language_probe\.colour"):
        LocalTask(folder)


class LanguageEmbedder(Embedder):
    """German strings → e0, English → e1, plus a small text-specific part: a perfect language split."""

    def __init__(self, german: set[str], dim: int = 64):
        self.german, self.dim = german, dim

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        out = []
        for t in texts:
            v = np.zeros(self.dim, dtype=np.float32)
            v[0 if t in self.german else 1] = 1.0
            noise = mock_vector(t, self.dim - 2)
            v[2:] = 0.1 * noise / np.linalg.norm(noise)  # small, text-specific
            out.append(v)
        return np.stack(out)


def test_end_to_end_probe_rows_artifact_and_plot(tmp_path: Path) -> None:
    tasks = build_fixture_tasks(tmp_path)
    registry = TaskRegistry(tasks)
    results = tmp_path / "results"
    embedder = MockEmbedder()
    summary = runner.run([mock_spec(embedder)], conditions=["none", "blog"], results_dir=results,
                         registry=registry, progress=False)
    assert len(summary.ran) == 8 and not summary.failed  # 4 tasks × 2 conditions, every task evaluated by mteb
    board, deltas = api.aggregate(results)
    probe = board[(board.kind == "probe") & board.metric.str.startswith(PREFIX)]
    assert set(probe.task) == {MIXED}  # the probe runs on one task per model × condition
    assert set(probe.condition) == {"none", "blog"}
    assert len(probe) == 2 * 8 and (probe.n_items.isin([6, 12])).all()
    # the probe saw exactly the strings the task fed as queries (blog prefix applied)
    blog = "Retrieve semantically similar text. Between german and english translations. "
    q = pd.read_csv(tasks / MIXED / "queries.csv", dtype=str)
    assert {blog + t for t in q.text} <= set(embedder.encoded)
    # alignment of the mock: recompute independently from mock vectors
    none = probe[probe.condition == "none"].set_index("metric").score
    de = q[q.language == "de"].sort_values("pair")
    en = q[q.language == "en"].sort_values("pair")

    def unit(t: str) -> np.ndarray:
        v = mock_vector(t).astype(np.float64)
        return v / np.linalg.norm(v)

    true = np.mean([unit(a) @ unit(b) for a, b in zip(de.text, en.text, strict=True)])
    assert none[f"{PREFIX}translation_cosine_true"] == pytest.approx(true, abs=1e-6)
    assert len(deltas[deltas.metric.str.startswith(PREFIX)]) == 8
    artifact = results.glob(f"cells/*/*/none/{MIXED}.language_pca.parquet")
    coords = pd.read_parquet(next(artifact))
    assert list(coords.columns) == ["pair", "language", "text", "pc1", "pc2"] and len(coords) == 12
    plots = list_plots(results)
    assert [p.name for p in plots] == ["mock.language_split.png"]
    assert plots[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plots[0].stat().st_size > 20_000
    table = language_table(board)
    assert "mock" in table and MIXED in table and "blog" in table


def test_perfect_split_through_the_runner(tmp_path: Path) -> None:
    tasks = build_fixture_tasks(tmp_path)
    q = pd.read_csv(tasks / MIXED / "queries.csv", dtype=str)
    embedder = LanguageEmbedder(set(q[q.language == "de"].text))
    spec = mock_spec()
    spec.loader = lambda: embedder
    results = tmp_path / "results"
    runner.run([spec], tasks=[MIXED], conditions=["none"], results_dir=results, registry=TaskRegistry(tasks),
               progress=False)
    board, _ = api.aggregate(results)
    got = board[board.kind == "probe"].set_index("metric").score
    assert got[f"{PREFIX}separation_accuracy@2"] == 1.0
    assert got[f"{PREFIX}separation_accuracy@10"] == 1.0
    mixed = board[(board.kind == "mteb") & (board.metric == "recall_at_1")].score
    assert float(mixed.iloc[0]) == 0.0  # same-language neighbours always win in this pool


def test_cli_lists_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "m.language_split.png").write_bytes(b"\x89PNG")
    assert main(["ls", "plots", "--results", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "plots" / "m.language_split.png")
