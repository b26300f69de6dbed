"""A persistent, content-addressed embedding cache: no text is encoded twice by the same model.

Key = (model identity, sha256 of the exact input string after prompts are applied). The model identity is
:attr:`harness.models.ModelSpec.identity` (name + revision + every output-changing setting: max length, pooling,
normalization, dtype), so a change to any of them is a different model here. The cache is shared by all tasks and
conditions: a document that is bare under every condition is encoded once per model, ever.

Store: one SQLite database in WAL mode (``<CACHE_DIR>/embeddings/embeddings.sqlite3``, or under
``HARNESS_EMBEDDING_CACHE``; NOTES.md has the measurements behind the choice). Every write is one transaction
(``BEGIN IMMEDIATE`` … ``COMMIT``), so a crash or a second process never leaves half a batch; concurrent
processes wait on SQLite's lock (``busy_timeout``) instead of failing. Each vector is stored with its dimension
and a CRC32 over key + bytes; a row whose length or checksum does not match is reported, treated as a miss,
recomputed and overwritten. A database file that is not a database is moved aside (``*.corrupt-<time>``) and a
new one started. The cache only ever saves time: when it cannot be read or written the harness logs a warning and
encodes instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import HarnessError
from harness.models.spec import ModelSpec
from harness.results.embedding_store import DB_NAME, checksum, default_dir, text_key

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_CHUNK = 500  # keys per SELECT (SQLite's bound-parameter limit is far above this)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL UNIQUE,
    alias TEXT NOT NULL,
    name TEXT NOT NULL,
    revision TEXT NOT NULL,
    settings TEXT NOT NULL,
    dim INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    model INTEGER NOT NULL REFERENCES models(id),
    key BLOB NOT NULL,
    dim INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (model, key)
);
"""


@dataclass
class CacheStats:
    """What this cache object did since it was opened (a run's summary reads it)."""

    hits: int = 0
    misses: int = 0
    written: int = 0
    corrupt: int = 0
    errors: list[str] = field(default_factory=list)


