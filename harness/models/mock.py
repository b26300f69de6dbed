"""A seeded mock encoder for tests and dry runs: each distinct string maps to a fixed pseudo-random vector.

The vector depends only on the exact string (sha256 → seed), so expected scores can be computed independently
and pinned exactly. It also counts what it was asked to encode (for cache and exact-string tests).
"""

from __future__ import annotations

import hashlib

import numpy as np

from harness.models.spec import Embedder, ModelSpec

MOCK_DIM = 16


def mock_vector(text: str, dim: int = MOCK_DIM) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


class MockEmbedder(Embedder):
    def __init__(self, dim: int = MOCK_DIM):
        self.dim = dim
        self.calls: list[list[str]] = []

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        self.calls.append(list(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([mock_vector(t, self.dim) for t in texts])


def mock_spec(embedder: MockEmbedder | None = None, *, revision: str = "1") -> ModelSpec:
    emb = embedder or MockEmbedder()
    return ModelSpec(
        alias="mock",
        name="harness/mock-seeded-encoder",
        revision=revision,
        loader=lambda: emb,
        languages=["eng-Latn"],
        embed_dim=emb.dim,
        settings={"dim": emb.dim},
    )
