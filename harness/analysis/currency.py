"""Which cells of a results folder still describe today's inputs, and which are stale.

A cell is written once and kept; its task's data, a set's instruction or a model's recipe may change afterwards.
Pairing a fresh ``none`` cell with an old ``blog`` cell would report a delta between two different data sets.
So before anything is aggregated, every cell is checked against the current inputs:

- its task's data hash (``task_data_sha256``) must equal the hash of the task folder as it is now (the folder
  the cell recorded, ``task_dir``, when it is still there; else the project's task of that name);
- its exact prefixes must equal what the current instruction files give this model under its condition
  (:class:`harness.prompts.conditions.Prompter`; read from the files, no model is loaded; a set from the file the
  cell recorded, ``condition_file``, when it is still there);
- its model identity (name, revision and output-changing settings) must equal that of the model's newest cell
  at the same revision (analysis never resolves models, so the newest cell stands for the current settings);
- it must be written with the current result schema.

A cell failing any of these is *stale*: it is listed (with the reason and the exact ``harness run`` command that
recomputes it), written to ``<results>/left-out-cells.json`` (key ``stale``; the file was ``stale-cells.json``
before cells could also be left out as unreadable, key ``unreadable``) and left out of every table, delta and the
report. A cell
whose task is not in the task folder (results copied from another machine), whose set file is not here, or whose
model's instruction file cannot be read is kept, unverified for that part — and deltas pair two cells only when
they share the data hash and the model identity, whatever their task.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.core import atomic
from harness.core.errors import HarnessError
from harness.prompts.conditions import Condition, Prompter, split_placement
from harness.prompts.files import load_set, model_instructions
from harness.prompts.schema import ModelInstructions, split_variant
from harness.results import layout
from harness.results.layout import RESULT_SCHEMA_VERSION
from harness.taskspecs.local import LocalTask, TaskRegistry
from harness.taskspecs.spec import SPEC_FILE


@dataclass(frozen=True)
class StaleCell:
    cell: str  # alias/condition/task
    sidecar: str  # relative to the results folder
    model: str
    alias: str
    revision: str
    condition: str
    task: str
    reason: str
    command: str  # recomputes it


@dataclass(frozen=True)
class UnreadableCell:
    cell: str  # alias/condition/task (from the sidecar's path when the sidecar itself cannot be read)
    sidecar: str  # relative to the results folder
    reason: str
    command: str  # recomputes it (a rerun finds the cell corrupt or stale and recomputes it)


@dataclass
class Currency:
    """The verdict on every cell of a results folder."""

    stale: list[StaleCell]
    unverified: list[str]  # lines: cells kept without a check of their data (task not here) or prompts
    unreadable: list[UnreadableCell] = field(default_factory=list)  # sidecar or result file unusable: left out

    @property
    def stale_sidecars(self) -> set[str]:
        return {s.sidecar for s in self.stale}

    def lines(self, results_dir: Path) -> list[str]:
        """The console's account: one line per cell left out (stale or unreadable), the commands that recompute
        them, and what could not be checked."""
        out = []
        if self.unreadable:
            out.append(f"left out {len(self.unreadable)} unreadable cell(s) (listed in "
                       f"{results_dir / layout.LEFT_OUT_CELLS}):")
            out += [f"  {u.sidecar}: {u.reason}" for u in self.unreadable]
            out += [f"  recompute: {cmd}" for cmd in sorted({u.command for u in self.unreadable})]
        if self.stale:
            out.append(f"left out {len(self.stale)} stale cell(s) (their inputs changed since they ran; listed in "
                       f"{results_dir / layout.LEFT_OUT_CELLS}):")
            out += [f"  {s.cell}: {s.reason}" for s in self.stale]
            out += [f"  recompute: {cmd}" for cmd in recompute_commands(self.stale, results_dir)]
        out += self.unverified
        return out


def unreadable_cells(results_dir: Path, bad: list[tuple[Path, str]], sides: dict[Path, dict[str, Any]]
                     ) -> list[UnreadableCell]:
    """(sidecar, reason) → :class:`UnreadableCell`; names come from the sidecar when it parsed, else its path
    (``cells/<org__model>/<revision>/<condition>/<Task>.json``)."""
    out = []
    for path, reason in sorted(bad):
        side = sides.get(path)
        parts = path.relative_to(results_dir / layout.CELLS_DIR).parts
        model = side["alias"] if side else parts[0].replace("__", "/", 1)
        condition, task = (side["condition"], side["task"]) if side else (parts[2], path.stem)
        out.append(UnreadableCell(f"{model}/{condition}/{task}", str(path.relative_to(results_dir)), reason,
                                  _command(model, [task], [condition], results_dir)))
    return out


def _command(alias: str, tasks: Iterable[str], conditions: Iterable[str], results_dir: Path) -> str:
    return (f"harness run --model {alias} --tasks {','.join(sorted(set(tasks)))} "
            f"--conditions {','.join(sorted(set(conditions)))} --results {results_dir}")


def recompute_commands(stale: list[StaleCell], results_dir: Path) -> list[str]:
    """One ``harness run`` per model and condition set (cells already current in it are reused, not rerun)."""
    by: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    conds: dict[tuple[str, str], set[str]] = {}
    for s in stale:
        conds.setdefault((s.alias, s.task), set()).add(s.condition)
    for (alias, task), cs in conds.items():
        by.setdefault((alias, tuple(sorted(cs))), set()).add(task)
    return [_command(alias, tasks, cs, results_dir) for (alias, cs), tasks in sorted(by.items())]


class _Expected:
    """Today's inputs, each read once: task data hashes, recipes, conditions. A cell's own record of where its task
    folder and set file were (``task_dir``, ``condition_file``) is used when that folder or file is still there
    (a run on another task folder, a set given as a path); else the task folder and sets of this project."""

    def __init__(self, registry: TaskRegistry):
        self.registry = registry
        self._hashes: dict[str, str | None] = {}
        self._recipes: dict[str, ModelInstructions | None] = {}
        self._conditions: dict[tuple[str, str], Condition | None] = {}

    def data_hash(self, side: dict[str, Any]) -> str | None:
        """The task's data hash now; None when the task is not here (or its folder is invalid now)."""
        folder = side.get("task_dir")
        if side.get("task_source") == "mteb":  # mteb's registry task: its pinned dataset revision now
            from harness.taskspecs.registry_tasks import lookup

            where = str(folder)
            if where not in self._hashes:
                try:
                    ds = side.get("dataset") or {}
                    found = lookup(side["task"], subsets=ds.get("subsets"), splits=ds.get("splits"))
                    self._hashes[where] = found.data_hash if found is not None else None
                except HarnessError:
                    self._hashes[where] = None
            return self._hashes[where]
        if folder and (Path(folder) / SPEC_FILE).exists():
            if folder not in self._hashes:
                try:
                    self._hashes[folder] = LocalTask(Path(folder)).data_hash
                except HarnessError:
                    self._hashes[folder] = None
            return self._hashes[folder]
        task = side["task"]
        return self.registry.get(task).data_hash if task in self.registry.names() else None

    def _condition(self, name: str, source: str | None) -> Condition | None:
        key = (name, source or "")
        if key not in self._conditions:
            try:
                if source and Path(source).exists():
                    plain, where = split_placement(name)
                    s, k = load_set(source), split_variant(plain)[1]
                    self._conditions[key] = Condition(name, s if k is None else s.variant(k), source, where)
                else:
                    self._conditions[key] = Condition.parse(name)
            except HarnessError:
                self._conditions[key] = None
        return self._conditions[key]

    def prompts(self, side: dict[str, Any]) -> dict[str, str] | None:
        model = side["model"]
        if model not in self._recipes:
            try:
                self._recipes[model] = model_instructions(model)
            except HarnessError:
                self._recipes[model] = None
        recipe, cond = self._recipes[model], self._condition(side["condition"], side.get("condition_file"))
        if recipe is None or cond is None:
            return None
        return Prompter(recipe, cond).prompts_for(side["task"], side["task_type"])