class EmbeddingCache:
    """The embedding store. One object per process (the runner opens it once per run)."""

    def __init__(self, root: Path | None = None, *, timeout_s: float = 120.0):
        self.root = Path(root) if root is not None else default_dir()
        self.path = self.root / DB_NAME
        self.timeout_s = timeout_s
        self.stats = CacheStats()
        self._model_ids: dict[str, int] = {}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise HarnessError(f"embedding cache {self.root}: cannot create it ({e.strerror or e})") from None
        self._conn = self._open()

    # -------------------------------------------------------------------------------------------- opening
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        # Free pages go back to the file system on `clear` (must be set before the first table exists).
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            log.warning("embedding cache %s: WAL mode unavailable; using SQLite's default journal", self.path)
        # In WAL mode NORMAL never corrupts the database; a power cut may only lose the last commits.
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            self._create_schema(conn)
            return conn
        except sqlite3.OperationalError as e:  # locked, unreadable folder, read-only file: not corruption
            if "locked" in str(e):
                raise HarnessError(f"embedding cache {self.path}: locked by another process for "
                                   f"{self.timeout_s:.0f}s; try again") from None
            raise HarnessError(f"embedding cache {self.path}: cannot open it ({e}); fix that, or run with "
                               f"--no-cache or --cache-dir DIR") from None
        except sqlite3.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
            aside = self.path.with_name(f"{DB_NAME}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            log.warning("embedding cache %s is unreadable (%s); moved it to %s and started a new one",
                        self.path, e, aside)
            with contextlib.suppress(OSError):
                self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    self.path.with_name(DB_NAME + suffix).unlink()
            conn = self._connect()
            self._create_schema(conn)
            return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        with self._write(conn):
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise HarnessError(f"embedding cache {self.path}: schema {row[0]}, this harness reads "
                                   f"{SCHEMA_VERSION}; clear it with `harness cache clear --all`")

    @staticmethod
    @contextlib.contextmanager
    def _write(conn: sqlite3.Connection) -> Iterator[None]:
        """One write transaction; the write lock is taken up front so two writers queue instead of deadlocking."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------------------- models
    def _model_id(self, spec: ModelSpec, dim: int) -> int:
        found = self._model_ids.get(spec.identity)
        if found is not None:
            return found
        row = self._conn.execute("SELECT id, dim FROM models WHERE identity = ?", (spec.identity,)).fetchone()
        if row is None:
            with self._write(self._conn):
                self._conn.execute(
                    "INSERT OR IGNORE INTO models (identity, alias, name, revision, settings, dim, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (spec.identity, spec.alias, spec.name, spec.revision,
                     json.dumps(spec.settings, sort_keys=True, default=str), dim,
                     time.strftime("%Y-%m-%dT%H:%M:%S")),
                )
            row = self._conn.execute("SELECT id, dim FROM models WHERE identity = ?", (spec.identity,)).fetchone()
        if int(row[1]) != dim:
            raise HarnessError(f"embedding cache {self.path}: model {spec.name} ({spec.identity}) was cached with "
                               f"dimension {row[1]}, now {dim}; clear it with `harness cache clear --model "
                               f"{spec.alias}`")
        self._model_ids[spec.identity] = int(row[0])
        return int(row[0])

    def known_dim(self, spec: ModelSpec) -> int | None:
        """The dimension this model's vectors were cached with, or None (never cached, or unreadable)."""
        try:
            row = self._conn.execute("SELECT dim FROM models WHERE identity = ?", (spec.identity,)).fetchone()
        except sqlite3.Error as e:
            self._error("read", e)
            return None
        return int(row[0]) if row is not None else None

    # ------------------------------------------------------------------------------------------ get / put
    def get_many(self, spec: ModelSpec, texts: Sequence[str], dim: int) -> list[np.ndarray | None]:
        """The cached vector of each text, or None (missing or failing its checks). Never raises on a bad row."""
        out: list[np.ndarray | None] = [None] * len(texts)
        if not texts:
            return out
        keys = [text_key(t) for t in texts]
        where: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            where.setdefault(k, []).append(i)
        try:
            model = self._model_id(spec, dim)
            unique = list(where)
            for start in range(0, len(unique), _CHUNK):
                part = unique[start:start + _CHUNK]
                rows = self._conn.execute(
                    f"SELECT key, dim, crc, vec FROM vectors WHERE model = ? AND key IN "
                    f"({','.join('?' * len(part))})", (model, *part),
                ).fetchall()
                for key, row_dim, crc, blob in rows:
                    key, blob = bytes(key), bytes(blob)
                    if row_dim != dim or len(blob) != 4 * dim or checksum(key, blob) != crc:
                        self.stats.corrupt += 1
                        log.warning("embedding cache %s: corrupt entry for %s (model %s); recomputing it",
                                    self.path, key.hex()[:16], spec.name)
                        continue
                    vec = np.frombuffer(blob, dtype=np.float32)
                    for i in where.get(key, []):
                        out[i] = vec
        except sqlite3.Error as e:
            self._error("read", e)
            out = [None] * len(texts)
        hits = sum(v is not None for v in out)
        self.stats.hits += hits
        self.stats.misses += len(texts) - hits
        return out

    def contains(self, identity: str, texts: Sequence[str]) -> list[bool]:
        """Whether a vector is stored for each text (keys only, no vector read or checked): what a run will not
        need to encode, for its progress estimate. All False when the model or the database is unreadable."""
        out = [False] * len(texts)
        try:
            row = self._conn.execute("SELECT id FROM models WHERE identity = ?", (identity,)).fetchone()
            if row is None or not texts:
                return out
            where: dict[bytes, list[int]] = {}
            for i, t in enumerate(texts):
                where.setdefault(text_key(t), []).append(i)
            unique = list(where)
            for start in range(0, len(unique), _CHUNK):
                part = unique[start:start + _CHUNK]
                for (key,) in self._conn.execute(
                    f"SELECT key FROM vectors WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                    (row[0], *part),
                ):
                    for i in where.get(bytes(key), []):
                        out[i] = True
        except sqlite3.Error:
            return [False] * len(texts)
        return out

    def put_many(self, spec: ModelSpec, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store one vector per text, all in one transaction (a concurrent reader sees all of them or none)."""
        if not len(texts):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"put_many: {len(texts)} texts but vectors of shape {vectors.shape}")
        dim = int(vectors.shape[1])
        rows = []
        for text, vec in zip(texts, vectors, strict=True):
            key, blob = text_key(text), vec.tobytes()
            rows.append((key, dim, checksum(key, blob), blob))
        try:
            model = self._model_id(spec, dim)
            with self._write(self._conn):
                self._conn.executemany(
                    "INSERT OR REPLACE INTO vectors (model, key, dim, crc, vec) VALUES (?, ?, ?, ?, ?)",
                    [(model, *r) for r in rows],
                )
            self.stats.written += len(rows)
        except sqlite3.Error as e:
            self._error("write", e)

    def _error(self, what: str, e: sqlite3.Error) -> None:
        msg = f"embedding cache {self.path}: {what} failed ({e}); encoding without it"
        self.stats.errors.append(msg)
        log.warning(msg)

    # ------------------------------------------------------------------------------------- info / clear
    def info(self) -> list[dict[str, Any]]:
        """One row per cached model: alias, name, revision, identity, dim, vectors, bytes (vector payload)."""
        rows = self._conn.execute(
            "SELECT m.alias, m.name, m.revision, m.identity, m.dim, COUNT(v.key), COALESCE(SUM(LENGTH(v.vec)), 0) "
            "FROM models m LEFT JOIN vectors v ON v.model = m.id GROUP BY m.id ORDER BY m.name, m.revision"
        ).fetchall()
        keys = ("alias", "name", "revision", "identity", "dim", "vectors", "bytes")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def size_bytes(self) -> int:
        """Bytes on disk: the database plus its write-ahead log."""
        return sum(p.stat().st_size for p in (self.path, self.path.with_name(DB_NAME + "-wal"))
                   if p.exists())

    def clear(self, model: str | None = None) -> int:
        """Delete the vectors of every model whose alias, name or identity is ``model`` (all models: None).

        Returns the number of vectors deleted; the freed pages are returned to the file system.
        """
        with self._write(self._conn):
            if model is None:
                ids = [r[0] for r in self._conn.execute("SELECT id FROM models")]
            else:
                ids = [r[0] for r in self._conn.execute(
                    "SELECT id FROM models WHERE alias = ? OR name = ? OR identity = ?", (model, model, model))]
            deleted = 0
            for i in ids:
                deleted += self._conn.execute("DELETE FROM vectors WHERE model = ?", (i,)).rowcount
                self._conn.execute("DELETE FROM models WHERE id = ?", (i,))
            # rows a concurrent writer added for a model cleared meanwhile
            self._conn.execute("DELETE FROM vectors WHERE model NOT IN (SELECT id FROM models)")
        if model is not None and not ids:
            cached = sorted({r["alias"] for r in self.info()})
            raise HarnessError(f"embedding cache {self.path}: nothing cached for model '{model}'; cached: "
                               f"{', '.join(cached) or '(none)'}")
        self._model_ids.clear()
        self._conn.executescript("PRAGMA incremental_vacuum;")  # executescript runs it to the end
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted
