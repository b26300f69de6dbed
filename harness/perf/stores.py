"""``python -m harness.perf stores``: the embedding-store candidates (SQLite vs LMDB) measured side by side."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any


# ============================================================================================ store bench
def bench_stores(n: int = 20_000, dim: int = 384, batch: int = 1000, repeats: int = 3) -> dict[str, Any]:
    """Write then read ``n`` float32 vectors (random order) in two candidate stores, best of ``repeats``.

    Both do the same work per vector: sha256 key, CRC32 check, numpy row. SQLite is the harness's own
    :class:`~harness.run.cache.EmbeddingCache`; LMDB (``pip install lmdb``) is measured when installed.
    """
    import struct

    import numpy as np

    from harness.models.mock import mock_spec
    from harness.run.cache import EmbeddingCache, checksum, text_key

    rng = np.random.default_rng(0)
    texts = [f"sentence {i} " * (1 + i % 5) for i in range(n)]
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    order = [int(i) for i in rng.permutation(n)]
    spec = mock_spec()

    def sqlite(root: Path) -> tuple[float, float, int]:
        with EmbeddingCache(root) as c:
            t = time.perf_counter()
            for s in range(0, n, batch):
                c.put_many(spec, texts[s:s + batch], vecs[s:s + batch])
            w = time.perf_counter() - t
        with EmbeddingCache(root) as c:
            t = time.perf_counter()
            got = c.get_many(spec, [texts[i] for i in order], dim)
            r = time.perf_counter() - t
            assert all(g is not None for g in got)
            return w, r, c.size_bytes()

    def lmdb_store(root: Path) -> tuple[float, float, int]:
        import lmdb

        prefix = struct.pack("<I", 1)
        env = lmdb.open(str(root / "lmdb"), map_size=1 << 34)
        t = time.perf_counter()
        for s in range(0, n, batch):
            with env.begin(write=True) as txn:
                for text, vec in zip(texts[s:s + batch], vecs[s:s + batch], strict=True):
                    k, b = text_key(text), vec.tobytes()
                    txn.put(prefix + k, struct.pack("<II", dim, checksum(k, b)) + b)
        w = time.perf_counter() - t
        env.close()
        env = lmdb.open(str(root / "lmdb"), map_size=1 << 34)
        t = time.perf_counter()
        with env.begin() as txn:
            for i in order:
                k = text_key(texts[i])
                val = txn.get(prefix + k)
                assert val is not None
                d, crc = struct.unpack("<II", val[:8])
                assert len(val) - 8 == 4 * d and checksum(k, val[8:]) == crc
                np.frombuffer(val[8:], dtype=np.float32)
        r = time.perf_counter() - t
        env.close()
        return w, r, sum(p.stat().st_size for p in (root / "lmdb").iterdir())

    candidates = {"sqlite-wal": sqlite}
    try:
        import lmdb  # noqa: F401

        candidates["lmdb"] = lmdb_store
    except ImportError:
        print("lmdb not installed (`.venv/bin/pip install lmdb`): measuring SQLite only")
    out: dict[str, Any] = {"n": n, "dim": dim, "batch": batch, "payload_mib": n * dim * 4 / 2**20}
    for name, fn in candidates.items():
        runs = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as d:
                runs.append(fn(Path(d)))
        w, r = min(x[0] for x in runs), min(x[1] for x in runs)
        out[name] = {"write_per_s": n / w, "read_per_s": n / r, "size_mib": runs[0][2] / 2**20}
        print(f"{name:11s} write {n / w:8.0f} vectors/s   read {n / r:8.0f} vectors/s   "
              f"file {runs[0][2] / 2**20:5.1f} MiB (payload {n * dim * 4 / 2**20:.1f} MiB)")
    return out
