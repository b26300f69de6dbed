"""One cell: evaluate it with ``mteb.evaluate`` through the prompted encoder, then write its files atomically —
the mteb result, the item-level predictions, the probe artifacts and, last, the sidecar that marks it done.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from harness.core import atomic, faults
from harness.core.errors import HarnessError
from harness.core.offline import configure
from harness.models.spec import Embedder
from harness.prompts.conditions import prompts_sha256
from harness.results.schema import PREDICTIONS_SCHEMA, PREDICTIONS_SCHEMA_VERSION, write_parquet
from harness.run import predictions
from harness.run.cache import EmbeddingCache
from harness.run.encoder import PromptedEncoder, model_meta
from harness.run.grid import Cell, file_sha256, harness_version
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
            out.setdefault(sub, {})[split] = n
    return out


def run_cell(
    cell: Cell, embedder: Embedder, *, batch_size: int = 32, cache: EmbeddingCache | None = None,
    progress: Any = None,
) -> tuple[int, int]:
    """Evaluate one cell and write its files. Returns (strings encoded, strings read from the cache).
    ``progress`` (a :class:`harness.run.progress.Progress`) hears of every string encoded or read."""
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
        "task_dir": str(cell.task.folder.resolve()),  # where the task was read: stale checks compare it there
        "condition_file": cell.condition.source,  # the set's file (None for none/format/official)
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
    # the sidecar pins its files' bytes: a rerun checks them without parsing (or importing mteb)
    sidecar["files_sha256"] = {"result": file_sha256(cell.result_path),
                               "predictions": file_sha256(cell.predictions_path)}
    atomic.write_text(cell.sidecar_path, json.dumps(sidecar, indent=2, ensure_ascii=False, sort_keys=True))
    faults.checkpoint("cell-done")
    return encoder.n_encoded, encoder.n_cached