def check(results_dir: Path, sides: list[tuple[Path, dict[str, Any]]] | None = None,
          registry: TaskRegistry | None = None) -> Currency:
    """Check every cell's sidecar against the current task folder and instruction files."""
    sides = list(layout.sidecars(results_dir)) if sides is None else sides
    expected = _Expected(registry or TaskRegistry())
    newest: dict[tuple[str, str], tuple[str, str]] = {}  # (model, revision) → (created_at, identity)
    for _, side in sides:
        key = (side["model"], side["revision"])
        stamp = (side.get("created_at", ""), side.get("model_identity", ""))
        newest[key] = max(newest.get(key, stamp), stamp)
    stale, not_here, unchecked = [], set(), set()
    for path, side in sides:
        reasons = []
        if side.get("schema_version") != RESULT_SCHEMA_VERSION:
            reasons.append(f"written with result schema {side.get('schema_version')}, now {RESULT_SCHEMA_VERSION}")
        current = expected.data_hash(side)
        if current is None:
            not_here.add(side["task"])
        elif side.get("task_data_sha256") != current:
            reasons.append(f"task data changed since it ran ({str(side.get('task_data_sha256'))[:12]} → "
                           f"{current[:12]})")
        prompts = expected.prompts(side)
        if prompts is None:
            unchecked.add(f"{side['condition']} ({side['model']})")
        elif prompts != side.get("prompts"):
            reasons.append(f"its instructions changed (prompts now {prompts}, it ran with {side.get('prompts')})")
        newest_identity = newest[(side["model"], side["revision"])][1]
        if side.get("model_identity", "") != newest_identity:
            reasons.append("model settings differ from this model's newest cells "
                           f"({side.get('model_identity')} vs {newest_identity})")
        if reasons:
            rel = str(path.relative_to(results_dir))
            stale.append(StaleCell(f"{side['alias']}/{side['condition']}/{side['task']}", rel, side["model"],
                                   side["alias"], side["revision"], side["condition"], side["task"],
                                   "; ".join(reasons),
                                   _command(side["alias"], [side["task"]], [side["condition"]], results_dir)))
    notes = []
    if not_here:
        notes.append(f"kept unverified: cells of {len(not_here)} task(s) not in {expected.registry.root} "
                     f"({', '.join(sorted(not_here))}); they pair only with cells on the same data")
    if unchecked:
        notes.append(f"kept without a prompt check (set or instruction file not readable here): "
                     f"{', '.join(sorted(unchecked))}")
    return Currency(stale, notes)


