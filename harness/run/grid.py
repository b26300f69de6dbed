"""The grid: models × conditions × tasks → cells, each with its identity (key) and its files.

A cell's key hashes the model name, revision and output-changing settings, the task's data hash, the condition,
the exact prefixes per role and the result-schema version. A rerun skips a cell only when its sidecar holds the
same key and its files load (:meth:`Cell.state`); checking that imports neither mteb nor torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.core import atomic
from harness.models.spec import ModelSpec
from harness.prompts.conditions import Condition, Prompter
from harness.prompts.files import model_instructions
from harness.prompts.schema import ModelInstructions
from harness.results import layout
from harness.results.layout import RESULT_SCHEMA_VERSION
from harness.taskspecs.local import Task


def harness_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("instruction-harness")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass
class Cell:
    spec: ModelSpec
    prompter: Prompter  # the model's recipe under one condition; planned once, used to run the cell
    task: Task
    results_dir: Path

    @property
    def condition(self) -> Condition:
        return self.prompter.condition

    @cached_property
    def prompts(self) -> dict[str, str]:
        """The exact prefix per role: part of the cell's identity, and what the encoder must apply."""
        return self.prompter.prompts_for(self.task.name, self.task.type)

    @property
    def schema_version(self) -> int:
        """The result-schema version this cell is written with (part of its key)."""
        return RESULT_SCHEMA_VERSION

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
                "schema": self.schema_version,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def experiment(self) -> str:
        return layout.experiment(self.condition.name)

    @property
    def result_path(self) -> Path:
        return layout.result_path(self.results_dir, self.spec.name, self.spec.revision, self.condition.name,
                                  self.task.name)

    @property
    def sidecar_path(self) -> Path:
        return layout.sidecar_path(self.results_dir, self.spec.name, self.spec.revision, self.condition.name,
                                   self.task.name)

    @property
    def predictions_path(self) -> Path:
        return layout.predictions_path(self.sidecar_path)

    @property
    def label(self) -> str:
        return f"{self.spec.alias}/{self.condition.name}/{self.task.name}"

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
        hashes = side.get("files_sha256") or {}
        for role, path, load in (("result", self.result_path, _read_result),
                                 ("predictions", self.predictions_path, _read_parquet)):
            try:
                if role in hashes:  # cheap and strict: any changed byte shows
                    if atomic.file_sha256(path) != hashes[role]:
                        return "corrupt", f"{path}: sha256 differs from the sidecar's"
                else:  # cells written before hashes were recorded: the file must at least load
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
            "schema_version": self.schema_version,
        }[field_name]

    def is_done(self) -> bool:
        return self.state()[0] == "done"


def plan(
    models: list[ModelSpec], tasks: Sequence[Task], conditions: list[Condition], results_dir: Path,
    *, recipes: dict[str, ModelInstructions] | None = None,
) -> list[Cell]:
    """Every cell, model by model (conditions × tasks). ``recipes``: the models' checked instruction files by
    name (a model missing from it is left out); by default each model's file is read."""
    cells = []
    for spec in models:
        if recipes is not None and spec.name not in recipes:
            continue
        recipe = recipes[spec.name] if recipes is not None else model_instructions(spec.name)
        for cond in conditions:
            prompter = Prompter(recipe, cond)
            # placement conditions (`blog@query`) have no cells on symmetric tasks: one side only
            cells += [Cell(spec, prompter, task, results_dir) for task in tasks if cond.applies(task.type)]
    return cells



def _read_result(path: Path) -> Any:
    """An mteb TaskResult file as JSON (what ``TaskResult.from_disk`` needs: an object with ``scores``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "scores" not in data or "task_name" not in data:
        raise ValueError("not an mteb TaskResult")
    return data


def _read_parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(path)
