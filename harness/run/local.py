"""The local executor: run every cell of the grid that is not already done, in this process, one model at a time
(each model loaded once, lazily — not at all when every string it needs is in the embedding cache).

mteb and torch are imported only when a cell actually runs: a rerun whose cells are all done stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.core.offline import PROJECT_ROOT
from harness.models.resolve import resolve
from harness.models.spec import ModelSpec
from harness.prompts.conditions import expand_conditions
from harness.prompts.files import default_conditions
from harness.results import layout
from harness.run.cache import EmbeddingCache
from harness.run.grid import Cell, plan
from harness.taskspecs.local import TaskRegistry

log = logging.getLogger(__name__)
DEFAULT_RESULTS = PROJECT_ROOT / "results"


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    recomputed: list[tuple[str, str]] = field(default_factory=list)  # (cell, why): stale or corrupt files
    seconds: float = 0.0
    encoded: int = 0  # distinct strings the models encoded
    from_cache: int = 0  # distinct strings read from the embedding cache instead
    timings: dict[str, float] = field(default_factory=dict)  # executor overheads (Ray: start-up, workers, writes)

    def line(self) -> str:
        texts = f"; texts: {self.encoded} encoded, {self.from_cache} from cache" if self.ran else ""
        return (
            f"cells: {len(self.ran)} ran, {len(self.reused)} reused, {len(self.failed)} failed "
            f"in {self.seconds:.1f}s{texts}"
        )


def check_writable(results_dir: Path) -> None:
    """Fail before any work if results cannot be written there (one line, nothing left behind)."""
    probe = results_dir / f".write-check-{os.getpid()}"
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise HarnessError(f"{results_dir}: results folder is not writable ({e.strerror or e})") from None


def run(
    models: Sequence[str | ModelSpec],
    *,
    tasks: list[str] | None = None,
    conditions: list[str] | None = None,
    results_dir: Path = DEFAULT_RESULTS,
    batch_size: int = 32,
    registry: TaskRegistry | None = None,
    progress: bool = True,
    cache: EmbeddingCache | Path | bool = True,
) -> RunSummary:
    """Evaluate every (model, condition, task) cell that is not already done. Each model is loaded once.

    ``cache``: the embedding cache (True: the default one under ``.cache/embeddings``, a Path: one there,
    False: none); opened once, when the first cell needs a model.
    """
    t0 = time.perf_counter()
    registry = registry or TaskRegistry()
    task_list = registry.select(tasks)
    conds = expand_conditions(conditions or default_conditions())  # default: all but variant sets
    specs = [m if isinstance(m, ModelSpec) else resolve(m) for m in models]
    check_writable(results_dir)
    for orphan in atomic.remove_orphans(results_dir):
        log.warning("removed %s, left by an interrupted run", orphan)
    summary = RunSummary()
    status = RunStatus(results_dir / layout.RUN_STATUS)
    for spec in specs:
        todo = pending_cells(plan([spec], task_list, conds, results_dir), summary, status)
        status.flush()
        if not todo:
            continue
        if cache is True or isinstance(cache, Path):
            cache = EmbeddingCache(None if cache is True else cache)  # once per run, shared by every model
        from harness.run.cell import run_cell
        from harness.run.encoder import LazyEmbedder

        # once per model, shared by every condition; loaded on the first string the embedding cache lacks
        embedder = LazyEmbedder(spec)
        for cell in _progress(todo, spec.alias, progress):
            try:
                encoded, cached = run_cell(cell, embedder, batch_size=batch_size, cache=cache or None)
                summary.encoded += encoded
                summary.from_cache += cached
                summary.ran.append(cell.label)
                status.set(cell, "done")
            except HarnessError:
                raise
            except Exception as e:
                log.exception("cell %s failed", cell.label)
                summary.failed.append((cell.label, f"{e.__class__.__name__}: {e}"))
                status.set(cell, "failed", f"{e.__class__.__name__}: {e}")
            status.flush()
    summary.seconds = time.perf_counter() - t0
    return summary


def pending_cells(cells: list[Cell], summary: RunSummary, status: RunStatus) -> list[Cell]:
    """The cells that are not done (missing, stale or corrupt); done ones are recorded as reused."""
    todo = []
    for c in cells:
        state, why = c.state()
        if state == "done":
            summary.reused.append(c.label)
            status.set(c, "reused")
            continue
        if state in ("stale", "corrupt"):
            log.warning("recomputing %s: %s %s", c.label, state, why)
            summary.recomputed.append((c.label, f"{state}: {why}"))
        status.set(c, "pending")
        todo.append(c)
    return todo


class RunStatus:
    """A human-readable record of the last run's cells (pending / done / reused / failed), rewritten atomically
    after every cell. Sidecars remain the authority on what is done; this file says what happened."""

    def __init__(self, path: Path):
        self.path = path
        self.cells: dict[str, dict[str, str]] = {}
        self.started = datetime.now(UTC).isoformat(timespec="seconds")

    def set(self, cell: Cell, state: str, error: str = "") -> None:
        self.cells[cell.label] = {"state": state, "key": cell.key, **({"error": error} if error else {})}

    def flush(self) -> None:
        body = {"started_at": self.started, "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "cells": self.cells}
        atomic.write_text(self.path, json.dumps(body, indent=2, sort_keys=True))


def _progress(cells: list[Cell], label: str, enabled: bool) -> Any:
    if not enabled:
        return cells
    from tqdm import tqdm

    return tqdm(cells, desc=label, unit="cell")
