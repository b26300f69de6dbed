"""One cell, in two steps that may run on different machines:

1. :func:`evaluate_cell` runs ``mteb.evaluate`` through the prompted encoder and the probes, and returns every
   file of the cell as bytes (:class:`CellOutput`: paths relative to the results folder, in write order — probe
   artifacts, predictions, mteb result, model meta, and last the sidecar that marks the cell done). It writes
   nothing into the results folder.
2. :func:`write_cell` writes those files atomically, sidecar last (``faults.checkpoint("cell-done")`` after).

The local executor does both in-process; the Ray executor evaluates on a worker and writes in the driver, which
owns the results folder (no shared filesystem needed).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.core import atomic, faults
from harness.core.errors import HarnessError
from harness.core.offline import configure
from harness.models.spec import Embedder
from harness.prompts.conditions import prompts_sha256
from harness.prompts.official import official_kind
from harness.results import trust
from harness.results.schema import PREDICTIONS_SCHEMA, PREDICTIONS_SCHEMA_VERSION, parquet_bytes
from harness.run import predictions, registry_predictions
from harness.run.cache import EmbeddingCache
from harness.run.encoder import PromptedEncoder, model_meta
from harness.run.grid import Cell, harness_version
from harness.run.probe_context import ProbeContext
from harness.run.probes import run_probes

configure()

import mteb  # noqa: E402


def n_items(dataset: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Items per subset and split: pairs (STS, bitext), queries (retrieval)."""
    out: dict[str, dict[str, int]] = {}
    for sub, splits in dataset.items():
        for split, data in splits.items():
            n = len(data["queries"]) if isinstance(data, dict) and "queries" in data else len(data)
            if n == 1 and "labels" in getattr(data, "column_names", ()) and isinstance(data["labels"][0], list):
                n = len(data["labels"][0])  # mteb's v1 pair layout: one row holding every pair
            out.setdefault(sub, {})[split] = n
    return out


@dataclass
class CellOutput:
    """A finished cell as bytes: ``files`` are (path relative to the results folder, bytes) in write order, the
    sidecar last; ``encoded``/``cached``: distinct strings the model encoded / read from the embedding cache."""

    label: str
    files: list[tuple[str, bytes]] = field(default_factory=list)
    encoded: int = 0
    cached: int = 0
    worker: str = ""  # where it was evaluated (Ray executor: node:pid)

    @property
    def nbytes(self) -> int:
        return sum(len(data) for _, data in self.files)


def run_cell(
    cell: Cell, embedder: Embedder, *, batch_size: int = 32, cache: EmbeddingCache | None = None,
    progress: Any = None,
) -> tuple[int, int]:
    """Evaluate one cell and write its files. Returns (strings encoded, strings read from the cache).
    ``progress`` (a :class:`harness.run.progress.Progress`) hears of every string encoded or read."""
    output = evaluate_cell(cell, embedder, batch_size=batch_size, cache=cache, progress=progress)
    write_cell(output, cell.results_dir)
    return output.encoded, output.cached


def write_cell(output: CellOutput, results_dir: Path) -> None:
    """Write a cell's files atomically in their order — the sidecar last, so a cell counts as done only once
    every other file of it is complete."""
    for rel, data in output.files:
        atomic.write_bytes(results_dir / rel, data)
    faults.checkpoint("cell-done")


