"""The grid: models × conditions × tasks → cells, each evaluated by mteb and written atomically.

Per cell two files are written:

- the mteb ``TaskResult`` JSON in mteb's results layout, the condition being mteb's *experiment*:
  ``<results>/results/<org__model>/<revision>/experiments/condition_<name>/<Task>.json`` (+ ``model_meta.json``),
  so ``mteb.ResultCache(<results>)`` reads every condition back;
- a harness sidecar ``<results>/cells/<org__model>/<revision>/<condition>/<Task>.json`` with the cell's
  identity (task-data hash, exact prefixes and their sha256, model identity, schema version), item counts and
  probe values. A rerun skips a cell only when its sidecar's key equals the new key and both files load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from harness import atomic, faults, predictions
from harness.cache import EmbeddingCache
from harness.encoder import LazyEmbedder, PromptedEncoder, model_meta
from harness.errors import HarnessError
from harness.instructions import Condition, Prompter, list_conditions, model_instructions, prompts_sha256
from harness.models import Embedder, ModelSpec, resolve
from harness.offline import PROJECT_ROOT, configure
from harness.probes import ProbeContext, run_probes
from harness.results import PREDICTIONS_SCHEMA, PREDICTIONS_SCHEMA_VERSION, write_parquet
from harness.tasks import LocalTask, TaskRegistry

configure()

import mteb  # noqa: E402
from mteb.results import TaskResult  # noqa: E402

log = logging.getLogger(__name__)
# Bump when what a cell stores changes; every older cell is then recomputed. 2: MixedPool ranks fixed, shift probe.
RESULT_SCHEMA_VERSION = 2
DEFAULT_RESULTS = PROJECT_ROOT / "results"


def harness_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("instruction-harness")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def model_path(name: str) -> str:
    return name.replace("/", "__").replace(" ", "_")


@dataclass
class Cell:
    spec: ModelSpec
    prompter: Prompter  # the model's recipe under one condition; planned once, used to run the cell
    task: LocalTask
    results_dir: Path

    @property
    def condition(self) -> Condition:
        return self.prompter.condition

    @cached_property
    def prompts(self) -> dict[str, str]:
        """The exact prefix per role: part of the cell's identity, and what the encoder must apply."""
        return self.prompter.prompts_for(self.task.name, self.task.type)

    @property
    def key(self) -> str:
        blob = json.dumps(
            {
                "model": self.spec.name,
                "revision": self.spec.revision,
                "model_identity": self.spec.identity,
                "task": self.task.name,
                "task_data": self.task.data_hash,
                "condition": self.condition.name,
                "prompts": self.prompts,
                "schema": RESULT_SCHEMA_VERSION,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def experiment(self) -> str:
        return f"condition_{self.condition.name}"

    @property
    def result_path(self) -> Path:
        return (
            self.results_dir / "results" / model_path(self.spec.name) / self.spec.revision
            / "experiments" / self.experiment / f"{self.task.name}.json"
        )

    @property
    def sidecar_path(self) -> Path:
        return (
            self.results_dir / "cells" / model_path(self.spec.name) / self.spec.revision
            / self.condition.name / f"{self.task.name}.json"
        )

    @property
    def predictions_path(self) -> Path:
        return self.sidecar_path.with_name(f"{self.task.name}.predictions.parquet")

    def state(self) -> tuple[str, str]:
        """("done", "") only if all three files exist, load, and the sidecar's key matches this cell's key;
        otherwise ("missing" | "stale" | "corrupt", why)."""
        if not self.sidecar_path.exists():
            return "missing", ""
        try:
            side = json.loads(self.sidecar_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return "corrupt", f"{self.sidecar_path}: {e.__class__.__name__}"
        if side.get("key") != self.key:
            changed = [k for k in ("task_data_sha256", "prompts", "revision", "model_identity", "schema_version")
                       if side.get(k) != self._expected(k)]
            return "stale", f"changed: {', '.join(changed) or 'cell key'}"
        for path, load in ((self.result_path, TaskResult.from_disk), (self.predictions_path, _read_parquet)):
            try:
                load(path)
            except Exception as e:
                return "corrupt", f"{path}: {e.__class__.__name__}"
        return "done", ""

    def _expected(self, field_name: str) -> Any:
        return {
            "task_data_sha256": self.task.data_hash,
            "prompts": self.prompts,
            "revision": self.spec.revision,
            "model_identity": self.spec.identity,
            "schema_version": RESULT_SCHEMA_VERSION,
        }[field_name]

    def is_done(self) -> bool:
        return self.state()[0] == "done"


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    recomputed: list[tuple[str, str]] = field(default_factory=list)  # (cell, why): stale or corrupt files
    seconds: float = 0.0
    encoded: int = 0  # distinct strings the models encoded
    from_cache: int = 0  # distinct strings read from the embedding cache instead

    def line(self) -> str:
        texts = f"; texts: {self.encoded} encoded, {self.from_cache} from cache" if self.ran else ""
        return (
            f"cells: {len(self.ran)} ran, {len(self.reused)} reused, {len(self.failed)} failed "
            f"in {self.seconds:.1f}s{texts}"
        )


def plan(
    models: list[ModelSpec], tasks: list[LocalTask], conditions: list[Condition], results_dir: Path
) -> list[Cell]:
    cells = []
    for spec in models:
        recipe = model_instructions(spec.name)
        for cond in conditions:
            prompter = Prompter(recipe, cond)
            cells += [Cell(spec, prompter, task, results_dir) for task in tasks]
    return cells


def n_items(dataset: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Items per subset and split: pairs (STS, bitext), queries (retrieval)."""
    out: dict[str, dict[str, int]] = {}
    for sub, splits in dataset.items():
        for split, data in splits.items():
            n = len(data["queries"]) if isinstance(data, dict) and "queries" in data else len(data)
            out.setdefault(sub, {})[split] = n
    return out


def run_cell(
    cell: Cell, embedder: Embedder, *, batch_size: int = 32, cache: EmbeddingCache | None = None
) -> tuple[int, int]:
    """Evaluate one cell and write its files. Returns (strings encoded, strings read from the cache)."""
    encoder = PromptedEncoder(embedder, cell.spec, cell.prompter, batch_size=batch_size, cache=cache)
    task = cell.task.mteb_task()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness-pred-") as pred_dir:  # stays empty: see LocalTask.mteb_task
        result = mteb.evaluate(
            encoder,  # type: ignore[arg-type]  # implements mteb's EncoderProtocol (an AbsEncoder subclass)
            task,
            cache=None,
            co2_tracker=False,
            overwrite_strategy="always",
            show_progress_bar=False,
            encode_kwargs={"batch_size": batch_size},
            prediction_folder=pred_dir,
        )
    dataset: dict[str, Any] = task.dataset or {}
    items = predictions.to_frame(cell.task.type, task.item_predictions,  # type: ignore[attr-defined]
                                 dataset, ignore_identical_ids=getattr(task, "ignore_identical_ids", False))
    seconds = time.perf_counter() - t0
    task_result = result.task_results[0]
    used = encoder.prefixes.get(cell.task.name, {})
    for role, prefix in used.items():
        if prefix != cell.prompts[role]:  # the planned identity must be what reached the model
            raise HarnessError(
                f"{cell.task.name}: {role} prefix {prefix!r} differs from planned {cell.prompts[role]!r}"
            )
    ctx = ProbeContext(cell.task, encoder, cell.prompts, task.dataset, cell.sidecar_path)
    probes = [p.to_dict() for p in run_probes(ctx)]
    meta = model_meta(cell.spec, cell.condition.name)
    sidecar = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "key": cell.key,
        "model": cell.spec.name,
        "alias": cell.spec.alias,
        "revision": cell.spec.revision,
        "model_identity": cell.spec.identity,
        "model_settings": cell.spec.settings,
        "condition": cell.condition.name,
        "task": cell.task.name,
        "task_type": cell.task.type,
        "task_data_sha256": cell.task.data_hash,
        "main_score": cell.task.spec.main_score,
        "prompts": cell.prompts,
        "prompts_sha256": prompts_sha256({cell.task.name: cell.prompts}),
        "n_items": n_items(dataset),
        "probes": probes,
        "mteb_version": mteb.__version__,
        "harness_version": harness_version(),
        "created_at": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "result_file": str(cell.result_path.relative_to(cell.results_dir)),
        "predictions_file": str(cell.predictions_path.relative_to(cell.results_dir)),
    }
    # mteb result and predictions first, sidecar last: a cell counts as done only once its sidecar exists.
    items = items.assign(schema_version=PREDICTIONS_SCHEMA_VERSION, model=cell.spec.name, revision=cell.spec.revision,
                         condition=cell.condition.name, task=cell.task.name, task_type=cell.task.type)
    write_parquet(items, PREDICTIONS_SCHEMA, cell.predictions_path)
    atomic.write_with(cell.result_path, task_result.to_disk)
    atomic.write_text(
        cell.result_path.parent / "model_meta.json", json.dumps(meta.to_dict(), default=str, indent=2)
    )
    atomic.write_text(cell.sidecar_path, json.dumps(sidecar, indent=2, ensure_ascii=False, sort_keys=True))
    faults.checkpoint("cell-done")
    return encoder.n_encoded, encoder.n_cached


def _read_parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(path)


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
    conds = [Condition.parse(c) for c in (conditions or list_conditions())]  # default: every condition
    specs = [m if isinstance(m, ModelSpec) else resolve(m) for m in models]
    check_writable(results_dir)
    for orphan in atomic.remove_orphans(results_dir):
        log.warning("removed %s, left by an interrupted run", orphan)
    summary = RunSummary()
    status = RunStatus(results_dir / "run-status.json")
    for spec in specs:
        cells = plan([spec], task_list, conds, results_dir)
        todo = []
        for c in cells:
            state, why = c.state()
            if state == "done":
                summary.reused.append(_label(c))
                status.set(c, "reused")
                continue
            if state in ("stale", "corrupt"):
                log.warning("recomputing %s: %s %s", _label(c), state, why)
                summary.recomputed.append((_label(c), f"{state}: {why}"))
            status.set(c, "pending")
            todo.append(c)
        status.flush()
        if not todo:
            continue
        if cache is True or isinstance(cache, Path):
            cache = EmbeddingCache(None if cache is True else cache)  # once per run, shared by every model
        # once per model, shared by every condition; loaded on the first string the embedding cache lacks
        embedder = LazyEmbedder(spec)
        for cell in _progress(todo, spec.alias, progress):
            try:
                encoded, cached = run_cell(cell, embedder, batch_size=batch_size, cache=cache or None)
                summary.encoded += encoded
                summary.from_cache += cached
                summary.ran.append(_label(cell))
                status.set(cell, "done")
            except HarnessError:
                raise
            except Exception as e:
                log.exception("cell %s failed", _label(cell))
                summary.failed.append((_label(cell), f"{e.__class__.__name__}: {e}"))
                status.set(cell, "failed", f"{e.__class__.__name__}: {e}")
            status.flush()
    summary.seconds = time.perf_counter() - t0
    return summary


class RunStatus:
    """A human-readable record of the last run's cells (pending / done / reused / failed), rewritten atomically
    after every cell. Sidecars remain the authority on what is done; this file says what happened."""

    def __init__(self, path: Path):
        self.path = path
        self.cells: dict[str, dict[str, str]] = {}
        self.started = datetime.now(UTC).isoformat(timespec="seconds")

    def set(self, cell: Cell, state: str, error: str = "") -> None:
        self.cells[_label(cell)] = {"state": state, "key": cell.key, **({"error": error} if error else {})}

    def flush(self) -> None:
        body = {"started_at": self.started, "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "cells": self.cells}
        atomic.write_text(self.path, json.dumps(body, indent=2, sort_keys=True))


def _label(cell: Cell) -> str:
    return f"{cell.spec.alias}/{cell.condition.name}/{cell.task.name}"


def _progress(cells: list[Cell], label: str, enabled: bool) -> Any:
    if not enabled:
        return cells
    from tqdm import tqdm

    return tqdm(cells, desc=label, unit="cell")
