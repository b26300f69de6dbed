"""Checking every input of a run before its first cell, and deciding which cells not to run.

A run's inputs are its tasks (``task.yaml`` + data files), its instruction sets and its models' instruction files.
:func:`check_inputs` checks all of them — every problem of every file, one line each with file, line and field —
and :meth:`Inputs.settle` decides, before anything runs or is written:

- a broken task or set stops the run with the full list and a last line naming them and ``--skip-invalid``;
  with ``skip_invalid`` they are left out and the run says so in one line (never silently);
- a broken model instruction file always stops the run (every condition of the model depends on it);
- unknown names (a typo in ``--tasks`` or ``--conditions``) stop the run at once with suggestions.

:func:`check_tasks_for_mteb` adds mteb's own metadata validation for the tasks that have cells to run (it imports
mteb, which those cells need anyway; a run that already has problems to report skips it and fails at once — a
value only mteb rejects then shows on the next attempt, still before any cell runs; ``harness validate`` always
checks everything). :func:`redundant` finds the cells of an instruction set that has no
instruction for their task: their exact strings are those of ``format`` (for a model without format prefixes,
those of ``none``), so by default they are not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.core.errors import HarnessError, InputErrors, Problems, unknown
from harness.core.yamlfile import FileContext
from harness.models.spec import ModelSpec
from harness.prompts.conditions import (
    BASELINE,
    FORMAT_BASELINE,
    Condition,
    Prompter,
    expand_conditions,
    split_placement,
)
from harness.prompts.files import (
    BUILTIN_CONDITIONS,
    SETS_DIR,
    check_set,
    check_set_typos,
    list_sets,
    load_set,
    model_instructions,
    set_path,
)
from harness.prompts.schema import ModelInstructions, split_variant
from harness.taskspecs.local import Task, TaskRegistry


@dataclass
class Inputs:
    """The checked inputs of a run: what will run, what is invalid or skipped, each task's distinct texts."""

    tasks: list[Task]
    conditions: list[Condition]
    recipes: dict[str, ModelInstructions]  # model name → its checked instruction file (or the default)
    texts: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # task → role → distinct texts
    bad_tasks: dict[str, Problems] = field(default_factory=dict)
    bad_conditions: dict[str, Problems] = field(default_factory=dict)
    fatal: Problems = field(default_factory=Problems)  # model instruction files: never skipped
    skipped_tasks: list[str] = field(default_factory=list)
    skipped_conditions: list[str] = field(default_factory=list)

    @property
    def problems(self) -> bool:
        return bool(self.bad_tasks or self.bad_conditions or self.fatal)

    def add_bad_tasks(self, bad: dict[str, Problems]) -> None:
        for name, problems in bad.items():
            self.bad_tasks.setdefault(name, Problems()).add_all(problems)
        self.tasks = [t for t in self.tasks if t.name not in bad]

    def settle(self, *, skip_invalid: bool) -> None:
        """Raise every problem at once (:class:`InputErrors`, with a last line saying what to do) — unless the
        only problems are in tasks or sets and ``skip_invalid`` is set: then those are left out."""
        bad = [self.bad_tasks[n] for n in sorted(self.bad_tasks)] + [self.bad_conditions[n] for n in
                                                                        sorted(self.bad_conditions)]
        skippable = [line for p in bad for line in p.lines]
        if self.fatal or (skippable and not skip_invalid):
            raise InputErrors([*skippable, *self.fatal.lines], self._hint())
        self.skipped_tasks, self.skipped_conditions = sorted(self.bad_tasks), sorted(self.bad_conditions)
        if not self.tasks or not self.conditions:
            raise HarnessError(f"nothing to run: {self.skipped_line().removeprefix('skipped ')}, and no valid "
                               f"{'task' if not self.tasks else 'condition'} is left")

    def skipped_line(self) -> str:
        """One line naming what ``--skip-invalid`` left out ('' if nothing)."""
        parts = []
        if self.skipped_tasks:
            parts.append(f"{len(self.skipped_tasks)} invalid task(s): {', '.join(self.skipped_tasks)}")
        if self.skipped_conditions:
            parts.append(f"{len(self.skipped_conditions)} invalid set(s): {', '.join(self.skipped_conditions)}")
        return f"skipped {' and '.join(parts)} (`harness validate` lists the problems)" if parts else ""

    def _hint(self) -> str:
        what = []
        if self.bad_tasks:
            n = len(self.bad_tasks) + len(self.tasks)
            what.append(f"{len(self.bad_tasks)} of {n} tasks ({', '.join(sorted(self.bad_tasks))})")
        if self.bad_conditions:
            what.append(f"{len(self.bad_conditions)} set(s) ({', '.join(sorted(self.bad_conditions))})")
        if self.fatal:
            also = f"; also invalid: {' and '.join(what)}" if what else ""
            return f"nothing was run: fix the instruction file(s) above{also}"
        verb = "is" if len(self.bad_tasks) + len(self.bad_conditions) == 1 else "are"
        empty = [k for k, bad, left in (("task", self.bad_tasks, self.tasks),
                                        ("condition", self.bad_conditions, self.conditions)) if bad and not left]
        if empty:  # --skip-invalid would leave nothing to run: do not offer it
            return (f"nothing was run: {' and '.join(what)} {verb} invalid; fix them (no valid "
                    f"{' and no valid '.join(empty)} is left to run)")
        rest = []
        if self.bad_tasks:
            rest.append(f"the other {len(self.tasks)} task(s)")
        if self.bad_conditions:
            rest.append(f"the other {len(self.conditions)} condition(s)")
        verb = "is" if len(self.bad_tasks) + len(self.bad_conditions) == 1 else "are"
        return (f"nothing was run: {' and '.join(what)} {verb} invalid; fix them, or add --skip-invalid to run "
                f"{' with '.join(rest)}")


