"""The public functions; the CLI is a thin mirror of these."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness import instructions, models, results, runner, specfile
from harness.instructions import list_conditions
from harness.errors import unknown
from harness.runner import RunSummary
from harness.tasks import TaskRegistry

__all__ = ["aggregate", "list_conditions", "list_models", "list_tasks", "run", "validate"]


def run(
    models_: str | list[str | models.ModelSpec] = models.DEFAULT_MODEL,
    *,
    tasks: list[str] | None = None,
    conditions: list[str] | None = None,
    results_dir: Path = runner.DEFAULT_RESULTS,
    batch_size: int = 32,
    progress: bool = True,
) -> RunSummary:
    items: list[str | models.ModelSpec] = (
        [m.strip() for m in models_.split(",") if m.strip()] if isinstance(models_, str) else list(models_)
    )
    # Resolve everything up front: bad input fails before anything is written.
    specs = [m if isinstance(m, models.ModelSpec) else models.resolve(m) for m in items]
    registry = TaskRegistry()
    registry.select(tasks)
    for c in conditions or []:
        instructions.Condition.parse(c)
    return runner.run(specs, tasks=tasks, conditions=conditions, results_dir=results_dir,
                      batch_size=batch_size, registry=registry, progress=progress)


def aggregate(results_dir: Path = runner.DEFAULT_RESULTS) -> tuple[pd.DataFrame, pd.DataFrame]:
    return results.aggregate(results_dir)


def list_tasks() -> list[dict[str, str]]:
    reg = TaskRegistry()
    return [
        {"name": t.name, "type": t.type, "subsets": ",".join(t.spec.subsets), "revision": t.data_hash[:12]}
        for t in reg.select(None)
    ]


def list_models() -> list[dict[str, str]]:
    out = []
    for alias, make in models.BUNDLED.items():
        try:
            spec = make()
            out.append({"alias": alias, "name": spec.name, "revision": spec.revision, "status": "ready"})
        except Exception as e:
            out.append({"alias": alias, "name": "", "revision": "", "status": f"missing: {e}"})
    return out


def validate(paths: list[Path] | None = None) -> list[str]:
    """Validate every task spec (+ data), instruction set and model instruction file. Returns what was checked."""
    checked = []
    reg = TaskRegistry()
    for t in reg.select(None):
        t.metadata()
        t.load_dataset()
        checked.append(str(t.spec_path))
    for name in instructions.list_sets():
        s = instructions.load_set(name)
        for task in s.tasks:
            if task not in reg.names():
                raise unknown("task", task, reg.names(), where=str(instructions.SETS_DIR / f"{name}.yaml"))
        checked.append(str(instructions.SETS_DIR / f"{name}.yaml"))
    for path in sorted(instructions.INSTRUCTIONS_DIR.glob("*.yaml")):
        specfile.load(path, instructions.ModelInstructions)
        checked.append(str(path))
    return checked

