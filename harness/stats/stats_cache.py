"""A cache of paired statistics, so that rerunning ``harness aggregate`` (after adding a model, a condition, or
merging folders) recomputes only the deltas whose inputs are new — and, in a second table, each task's
contribution to a family summary (its bootstrap replicates, :mod:`harness.analysis.family`), the costliest part of
aggregating a grid with many conditions; in a third, each cell × subset's geometry rows
(:mod:`harness.analysis.geometry`, keyed by the cells' keys and its own method version).

A delta's statistics are a pure function of the two cells' item-level predictions (for one subset and split), the
metric, the resampling unit the task states, the numbers of resamples, the seed and the method itself. The key
hashes exactly those: the sha256 of both predictions files' bytes, subset, split, task type, metric, stated unit,
``n_bootstrap``, ``n_permutations``, seed and :data:`METHOD_VERSION` (bumped whenever the statistics change, so no
old number is ever served). The cache lives beside the embedding cache (``.cache/stats/stats.sqlite3``, or
``$HARNESS_STATS_CACHE``), SQLite in WAL mode; it can only save time: an unreadable cache or row is treated as a
miss and recomputed (tested), and ``HARNESS_STATS_CACHE=off`` turns it off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.core.atomic import file_sha256  # noqa: F401  (part of this module's API: how predictions are keyed)
from harness.core.offline import CACHE_DIR
from harness.stats.engine import PairedStats
from harness.stats.permutation import PermutationResult

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bump with any change to how a delta's statistics are computed (harness/stats/{engine,units,bootstrap,
# permutation,metrics}.py). 1: units (vertex bootstrap with jackknife spread), rank/z swaps, GPD tail p.
# 2: adaptive (sequential) permutation counts, p never below 1/(R + 1), its Monte-Carlo interval, the tail estimate
#    a separate p_tail; family replicates with shared texts drawn jointly across tasks.
# 3: a permutation's random swaps are the bits of the bit generator's raw outputs (permutation.random_swaps), not
#    one uniform double per unit: other draws, the same distribution.
# 4: a family summary's condition rows of one model × family × view share one resample (one seed per view, not per
#    condition; family.shared_replicates): other draws, the same distribution per row.
METHOD_VERSION = 4
# Bump with any change to how geometry rows are computed (harness/analysis/geometry{,_stats}.py): cached rows of
# another version are never served. 1: per cell × subset rows. 2: the participation ratio's G·v computed through
# the d dimensions when there are fewer of them than texts, the observation and the resamples in one product (the
# same sums in another order). 3: PC1 from the scatter matrix's top eigenvector (not an SVD of the vectors); a
# centred score's deltas of one subset × view share one resample (seed per view, not per condition); the
# participation ratio's quadratic term over items, not texts, where items hold several texts (same sums, regrouped).
GEOMETRY_METHOD_VERSION = 3
DB_NAME = "stats.sqlite3"


def default_dir() -> Path | None:
    where = os.environ.get("HARNESS_STATS_CACHE", "")
    if where.lower() == "off":
        return None
    return Path(where) if where else CACHE_DIR / "stats"


def family_key(*, a_sha256: str, b_sha256: str, subset: str, split: str, metric: str, unit: str | None,
               n_bootstrap: int, seed: int) -> str:
    """The key of one task's contribution to a family summary (:mod:`harness.analysis.family`): its two cells'
    predictions, the view, metric, stated unit, resamples and seed."""
    blob = json.dumps([METHOD_VERSION, "family", a_sha256, b_sha256, subset, split, metric, unit, n_bootstrap, seed])
    return hashlib.sha256(blob.encode()).hexdigest()


def geometry_key(group: tuple[str, ...], sub: str, split: str, main: str, stated: str | None, n_bootstrap: int,
                 cell_key: str, baseline_key: str) -> str:
    """One cell × subset's geometry rows: what they are a function of (the cells' keys name their model identity,
    task data and exact prompts, hence their vectors and predictions; ``group``: model, revision, identity, task,
    data hash) and :data:`GEOMETRY_METHOD_VERSION` — cheap: no vector or file is read or hashed."""
    blob = json.dumps([GEOMETRY_METHOD_VERSION, "geometry", *group, sub, split, main, stated, n_bootstrap, cell_key,
                       baseline_key])
    return hashlib.sha256(blob.encode()).hexdigest()


def geometry_subsets_key(group: tuple[str, ...]) -> str:
    """A task's subsets × splits, a function of its data hash (part of ``group``)."""
    return hashlib.sha256(json.dumps([GEOMETRY_METHOD_VERSION, "geometry", "subsets", *group]).encode()).hexdigest()