def write(results_dir: Path, currency: Currency, out: Path | None = None) -> Path:
    """``<out>/left-out-cells.json`` (``out``: the results folder unless aggregate stages its outputs): every cell
    left out — ``stale`` and ``unreadable``, each with its reason and the command that recomputes it — and, under
    ``cells``, all of them together (empty lists when every cell is current and readable); report and readers
    leave these cells out."""
    path = (out or results_dir) / layout.LEFT_OUT_CELLS
    stale, unreadable = [asdict(s) for s in currency.stale], [asdict(u) for u in currency.unreadable]
    commands = [*recompute_commands(currency.stale, results_dir), *sorted({u.command for u in currency.unreadable})]
    body = {"cells": [*({"kind": "unreadable"} | u for u in unreadable), *({"kind": "stale"} | s for s in stale)],
            "stale": stale, "unreadable": unreadable, "unverified": currency.unverified, "recompute": commands}
    atomic.write_text(path, json.dumps(body, indent=2, ensure_ascii=False))
    return path


def read(results_dir: Path) -> Currency:
    """What the last ``harness aggregate`` left out (``left-out-cells.json``, or an older harness's
    ``stale-cells.json``); empty when there is no such file."""
    for name in (layout.LEFT_OUT_CELLS, layout.STALE_CELLS):
        try:
            body = json.loads((results_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        try:
            return Currency([StaleCell(**s) for s in body.get("stale", [])], list(body.get("unverified", [])),
                            [UnreadableCell(**u) for u in body.get("unreadable", [])])
        except (TypeError, AttributeError):
            break
    return Currency([], [])
