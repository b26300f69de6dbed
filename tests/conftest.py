from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Module- and session-scoped fixtures run before the per-test fixture below: give the whole session a private
# embedding cache first, so no test ever reads (or fills) the user's.
os.environ["HARNESS_EMBEDDING_CACHE"] = tempfile.mkdtemp(prefix="harness-test-embeddings-")
os.environ["HARNESS_STATS_CACHE"] = tempfile.mkdtemp(prefix="harness-test-stats-")
os.environ["HARNESS_FIGURE_CACHE"] = tempfile.mkdtemp(prefix="harness-test-figures-")

from harness.core.offline import configure

configure()

from harness.models.mock import MockEmbedder, mock_spec  # noqa: E402
from harness.models.spec import ModelSpec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# Tolerances right by construction for scores mteb stores rounded to 6 decimals (exact comparisons elsewhere):
# a stored score is within half a unit (5e-7) of the exact value, so the difference of two stored scores is within
# one unit (1e-6) of the exact difference — and two runs whose float noise flips a last digit differ by exactly
# 1e-6, which in binary floating point can read 1.0000000000287557e-06 (FLOAT covers that noise).
FLOAT = 1e-12
STORED = 0.5e-6 + FLOAT  # |stored − exact|, and |mean of stored − mean of exact|
STORED_DIFF = 1e-6 + FLOAT  # |(stored a − stored b) − (exact a − exact b)|, and two stored copies of one score


def stored_sd(n: int) -> float:
    """|sd of n differences of stored scores − sd of the exact ones| ≤ ‖e‖/√(n−1) with every |e_i| ≤ 1e-6."""
    return STORED_DIFF * (n / (n - 1)) ** 0.5


@pytest.fixture(autouse=True)
def _own_embedding_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test (and any harness process it starts) gets fresh embedding, statistics and figure caches, never the
    user's."""
    monkeypatch.setenv("HARNESS_EMBEDDING_CACHE", str(tmp_path_factory.mktemp("embedding-cache")))
    monkeypatch.setenv("HARNESS_STATS_CACHE", str(tmp_path_factory.mktemp("stats-cache")))
    monkeypatch.setenv("HARNESS_FIGURE_CACHE", str(tmp_path_factory.mktemp("figure-cache")))


@pytest.fixture
def mock_embedder() -> MockEmbedder:
    return MockEmbedder()


@pytest.fixture
def mock_model(mock_embedder: MockEmbedder) -> ModelSpec:
    return mock_spec(mock_embedder)


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private Hugging Face home (hub cache + datasets cache), empty, for tests that write a hub snapshot.
    ``datasets`` read its cache folder when it was imported, so its module setting is pointed there too (mteb's
    retrieval loader passes no cache_dir)."""
    import datasets

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", home / "datasets")
    return home


@pytest.fixture(scope="session")
def minilm_spec() -> ModelSpec:
    from harness.models.resolve import resolve

    return resolve("minilm")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium (tests/test_browser.py); skips without one")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One visible line when the browser tests could not run (pytest -q shows skips only as `s`)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "browser" in getattr(r, "keywords", {})]
    if skipped:
        reason = str(skipped[0].longrepr[-1]) if isinstance(skipped[0].longrepr, tuple) else "see -rs"
        terminalreporter.write_line(f"browser tests skipped ({len(skipped)}): {reason.removeprefix('Skipped: ')}; "
                                    "`make test` as root installs Debian's chromium", yellow=True)


def mock_grid(out: Path, tasks: list[str], conditions: tuple[str, ...] = ("none", "blog", "format")) -> Path:
    """The seeded mock encoder's cells of ``tasks`` × ``conditions`` run into ``out``."""
    from harness import api

    api.run([mock_spec()], tasks=tasks, conditions=list(conditions), results_dir=out, progress=False)
    return out
