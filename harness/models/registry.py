"""mteb's model registry: metadata of a model by name (in-process; no network, no weights)."""

from __future__ import annotations

from typing import Any

from harness.core.offline import configure

# mteb loaders that wrap a dense sentence-transformers model; the harness loads the model itself (without
# mteb's wrapper, so no prompt is added behind its back). Other loaders (cross-encoders, APIs, multi-vector,
# image/audio models) are refused by name.
ST_LOADERS = frozenset({"SentenceTransformerEncoderWrapper", "InstructSentenceTransformerModel"})


def mteb_meta(name: str) -> Any:
    """mteb's registry entry for ``name``, or None (the registry is in-process; no network)."""
    configure()
    import mteb

    try:
        return mteb.get_model_meta(name)
    except (KeyError, ValueError):
        return None


def loader_name(meta: Any) -> str | None:
    if meta is None or meta.loader is None:
        return None
    return str(getattr(meta.loader, "__name__", meta.loader))
