"""Read-only access to the embedding cache's vectors (the store :mod:`harness.run.cache` writes), for the readers.

The analysis never encodes: what it needs of a cell's embeddings (:mod:`harness.analysis.geometry`) it reads here,
by the model's identity and the exact input strings, exactly as the run stored them. The content address
(:func:`text_key`) and the row checksum (:func:`checksum`) are defined here once; the writer imports them.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.core.offline import CACHE_DIR

DB_NAME = "embeddings.sqlite3"
_CHUNK = 500  # keys per SELECT


def default_dir() -> Path:
    """``HARNESS_EMBEDDING_CACHE`` if set (tests point it at a temporary folder), else ``<CACHE_DIR>/embeddings``."""
    return Path(os.environ.get("HARNESS_EMBEDDING_CACHE") or CACHE_DIR / "embeddings")


def text_key(text: str) -> bytes:
    """The content address of one exact input string (sha256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def checksum(key: bytes, blob: bytes) -> int:
    """CRC32 over key and vector bytes: a flipped byte or a row moved under another key both fail it."""
    return zlib.crc32(blob, zlib.crc32(key))


def read_vectors(identity: str, texts: Sequence[str], root: Path | None = None) -> np.ndarray | None:
    """The stored vectors of ``texts`` (rows in their order) for the model ``identity``, or None when the store,
    the model or any one text is missing or fails its checks (the caller then has no embeddings to work on)."""
    path = (root or default_dir()) / DB_NAME
    if not path.is_file() or not texts:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT id, dim FROM models WHERE identity = ?", (identity,)).fetchone()
        if row is None:
            return None
        model, dim = int(row[0]), int(row[1])
        keys = list(dict.fromkeys(text_key(t) for t in texts))
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), _CHUNK):
            part = keys[start:start + _CHUNK]
            for key, row_dim, crc, blob in conn.execute(
                f"SELECT key, dim, crc, vec FROM vectors WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                (model, *part),
            ):
                key, blob = bytes(key), bytes(blob)
                if row_dim == dim and len(blob) == 4 * dim and checksum(key, blob) == crc:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if len(found) < len(keys):
        return None
    return np.stack([found[text_key(t)] for t in texts])