def evaluate_cell(
    cell: Cell, embedder: Embedder, *, batch_size: int = 32, cache: EmbeddingCache | None = None,
    progress: Any = None,
) -> CellOutput:
    """Evaluate one cell; return its files' bytes (nothing is written to the results folder)."""
    encoder = PromptedEncoder(embedder, cell.spec, cell.prompter, batch_size=batch_size, cache=cache,
                              progress=progress)
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
            encode_kwargs={"batch_size": batch_size, "show_progress_bar": False},  # mteb's search bar off
            prediction_folder=pred_dir,
        )
    dataset: dict[str, Any] = task.dataset or {}
    items = predictions.to_frame(cell.task.type, task.item_predictions,  # type: ignore[attr-defined]
                                 dataset, ignore_identical_ids=getattr(task, "ignore_identical_ids", False),
                                 changed=getattr(task, "item_changed_qrels", None),  # FollowIR's qrel_diff
                                 registry=cell.task.source == "mteb")
    seconds = time.perf_counter() - t0
    task_result = result.task_results[0]
    used = encoder.prefixes.get(cell.task.name, {})
    for role, prefix in used.items():
        if prefix != cell.prompts[role]:  # the planned identity must be what reached the model
            raise HarnessError(
                f"{cell.task.name}: {role} prefix {prefix!r} differs from planned {cell.prompts[role]!r}"
            )
    root = cell.results_dir

    def rel(path: Path) -> str:
        return str(path.relative_to(root))

    probed = registry_predictions.embedded_dataset(cell.task.type, task.item_predictions,  # type: ignore[attr-defined]
                                                   dataset) if cell.task.source == "mteb" else dataset
    ctx = ProbeContext(cell.task, encoder, cell.prompts, probed, cell.sidecar_path)
    probes = [p.to_dict() for p in run_probes(ctx)]
    meta = model_meta(cell.spec, cell.condition.name)
    sidecar = {
        "schema_version": cell.schema_version,
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
        "task_dir": cell.task.task_dir,  # where the task was read (a folder, or mteb:<dataset>@<revision>)
        "task_source": cell.task.source,  # local (a task folder) | mteb (mteb's registry)
        "dataset": ({"path": cell.task.dataset_path, "revision": cell.task.dataset_revision,  # type: ignore[union-attr]
                     "subsets": sorted(cell.task.spec.subsets), "splits": list(cell.task.spec.splits)}
                    if cell.task.source == "mteb" else None),
        "official_kind": (official_kind(cell.prompter.model, cell.task.name, cell.task.type)
                          if cell.condition.name == "official" else None),
        "condition_file": cell.condition.source,  # the set's file (None for none/format/official)
        "main_score": cell.task.spec.main_score,
        "family": cell.task.spec.family,  # tasks summarised together (analysis/family.py)
        "resample_unit": cell.task.spec.resample_unit,  # as the task states it; null: inferred by aggregate
        "prompts": cell.prompts,
        "prompts_sha256": prompts_sha256({cell.task.name: cell.prompts}),
        "n_items": n_items(probed),  # registry clustering: the documents mteb embedded
        "probes": probes,
        "mteb_version": mteb.__version__,
        "harness_version": harness_version(),
        "created_at": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "result_file": rel(cell.result_path),
        "predictions_file": rel(cell.predictions_path),
    }
    items = items.assign(schema_version=PREDICTIONS_SCHEMA_VERSION, model=cell.spec.name, revision=cell.spec.revision,
                         condition=cell.condition.name, task=cell.task.name, task_type=cell.task.type)
    predictions_bytes = parquet_bytes(items, PREDICTIONS_SCHEMA)
    with tempfile.TemporaryDirectory(prefix="harness-result-") as tmp:  # mteb's own serialisation, byte for byte
        result_file = Path(tmp) / "result.json"
        task_result.to_disk(result_file)
        result_bytes = result_file.read_bytes()
    # the sidecar pins its files' bytes: a rerun checks them without parsing (or importing mteb)
    sidecar["files_sha256"] = {"result": hashlib.sha256(result_bytes).hexdigest(),
                               "predictions": hashlib.sha256(predictions_bytes).hexdigest()}
    # probe artifacts, predictions and mteb result first, sidecar last: a cell is done only once its sidecar exists
    files = [(rel(path), data) for path, data in ctx.artifacts.items()]
    files += [
        (rel(cell.predictions_path), predictions_bytes),
        (rel(cell.result_path), result_bytes),
        (rel(cell.result_path.parent / "model_meta.json"),
         json.dumps(meta.to_dict(), default=str, indent=2).encode("utf-8")),
    ]
    sidecar[trust.PINS_FIELD] = trust.pins(files)  # every file of the cell: merge and publish copy only these
    files.append(
        (rel(cell.sidecar_path), json.dumps(sidecar, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")))
    return CellOutput(cell.label, files, encoder.n_encoded, encoder.n_cached)
