"""What a resolved model is: its identity (name, revision, output-changing settings), how it runs (device,
dtype) and how it is loaded (once) as an :class:`Embedder` — strings in, float32 rows out.

Each spec carries the model's own settings (max sequence length, pooling, normalization, dtype, device) in
``settings``; all but the runtime ones (device, loader) are part of the model identity stored with every result.
Nothing here imports torch or sentence-transformers until a model is loaded or a CUDA device must be looked for.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError

if TYPE_CHECKING:
    import numpy as np

# Settings that say where or through what a model runs but not what it outputs; left out of the identity.
RUNTIME_SETTINGS = frozenset({"device", "mteb_loader"})


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
        import numpy as np

        return np.asarray(out, dtype=np.float32)


class _Languages:
    """A dataclass field holding a list, or a function computed once on first read (so that resolving a model
    never imports mteb just to list its languages). The value lives in the instance's ``__dict__`` under the
    field's own name, so ``dataclasses.replace`` and ``ModelSpec(**spec.__dict__)`` keep working."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return ()  # the dataclass default (immutable; stored as a new list)
        value = obj.__dict__.get(self._name, [])
        if callable(value):
            value = list(value())
            obj.__dict__[self._name] = value
        return value

    def __set__(self, obj: Any, value: list[str] | Callable[[], list[str]]) -> None:
        obj.__dict__[self._name] = value if callable(value) else list(value)


@dataclass
class ModelSpec:
    """A resolved model: its identity (name + revision), its settings, and how to load it."""

    alias: str
    name: str
    revision: str
    loader: Callable[[], Embedder]
    # ISO language-script codes; may be given as a function, called on first use (e.g. mteb's registry lookup)
    languages: _Languages = _Languages()
    embed_dim: int | None = None
    max_seq_length: int | None = None
    similarity: str = "cosine"
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = "bundled"  # bundled | folder | hub | mteb
    path: str | None = None  # where the weights are, when they are files

    @property
    def identity(self) -> str:
        """Everything that changes the embeddings: name, revision and output-changing settings."""
        out_settings = {k: v for k, v in self.settings.items() if k not in RUNTIME_SETTINGS}
        blob = repr((self.name, self.revision, sorted(out_settings.items())))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def load(self) -> Embedder:
        return self.loader()


# ----------------------------------------------------------------------------------------- device, dtype
def _torch_built_with_cuda() -> bool:
    """Whether the installed torch is a CUDA build, read from ``torch/version.py`` without importing torch (a CPU
    build says ``cuda = None``): on a CPU-only install, choosing the device costs no torch import."""
    if "torch" in sys.modules:
        return True  # already imported: ask it
    found = importlib.util.find_spec("torch")
    if found is None or not found.submodule_search_locations:
        return False
    version = Path(next(iter(found.submodule_search_locations))) / "version.py"
    try:
        text = version.read_text(encoding="utf-8")
    except OSError:
        return True  # cannot tell: ask torch
    match = re.search(r"^cuda\b[^=]*=\s*(.+)$", text, flags=re.MULTILINE)
    return not (match and match.group(1).strip() == "None")


def _cuda() -> bool:
    if not _torch_built_with_cuda():
        return False
    import torch

    return bool(torch.cuda.is_available())


HALF_DTYPES = ("float16", "bfloat16")


def runtime(*, half: str | None, gpu_ok: bool = True) -> dict[str, str]:
    """Device and dtype: CPU + float32 by default; CUDA when available, in the half dtype the model declares.

    ``half`` is the one half-precision dtype the model may run in on CUDA (``"float16"``, ``"bfloat16"``) or None
    (float32 only); a model never runs in a half dtype it does not declare (EmbeddingGemma: bfloat16, never
    float16). ``HARNESS_DEVICE=cpu|cuda`` overrides the device; ``HARNESS_DTYPE=float32`` keeps float32 on CUDA.
    """
    if half not in (None, *HALF_DTYPES):
        raise ValueError(f"half={half!r}: expected one of {HALF_DTYPES} or None")
    wanted = os.environ.get("HARNESS_DEVICE", "").strip().lower()
    if wanted not in ("", "cpu", "cuda"):
        raise HarnessError(f"HARNESS_DEVICE='{wanted}': expected cpu or cuda")
    forced = os.environ.get("HARNESS_DTYPE", "").strip().lower()
    if forced not in ("", "float32"):
        raise HarnessError(f"HARNESS_DTYPE='{forced}': expected float32 (unset: the model's own rule)")
    if wanted == "cuda" and not _cuda():
        raise HarnessError("HARNESS_DEVICE=cuda but torch sees no CUDA device")
    device = wanted or ("cuda" if gpu_ok and _cuda() else "cpu")
    dtype = half if device == "cuda" and half is not None and not forced else "float32"
    return {"device": device, "dtype": dtype}


def load_sentence_transformer(
    folder: Path | str, settings: dict[str, Any], *, trust_remote_code: bool = False
) -> STEmbedder:
    """Load a sentence-transformers folder with the spec's settings (local files only)."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar for every model load
    try:
        model = SentenceTransformer(
            str(folder), device=settings.get("device", "cpu"), local_files_only=True,
            trust_remote_code=trust_remote_code,
        )
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    if settings.get("dtype") == "float16":
        model.half()
    elif settings.get("dtype") == "bfloat16":
        import torch

        model.to(torch.bfloat16)  # every module (the Dense layers too), not only the transformer
    if settings.get("max_seq_length"):
        model.max_seq_length = int(settings["max_seq_length"])
    return STEmbedder(model=model, normalize=bool(settings.get("normalize", False)))
