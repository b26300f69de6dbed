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


def mock_rotation(prefix: str, dim: int = MOCK_DIM) -> np.ndarray:
    """A fixed orthogonal matrix per prefix (QR of a seeded Gaussian matrix, signs fixed)."""
    seed = int.from_bytes(hashlib.sha256(("rotation\x1f" + prefix).encode("utf-8")).digest()[:8], "little")
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return np.asarray(q * np.sign(np.diag(r)))


class MockEmbedder(Embedder):
    """``effects`` (optional): {prefix: "shift" | "rotate"}. A string that starts with one of these prefixes is
    embedded as its rest, then moved: ``shift`` adds the prefix's own vector (every text moves by the same
    vector), ``rotate`` applies the prefix's fixed rotation. Other strings: :func:`mock_vector` of the string."""

    def __init__(self, dim: int = MOCK_DIM, effects: dict[str, str] | None = None):
        self.dim = dim
        self.calls: list[list[str]] = []
        self.effects = dict(sorted((effects or {}).items(), key=lambda kv: -len(kv[0])))  # longest prefix first

    def vector(self, text: str) -> np.ndarray:
        for prefix, effect in self.effects.items():
            if prefix and text.startswith(prefix):
                base = mock_vector(text[len(prefix):], self.dim).astype(np.float64)
                moved = base + mock_vector(prefix, self.dim) if effect == "shift" else mock_rotation(
                    prefix, self.dim) @ base
                return moved.astype(np.float32)
        return mock_vector(text, self.dim)

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        self.calls.append(list(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.vector(t) for t in texts])


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
