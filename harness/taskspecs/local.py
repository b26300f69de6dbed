"""Tasks as data: a task folder (``tasks/<Name>/task.yaml`` + data files) and the registry of all of them.

A :class:`LocalTask` knows its spec (:mod:`harness.taskspecs.spec`), its data files and their content hash (the
task's revision: a changed file is a new revision and is never answered with an old result); it loads its data
(:mod:`harness.taskspecs.data`) and builds its mteb task (:mod:`harness.taskspecs.mteb_task`) only when asked,
so listing tasks or checking which cells are done never imports mteb.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from harness.core import mteb_memo
from harness.core.errors import HarnessError, Problems, unknown
from harness.taskspecs.registry_tasks import RegistryTask, lookup, say_clash, text_task_names
from harness.taskspecs.spec import SPEC_FILE, TASKS_DIR, TaskSpec, data_files, read_spec

METADATA_MEMO = "task-metadata-accepted"  # spec + mapping hash → True: mteb's TaskMetadata accepted it


class LocalTask:
    """One task folder: its validated spec, data, content hash and the mteb task built from them."""

    source = "local"

    def __init__(self, folder: Path):
        self.folder = folder
        self.spec_path = folder / SPEC_FILE
        self.spec: TaskSpec = read_spec(folder)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def task_dir(self) -> str:
        """Where the task was read (recorded in the sidecar; stale checks compare the folder there)."""
        return str(self.folder.resolve())

    def data_files(self) -> list[Path]:
        return data_files(self.folder, self.spec)

    @cached_property
    def data_hash(self) -> str:
        """sha256 over the spec and every data file: the task's revision."""
        h = hashlib.sha256()
        for p in [self.spec_path, *self.data_files()]:
            try:
                h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
            except FileNotFoundError:
                raise HarnessError(f"{p}: data file not found") from None
            except OSError as e:
                raise HarnessError(f"{p}: cannot read ({e.__class__.__name__})") from None
        return h.hexdigest()

    def check_data(self) -> dict[str, list[str]]:
        """Check every data file (pandas only, no mteb); the distinct texts the task feeds per role."""
        from harness.taskspecs.data import check_data

        return check_data(self.folder, self.spec)

    def load_dataset(self) -> dict[str, dict[str, Any]]:
        """{subset: {split: data}} in the shape the mteb task type expects."""
        from harness.taskspecs.data import load_dataset

        return load_dataset(self.folder, self.spec)

    def metadata(self) -> Any:
        """mteb's ``TaskMetadata`` for this task (imports mteb)."""
        from harness.taskspecs.mteb_task import metadata

        return metadata(self.spec, self.data_hash, self.spec_path)

    def check_metadata(self) -> None:
        """Raise what mteb's ``TaskMetadata`` rejects in this spec. A spec mteb accepted before (same spec bytes,
        same field mapping in :mod:`.mteb_task`, same mteb version) is not checked again, so ``harness validate``
        imports mteb only for a spec that changed."""
        h = hashlib.sha256(self.spec_path.read_bytes())
        h.update((Path(__file__).parent / "mteb_task.py").read_bytes())
        key = h.hexdigest()
        if mteb_memo.read(METADATA_MEMO).get(key) is True:
            return
        self.metadata()
        mteb_memo.write(METADATA_MEMO, {**mteb_memo.read(METADATA_MEMO), key: True})

    @cached_property
    def mteb_task_class(self) -> Any:
        from harness.taskspecs.mteb_task import task_class

        return task_class(self.spec, self.metadata(), self.load_dataset)

    def mteb_task(self) -> Any:
        """A loaded mteb task. Evaluated with a ``prediction_folder``, it keeps mteb's item-level predictions in
        ``task.item_predictions`` ({subset: {split: predictions}}) instead of writing them to that folder."""
        task = self.mteb_task_class()
        task.item_predictions = {}
        task.load_data()
        return task


Task = LocalTask | RegistryTask  # what a cell runs: a task folder or an mteb registry task

TASKS_PATH_ENV = "HARNESS_TASKS_PATH"  # more folders of task folders, os.pathsep-separated (like PATH)


