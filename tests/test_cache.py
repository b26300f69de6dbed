"""The embedding cache: hits and misses, corruption, per-model clear, atomicity across processes, and the grid
paying only for new strings (counted on the mock encoder)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness import cli
from harness.core.errors import HarnessError
from harness.models.mock import MockEmbedder, mock_spec, mock_vector
from harness.prompts.conditions import Condition, Prompter
from harness.prompts.files import model_instructions
from harness.run import local as runner
from harness.run.cache import DB_NAME, EmbeddingCache, text_key
from harness.run.encoder import CHUNK_BATCHES, PromptedEncoder
from harness.taskspecs.local import TaskRegistry
from tests.conftest import ROOT

STS = "TemperatureBySensation"
DE_EN, EN_DE = "DeEnTranslationRetrieval", "EnDeTranslationRetrieval"
BLOG_STS = "Classify a given temperature by its sensation. "
BLOG_RET = "Retrieve semantically similar text. Between german and english translations. "
N_ROWS = 30


def vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


# ------------------------------------------------------------------------------------------- the store
def test_hit_miss_and_persistence(tmp_path: Path) -> None:
    spec = mock_spec()
    texts = [f"text {i}" for i in range(50)]
    vecs = vectors(50)
    with EmbeddingCache(tmp_path) as cache:
        assert cache.get_many(spec, texts, 16) == [None] * 50
        cache.put_many(spec, texts[:30], vecs[:30])
        got = cache.get_many(spec, [*texts, texts[3]], 16)
        assert cache.stats.hits == 31 and cache.stats.misses == 50 + 20 and cache.stats.written == 30
    assert all(np.array_equal(got[i], vecs[i]) for i in range(30))
    assert got[30:50] == [None] * 20 and np.array_equal(got[50], vecs[3])
    with EmbeddingCache(tmp_path) as again:  # persistent: a new process/object sees it
        assert np.array_equal(again.get_many(spec, [texts[7]], 16)[0], vecs[7])


def test_model_identity_is_part_of_the_key(tmp_path: Path) -> None:
    spec = mock_spec()
    longer = replace(spec, settings={**spec.settings, "max_seq_length": 128})  # an output-changing setting
    other_rev = mock_spec(revision="2")
    on_gpu = replace(spec, settings={**spec.settings, "device": "cuda"})  # where it runs: same outputs
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many(spec, ["a"], vectors(1))
        assert cache.get_many(longer, ["a"], 16) == [None]
        assert cache.get_many(other_rev, ["a"], 16) == [None]
        assert cache.get_many(on_gpu, ["a"], 16)[0] is not None
        # the exact string is the key: a prompt, a space or a case change is another entry
        assert cache.get_many(spec, ["a ", "A", " a"], 16) == [None, None, None]


def _damage(db: Path, text: str, how: str) -> None:
    conn = sqlite3.connect(db)
    key = text_key(text)
    vec, crc = conn.execute("SELECT vec, crc FROM vectors WHERE key = ?", (key,)).fetchone()
    vec = bytearray(vec)
    if how == "flip":  # one bit of one float
        vec[9] ^= 0x01
    elif how == "truncate":
        vec = vec[:60]
    elif how == "crc":
        crc += 1
    elif how == "rekey":  # the row moved under another key: it is then simply missing
        key = b"\0" * 32
    with conn:
        conn.execute("UPDATE vectors SET key = ?, vec = ?, crc = ? WHERE key = ?", (key, bytes(vec), crc,
                                                                                   text_key(text)))
    conn.close()


@pytest.mark.parametrize("damage", ["flip", "truncate", "crc", "rekey"])
def test_corrupt_entry_is_detected_and_recomputed(tmp_path: Path, damage: str) -> None:
    spec, emb = mock_spec(), MockEmbedder()
    texts = [f"word {i}" for i in range(10)]
    cache = EmbeddingCache(tmp_path)
    PromptedEncoder(emb, spec, Prompter(model_instructions(spec.name), Condition("none")), cache=cache)\
        .embed_strings(texts)
    cache.close()
    _damage(tmp_path / DB_NAME, texts[4], damage)
    emb.calls.clear()
    cache = EmbeddingCache(tmp_path)
    enc = PromptedEncoder(emb, spec, Prompter(model_instructions(spec.name), Condition("none")), cache=cache)
    out = enc.embed_strings(texts)
    assert emb.calls == [[texts[4]]]  # only the damaged one is encoded again
    assert cache.stats.corrupt == (0 if damage == "rekey" else 1)
    np.testing.assert_array_equal(out, np.stack([mock_vector(t) for t in texts]))
    emb.calls.clear()
    enc.embed_strings(texts)  # repaired in place
    assert emb.calls == []


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many(mock_spec(), ["x"], vectors(1))
        assert cache.get_many(mock_spec(), ["x"], 16)[0] is not None
    assert len(list(tmp_path.glob(f"{DB_NAME}.corrupt-*"))) == 1


def test_clear_per_model_and_size(tmp_path: Path) -> None:
    a, b = mock_spec(), mock_spec(revision="2")
    b.alias = "mock2"
    texts = [f"t{i}" for i in range(3000)]
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many(a, texts, vectors(3000, 64))
        cache.put_many(b, texts[:10], vectors(10, 64))
        info = {r["alias"]: r for r in cache.info()}
        assert info["mock"]["vectors"] == 3000 and info["mock"]["bytes"] == 3000 * 64 * 4
        assert info["mock2"]["vectors"] == 10 and info["mock2"]["identity"] == b.identity
        before = cache.size_bytes()
        assert before > 3000 * 64 * 4
        assert cache.clear("mock") == 3000
        assert [r["alias"] for r in cache.info()] == ["mock2"]
        assert cache.size_bytes() < before / 2  # the freed pages go back to the file system
        assert cache.get_many(b, texts[:10], 64)[9] is not None
        with pytest.raises(HarnessError, match="nothing cached for model 'mock'; cached: mock2"):
            cache.clear("mock")
        assert cache.clear() == 10 and cache.info() == []


WRITER = """
import sys, numpy as np
from harness.run.cache import EmbeddingCache
from harness.models.mock import mock_spec
root, name = sys.argv[1], sys.argv[2]
cache, spec = EmbeddingCache(root), mock_spec()
for b in range(10**6):
    texts = [f"{name}-{b}-{i}" for i in range(200)] + [f"shared-{i}" for i in range(50)]
    cache.put_many(spec, texts, np.full((250, 16), b, dtype=np.float32))
    if b == 2:
        print("ready", flush=True)
