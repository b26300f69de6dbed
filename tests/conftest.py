from __future__ import annotations

from pathlib import Path

import pytest

from harness.offline import configure

configure()

from harness.mock import MockEmbedder, mock_spec  # noqa: E402
from harness.models import ModelSpec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mock_embedder() -> MockEmbedder:
    return MockEmbedder()


@pytest.fixture
def mock_model(mock_embedder: MockEmbedder) -> ModelSpec:
    return mock_spec(mock_embedder)


@pytest.fixture(scope="session")
def minilm_spec() -> ModelSpec:
    from harness.models import resolve

    return resolve("minilm")