def extra_task_dirs() -> list[Path]:
    """The folders named by ``HARNESS_TASKS_PATH`` (``--tasks-dir`` adds to it, so workers inherit it)."""
    return [Path(p) for p in os.environ.get(TASKS_PATH_ENV, "").split(os.pathsep) if p.strip()]


def add_task_dirs(dirs: list[Path]) -> None:
    """``--tasks-dir DIR`` (repeatable): task folders outside the checkout. Each must be a folder; they are searched
    after the checkout's ``tasks/`` and before the folders ``HARNESS_TASKS_PATH`` already names."""
    for d in dirs:
        if not Path(d).is_dir():
            raise HarnessError(f"--tasks-dir {d}: no such folder")
    named = [str(Path(d).resolve()) for d in dirs]
    os.environ[TASKS_PATH_ENV] = os.pathsep.join(dict.fromkeys([*named, *map(str, extra_task_dirs())]))


class TaskRegistry:
    """All task folders under ``root``; unknown names suggest.

    A folder whose ``task.yaml`` is invalid (or names a task another folder has) does not stop the others: it is
    kept in :attr:`broken` with its problems, asking for it by name raises them, and every command that works
    on all tasks (``run``, ``validate``, ``ls tasks``) names it instead of skipping it silently."""

    default_root: ClassVar[Path] = TASKS_DIR

    def __init__(self, root: Path | None = None, *, registry_lookup: bool = True):
        self.root = root or self.default_root
        self.registry_lookup = registry_lookup  # names no folder has are looked up in mteb's registry
        # the checkout's tasks/ (or ``root``), then every --tasks-dir / HARNESS_TASKS_PATH folder
        self.roots = [self.root] if root else list(dict.fromkeys([self.root, *extra_task_dirs()]))
        self._tasks: dict[str, LocalTask] = {}
        self.broken: dict[str, HarnessError] = {}  # folder name → its problems
        specs = [p for r in self.roots for p in sorted(r.glob(f"*/{SPEC_FILE}"))]
        for spec in specs:
            try:
                task = LocalTask(spec.parent)
            except HarnessError as e:
                self.broken[spec.parent.name] = e
                continue
            if task.name in self._tasks:
                self.broken[spec.parent.name] = HarnessError(f"{spec}: duplicate task name '{task.name}'")
                continue
            self._tasks[task.name] = task

    @property
    def where(self) -> str:
        """The folders searched, for messages."""
        return os.pathsep.join(str(r) for r in self.roots)

    def names(self) -> list[str]:
        """The valid tasks' names (see :attr:`broken` for the others)."""
        return sorted(self._tasks)

    def get(self, name: str) -> Task:
        """The task folder of that name; else mteb's registry task of that name (text tasks only,
        :mod:`harness.taskspecs.registry_tasks`); else an unknown-task error with suggestions. A folder named like a
        registry task wins (said once)."""
        if name in self.broken and name not in self._tasks:
            raise self.broken[name]
        if name in self._tasks:
            if self.registry_lookup:
                say_clash(name)
            return self._tasks[name]
        found = lookup(name) if self.registry_lookup else None
        if found is None:
            local = [*self._tasks, *self.broken]
            extra = text_task_names() if self.registry_lookup else []
            close = difflib.get_close_matches(name, [*local, *extra], n=3, cutoff=0.5)
            raise unknown("task", name, close or local,
                          where=self.where + (" or mteb's registry (text tasks)" if self.registry_lookup else ""))
        return found

    def knows(self, name: str) -> bool:
        """A task folder (valid or not) or, with registry lookup, an mteb registry task of that name."""
        if name in self._tasks or name in self.broken:
            return True
        return self.registry_lookup and lookup(name) is not None

    def select(self, names: list[str] | None) -> list[Task]:
        """The named tasks (all valid task folders for None); an unknown or broken name raises."""
        return [self.get(n) for n in names] if names else [self._tasks[n] for n in self.names()]

    def select_checked(self, names: list[str] | None, problems: Problems) -> list[Task]:
        """Like :meth:`select`, but every unknown or broken task's problems go to ``problems`` (for None: every
        broken folder's) and the rest are returned."""
        wanted = names or [*self.names(), *sorted(set(self.broken) - set(self._tasks))]
        out = []
        for name in wanted:
            with problems.collect():
                out.append(self.get(name))
        return out
