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
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import atomic, predictions
from harness.encoder import PromptedEncoder, model_meta
from harness.errors import HarnessError
from harness.instructions import Condition, Prompter, model_instructions, prompts_sha256
from harness.models import Embedder, ModelSpec, resolve
from harness.offline import PROJECT_ROOT, configure
from harness.probes import ProbeContext, run_probes
from harness.results import PREDICTIONS_SCHEMA, write_parquet
from harness.tasks import LocalTask, TaskRegistry

configure()

import mteb  # noqa: E402
from mteb.results import TaskResult  # noqa: E402

log = logging.getLogger(__name__)
RESULT_SCHEMA_VERSION = 1
DEFAULT_RESULTS = PROJECT_ROOT / "results"
DEFAULT_CONDITIONS = ("none", "blog")


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
    condition: Condition
    task: LocalTask
    prompts: dict[str, str]
    results_dir: Path

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

    def is_done(self) -> bool:
        """True only if both files exist, load, and the sidecar's key matches this cell's key."""
        if not (self.sidecar_path.exists() and self.result_path.exists() and self.predictions_path.exists()):
            return False
        try:
            side = json.loads(self.sidecar_path.read_text(encoding="utf-8"))
            TaskResult.from_disk(self.result_path)
        except Exception as e:
            log.warning("ignoring unreadable result for %s (%s); recomputing", self.result_path, e)
            return False
        return bool(side.get("key") == self.key)


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"cells: {len(self.ran)} ran, {len(self.reused)} reused, {len(self.failed)} failed "
            f"in {self.seconds:.1f}s"
        )


def plan(
    models: list[ModelSpec], tasks: list[LocalTask], conditions: list[Condition], results_dir: Path
) -> list[Cell]:
    cells = []
    for spec in models:
        recipe = model_instructions(spec.name)
        for cond in conditions:
            prompter = Prompter(recipe, cond)
            for task in tasks:
                cells.append(Cell(spec, cond, task, prompter.prompts_for(task.name, task.type), results_dir))
    return cells


def n_items(task_name: str, dataset: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Items per subset and split: pairs (STS, bitext), queries (retrieval)."""
    out: dict[str, dict[str, int]] = {}
    for sub, splits in dataset.items():
        for split, data in splits.items():
            n = len(data["queries"]) if isinstance(data, dict) and "queries" in data else len(data)
            out.setdefault(sub, {})[split] = n
    return out


def run_cell(cell: Cell, embedder: Embedder, *, batch_size: int = 32) -> None:
    recipe = model_instructions(cell.spec.name)
    encoder = PromptedEncoder(embedder, cell.spec, Prompter(recipe, cell.condition), batch_size=batch_size)
    task = cell.task.mteb_task()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harness-pred-") as pred_dir:
        result = mteb.evaluate(
            encoder,
            task,
            cache=None,
            co2_tracker=False,
            overwrite_strategy="always",
            show_progress_bar=False,
            encode_kwargs={"batch_size": batch_size},
            prediction_folder=pred_dir,
        )
        items = predictions.to_frame(cell.task.type, Path(pred_dir) / f"{cell.task.name}_predictions.json",
                                     task.dataset)
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
        "n_items": n_items(cell.task.name, task.dataset),
        "probes": probes,
        "mteb_version": mteb.__version__,
        "harness_version": harness_version(),
        "created_at": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "result_file": str(cell.result_path.relative_to(cell.results_dir)),
        "predictions_file": str(cell.predictions_path.relative_to(cell.results_dir)),
    }
    # mteb result and predictions first, sidecar last: a cell counts as done only once its sidecar exists.
    items = items.assign(schema_version=RESULT_SCHEMA_VERSION, model=cell.spec.name, revision=cell.spec.revision,
                         condition=cell.condition.name, task=cell.task.name, task_type=cell.task.type)
    write_parquet(items, PREDICTIONS_SCHEMA, cell.predictions_path)
    atomic.write_with(cell.result_path, task_result.to_disk)
    atomic.write_text(
        cell.result_path.parent / "model_meta.json", json.dumps(meta.to_dict(), default=str, indent=2)
    )
    atomic.write_text(cell.sidecar_path, json.dumps(sidecar, indent=2, ensure_ascii=False, sort_keys=True))


def run(
    models: list[str | ModelSpec],
    *,
    tasks: list[str] | None = None,
    conditions: list[str] | None = None,
    results_dir: Path = DEFAULT_RESULTS,
    batch_size: int = 32,
    registry: TaskRegistry | None = None,
    progress: bool = True,
) -> RunSummary:
    """Evaluate every (model, condition, task) cell that is not already done. Each model is loaded once."""
    t0 = time.perf_counter()
    registry = registry or TaskRegistry()
    task_list = registry.select(tasks)
    conds = [Condition.parse(c) for c in (conditions or list(DEFAULT_CONDITIONS))]
    specs = [m if isinstance(m, ModelSpec) else resolve(m) for m in models]
    summary = RunSummary()
    for spec in specs:
        cells = plan([spec], task_list, conds, results_dir)
        todo = [c for c in cells if not c.is_done()]
        summary.reused += [_label(c) for c in cells if c not in todo]
        if not todo:
            continue
        embedder = spec.load()  # once per model, shared by every condition
        for cell in _progress(todo, spec.alias, progress):
            try:
                run_cell(cell, embedder, batch_size=batch_size)
                summary.ran.append(_label(cell))
            except HarnessError:
                raise
            except Exception as e:
                log.exception("cell %s failed", _label(cell))
                summary.failed.append((_label(cell), f"{e.__class__.__name__}: {e}"))
    summary.seconds = time.perf_counter() - t0
    return summary


def _label(cell: Cell) -> str:
    return f"{cell.spec.alias}/{cell.condition.name}/{cell.task.name}"


def _progress(cells: list[Cell], label: str, enabled: bool) -> Any:
    if not enabled:
        return cells
    from tqdm import tqdm

    return tqdm(cells, desc=label, unit="cell")
