"""mteb's model registry: metadata of a model by name (in-process; no network, no weights)."""

from __future__ import annotations

from typing import Any

from harness.core import mteb_memo
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


def model_languages(name: str) -> list[str]:
    """The languages mteb's registry lists for ``name`` (empty when it lists none or does not know the model);
    kept per mteb version, so ``harness ls models`` imports mteb once, not on every call."""

    def languages() -> list[str]:
        meta = mteb_meta(name)
        return list(meta.languages or []) if meta is not None else []

    return [str(x) for x in mteb_memo.memo("model-languages", name, languages)]


def loader_name(meta: Any) -> str | None:
    if meta is None or meta.loader is None:
        return None
    return str(getattr(meta.loader, "__name__", meta.loader))