def check_inputs(
    registry: TaskRegistry,
    task_names: list[str] | None,
    condition_names: list[str] | None,
    specs: Sequence[ModelSpec],
    *,
    set_task_names: bool = False,
) -> Inputs:
    """Check every selected task's spec, every set and model instruction file, collecting every problem in the
    returned :class:`Inputs` (:meth:`Inputs.settle` raises them). Unknown names raise at once. The tasks' data
    files are checked by :func:`check_task_data` (a run checks those of the tasks it will run).

    ``set_task_names``: also require every task a set names to be in the task folder (``harness validate``); a
    run does not, since a set may name tasks this folder lacks (a set entry that matches no selected task is
    harmless, and a selected task the set says nothing about is named by the run's "skipped" line)."""
    for name in task_names or []:
        if not registry.knows(name):
            registry.get(name)  # raises: unknown, with suggestions (task folders and mteb's registry)
    runnable = [*BUILTIN_CONDITIONS, *list_sets()]  # file names only: a broken set is reported below, not here
    for name in condition_names or []:
        base = split_variant(split_placement(name)[0])[0]
        if not (name.endswith((".yaml", ".yml")) or base in runnable):
            raise unknown("condition", name, runnable, where=str(SETS_DIR))

    inputs = Inputs([], [], {})
    for name in task_names or [*registry.names(), *sorted(set(registry.broken) - set(registry.names()))]:
        problems = Problems()
        with problems.collect():
            inputs.tasks.append(registry.get(name))
        if problems:
            inputs.bad_tasks[name] = problems

    for name in condition_names or runnable:
        problems = Problems()
        with problems.collect():
            base = split_variant(split_placement(name)[0])[0]
            if set_task_names and base not in BUILTIN_CONDITIONS:
                check_set(load_set(base), FileContext(set_path(base)))
            elif condition_names and base not in BUILTIN_CONDITIONS:  # named (or a path) on the command line
                check_set_typos(load_set(base), FileContext(set_path(base)))
            if not condition_names and base not in BUILTIN_CONDITIONS and load_set(base).n_variants:
                continue  # the default leaves out variant sets (files.default_conditions), but checks them
            for cond in expand_conditions([name]):
                if cond not in inputs.conditions:
                    inputs.conditions.append(cond)
        if problems:
            inputs.bad_conditions[name] = problems

    for spec in specs:
        with inputs.fatal.collect():
            inputs.recipes[spec.name] = model_instructions(spec.name)
    return inputs


def check_task_data(inputs: Inputs, tasks: Sequence[Task]) -> None:
    """Check the data files of ``tasks`` (pandas only; the language probe's columns too), recording each task's
    distinct texts per role in ``inputs.texts`` and every problem in ``inputs.bad_tasks``."""
    bad: dict[str, Problems] = {}
    for task in tasks:
        if task.source == "mteb":  # a registry task: refused at once, in one line (never counted as "invalid")
            from harness.run.predictions import supported_types

            if task.type not in supported_types(registry=True):
                raise HarnessError(f"task '{task.name}': mteb's {task.type} tasks cannot run yet (item-level "
                                   f"predictions exist for {', '.join(supported_types(registry=True))})")
            why = task.refusal()  # type: ignore[union-attr]  # e.g. a legacy clustering task
            if why:
                raise HarnessError(why)
            task.ensure_available()  # type: ignore[union-attr]  # uncached data: dataset, revision, how to get it
        problems = Problems()
        with problems.collect():
            inputs.texts[task.name] = task.check_data()
            if getattr(task.spec, "language_probe", None) is not None:
                from harness.run.language_probe import probe_items

                probe_items(task)
        if problems:
            bad[task.name] = problems
    inputs.add_bad_tasks(bad)


def check_tasks_for_mteb(tasks: Sequence[Task]) -> dict[str, Problems]:
    """mteb's own validation of each task's metadata (imports mteb for a spec it has not accepted before): task
    name → its problems."""
    bad: dict[str, Problems] = {}
    for task in tasks:
        problems = Problems()
        with problems.collect():
            task.check_metadata()  # imports mteb only for a spec mteb has not accepted before
        if problems:
            bad[task.name] = problems
    return bad


def redundant(recipe: ModelInstructions, condition: Condition, task: Task) -> bool:
    """True for a cell of an instruction set whose exact prefixes are those of ``none`` or ``format`` for this
    model and task — the set has no instruction for the task (or the recipe withholds it), so the cell would only
    repeat a built-in condition's cell."""
    if condition.instruction_set is None:
        return False
    own = Prompter(recipe, condition).prompts_for(task.name, task.type)
    return any(own == Prompter(recipe, Condition(base)).prompts_for(task.name, task.type)
               for base in (BASELINE, FORMAT_BASELINE))