"""


def test_two_processes_write_at_once_and_a_kill_leaves_whole_batches(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("p", "q")]
    try:
        ready = [p.stdout.readline().strip() if p.stdout is not None else "" for p in procs]
        time.sleep(0.5)
    finally:
        for p in procs:  # killed mid-write, most likely inside a transaction
            p.send_signal(signal.SIGKILL)
            p.wait()
    assert ready == ["ready", "ready"], [p.stderr.read() if p.stderr is not None else "" for p in procs]
    with EmbeddingCache(tmp_path) as cache:
        spec = mock_spec()
        for name in ("p", "q"):
            present = []
            for b in range(100_000):
                got = cache.get_many(spec, [f"{name}-{b}-{i}" for i in range(200)], 16)
                n = sum(g is not None for g in got)
                assert n in (0, 200), f"batch {name}-{b}: {n} of 200 rows: a half-written transaction"
                if n == 0:
                    break
                assert all(np.all(g == b) for g in got if g is not None)
                present.append(b)
            assert len(present) >= 3
        assert cache.stats.corrupt == 0
        assert all(g is not None for g in cache.get_many(spec, [f"shared-{i}" for i in range(50)], 16))


# ------------------------------------------------------------------------------------------ the encoder
def test_encoder_dedups_sorts_by_length_and_restores_order(tmp_path: Path) -> None:
    spec, emb = mock_spec(), MockEmbedder()
    prompter = Prompter(model_instructions(spec.name), Condition("none"))
    texts = [("x" * (i % 40 % 7 + 1)) + str(i % 40) for i in range(100)]  # 40 distinct, lengths 2..9
    with EmbeddingCache(tmp_path) as cache:
        enc = PromptedEncoder(emb, spec, prompter, batch_size=1, cache=cache)
        out = enc.embed_strings(texts)
        np.testing.assert_array_equal(out, np.stack([mock_vector(t) for t in texts]))
        sent = emb.encoded
        assert sorted(sent) == sorted(set(texts))  # each distinct string once
        assert [len(s) for s in sent] == sorted((len(s) for s in sent), reverse=True)  # longest first
        assert [len(c) for c in emb.calls] == [CHUNK_BATCHES, len(set(texts)) - CHUNK_BATCHES]
        assert (enc.n_encoded, enc.n_cached) == (40, 0)
        enc.embed_strings(texts[:10])
        assert (enc.n_encoded, enc.n_cached) == (40, 10) and len(emb.calls) == 2


# ---------------------------------------------------------------------------------------------- the grid
@pytest.fixture
def small_tasks(tmp_path: Path) -> Path:
    """The STS task plus both translation retrieval tasks cut to their first rows (the same sentences)."""
    root = tmp_path / "tasks"
    shutil.copytree(ROOT / "tasks" / STS, root / STS)
    for name in (DE_EN, EN_DE):
        (root / name).mkdir(parents=True)
        shutil.copy(ROOT / "tasks" / name / "task.yaml", root / name / "task.yaml")
        for f in ("corpus.csv", "queries.csv", "qrels.csv"):
            lines = (ROOT / "tasks" / name / f).read_text(encoding="utf-8").splitlines(keepends=True)
            (root / name / f).write_text("".join(lines[: N_ROWS + 1]), encoding="utf-8")
    return root


def column(path: Path, name: str) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [r[name] for r in csv.DictReader(f)]


def test_a_new_condition_encodes_only_its_new_strings(small_tasks: Path, tmp_path: Path) -> None:
    words = set(column(small_tasks / STS / "words.csv", "word"))
    german = set(column(small_tasks / DE_EN / "queries.csv", "text"))
    english = set(column(small_tasks / DE_EN / "corpus.csv", "text"))
    assert set(column(small_tasks / EN_DE / "queries.csv", "text")) == english
    registry, cache_dir, results = TaskRegistry(small_tasks), tmp_path / "cache", tmp_path / "results"

    first = MockEmbedder()
    s1 = runner.run([mock_spec(first)], conditions=["none", "blog"], results_dir=results, registry=registry,
                    progress=False, cache=cache_dir)
    assert len(s1.ran) == 6 and not s1.failed
    # Every distinct exact string once across 6 cells: EnDe reads the same sentences as DeEn (roles swapped),
    # and blog gives retrieval queries and documents one prefix.
    grid = words | german | english | {BLOG_STS + w for w in words} | {BLOG_RET + t for t in german | english}
    assert sorted(first.encoded) == sorted(grid)
    # distinct strings: each encoded once; a first run reuses nothing from the cache (its own hits do not count)
    assert s1.encoded == s1.encoded_distinct == len(grid) and s1.from_cache == 0

    # A new condition instructs STS and the DeEn queries only: documents stay bare, EnDe stays bare.
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text("name: fresh\ndescription: new\ntasks:\n"
                     f"  {STS}:\n    query: Feel it.\n"
                     f"  {DE_EN}:\n    query: Find the English translation.\n", encoding="utf-8")
    second = MockEmbedder()
    s2 = runner.run([mock_spec(second)], conditions=["none", "blog", str(fresh)], results_dir=results,
                    registry=registry, progress=False, cache=cache_dir)
    # fresh says nothing about EnDe: that cell would feed exactly none's strings, so it is not run
    assert len(s2.reused) == 6 and len(s2.ran) == 2 and f"fresh: {EN_DE}" in s2.skipped[0]
    new = {"Feel it. " + w for w in words} | {"Find the English translation. " + q for q in german}
    assert sorted(second.encoded) == sorted(new)  # exactly the condition's new inputs, each once
    assert s2.encoded == len(new)
    # what the new cells read from the cache instead, each string counted once: DeEn's bare documents, and the
    # bare words and queries the embedding-shift probe compares with
    assert s2.from_cache == len(words | english | german)

    # Re-evaluating every cell into a fresh results folder encodes nothing, never loads the model, and gives
    # identical scores.
    third, loads = MockEmbedder(), []
    spec3 = mock_spec(third)
    spec3.loader = lambda: loads.append(1) or third
    s3 = runner.run([spec3], conditions=["none", "blog"], results_dir=tmp_path / "again",
                    registry=registry, progress=False, cache=cache_dir)
    assert len(s3.ran) == 6 and third.calls == [] and s3.encoded == 0 and loads == []
    for side in (results / "cells").rglob("*.json"):
        if "/fresh/" in str(side):
            continue
        other = tmp_path / "again" / side.relative_to(results)
        res_a = json.loads((results / json.loads(side.read_text())["result_file"]).read_text())
        res_b = json.loads((tmp_path / "again" / json.loads(other.read_text())["result_file"]).read_text())
        assert res_a["scores"] == res_b["scores"]


def test_run_without_cache_writes_none(small_tasks: Path, tmp_path: Path) -> None:
    emb = MockEmbedder()
    s = runner.run([mock_spec(emb)], tasks=[STS], conditions=["none"], results_dir=tmp_path / "r",
                   registry=TaskRegistry(small_tasks), progress=False, cache=False)
    # without the cache every encode call (sentence1, sentence2 per subset, the probe) encodes its strings anew
    assert s.encoded == len(emb.encoded) > len(set(emb.encoded)) == 35 and s.from_cache == 0
    assert not list(Path(os.environ["HARNESS_EMBEDDING_CACHE"]).iterdir())


# ------------------------------------------------------------------------------------------------- CLI
def test_cli_cache_info_and_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    assert cli.main(["cache", "info", "--cache-dir", str(empty)]) == 0
    assert "0.0 MiB on disk, 0 vectors" in capsys.readouterr().out and not empty.exists()
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many(mock_spec(), ["a", "b"], vectors(2))
    assert cli.main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "harness/mock-seeded-encoder" in out and "mock" in out and str(tmp_path / DB_NAME) in out
    assert cli.main(["cache", "clear", "--cache-dir", str(tmp_path), "--model", "nope"]) == 2
    assert "nothing cached for model 'nope'" in capsys.readouterr().err
    assert cli.main(["cache", "clear", "--cache-dir", str(tmp_path), "--model", "mock"]) == 0
    assert "cleared 2 vectors" in capsys.readouterr().out
    assert cli.main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 2  # neither --model nor --all