def _plain(o: object) -> object:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def key(*, a_sha256: str, b_sha256: str, subset: str, split: str, task_type: str, metric: str, unit: str | None,
        n_bootstrap: int, n_permutations: int, seed: int) -> str:
    blob = json.dumps([METHOD_VERSION, a_sha256, b_sha256, subset, split, task_type, metric, unit, n_bootstrap,
                       n_permutations, seed])
    return hashlib.sha256(blob.encode()).hexdigest()


class StatsCache:
    """get / put of :class:`PairedStats` by key; every failure is a miss (logged once), never an error."""

    def __init__(self, folder: Path | None = None):
        folder = folder if folder is not None else default_dir()
        self.db: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0
        if folder is None:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(folder / DB_NAME, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS stats (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.execute("CREATE TABLE IF NOT EXISTS arrays (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
            self.db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.commit()
        except (OSError, sqlite3.Error) as e:
            log.warning("statistics cache unavailable (%s); computing every delta", e)
            self.db = None

    def get(self, k: str) -> PairedStats | None:
        return self._get("stats", k, lambda value: PairedStats(**json.loads(value)))

    def put(self, k: str, st: PairedStats) -> None:
        self._put("stats", k, json.dumps(dataclasses.asdict(st)))

    def get_permutation(self, k: str) -> PermutationResult | None:
        """A second-stage redraw of a permutation test (:mod:`harness.analysis.multiplicity`)."""
        return self._get("stats", k, lambda value: PermutationResult(**json.loads(value)))

    def put_permutation(self, k: str, result: PermutationResult) -> None:
        self._put("stats", k, json.dumps(dataclasses.asdict(result)))

    def get_json(self, k: str) -> Any:
        """A JSON value stored by :meth:`put_json` (geometry's rows, :mod:`harness.analysis.geometry`); None on a
        miss."""
        return self._get("rows", k, json.loads)

    def put_json(self, k: str, value: Any) -> None:
        self._put("rows", k, json.dumps(value, default=_plain))

    def get_arrays(self, k: str) -> dict[str, np.ndarray] | None:
        """Named arrays stored by :meth:`put_arrays` (``.npz`` bytes, no pickles); None on a miss."""
        def decode(value: bytes) -> dict[str, np.ndarray]:
            with np.load(io.BytesIO(value), allow_pickle=False) as z:
                return {name: z[name] for name in z.files}

        return self._get("arrays", k, decode)

    def put_arrays(self, k: str, arrays: dict[str, np.ndarray]) -> None:
        buf = io.BytesIO()
        named: dict[str, Any] = dict(arrays)
        np.savez(buf, **named)
        self._put("arrays", k, buf.getvalue())

    def _get(self, table: str, k: str, decode: Callable[[Any], T]) -> T | None:
        """The decoded value under ``k``; a missing or undecodable row counts as a miss."""
        if self.db is None:
            return None
        try:
            row = self.db.execute(f"SELECT value FROM {table} WHERE key = ?", (k,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            out = decode(row[0])
        except (sqlite3.Error, ValueError, TypeError, OSError, zipfile.BadZipFile) as e:
            log.warning("statistics cache: unreadable entry (%s); recomputing", e)
            self.misses += 1
            return None
        self.hits += 1
        return out

    def _put(self, table: str, k: str, value: str | bytes) -> None:
        if self.db is None:
            return
        try:
            self.db.execute(f"INSERT OR REPLACE INTO {table} (key, value) VALUES (?, ?)", (k, value))
            self.db.commit()
        except sqlite3.Error as e:
            log.warning("statistics cache: cannot write (%s)", e)

    def close(self) -> None:
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
            self.db = None

    def __enter__(self) -> StatsCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
