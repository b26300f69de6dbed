"""``harness validate PATH...``: the files and folders a user names, each checked exactly as a committed one."""

from __future__ import annotations

from pathlib import Path

from harness.core.errors import Problems
from harness.core.yamlfile import FileContext, read_yaml
from harness.prompts import files as instructions
from harness.run import preflight
from harness.taskspecs.local import LocalTask
from harness.taskspecs.spec import SPEC_FILE


def validate_paths(paths: list[Path]) -> tuple[list[str], Problems]:
    """``harness validate PATH...``: task folders (or a ``task.yaml``), set files and model instruction files, and
    folders holding any of them — each checked exactly as a committed one (a set: task names with "did you mean",
    ``name:`` = file stem; a task: spec, every data file, mteb's metadata check)."""
    problems, checked = Problems(), []
    task_dirs: list[Path] = []
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            problems.add(f"{path}: no such file or folder")
        elif path.is_dir() and (path / SPEC_FILE).exists():
            task_dirs.append(path)
        elif path.is_dir():
            task_dirs += sorted(p.parent for p in path.glob(f"*/{SPEC_FILE}"))
            files += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not any(path.glob(f"*/{SPEC_FILE}")) and not any(path.glob("*.y*ml")):
                problems.add(f"{path}: holds no task folder (*/{SPEC_FILE}), set or instruction file (*.yaml)")
        elif path.name == SPEC_FILE:
            task_dirs.append(path.parent)
        elif path.suffix in (".yaml", ".yml"):
            files.append(path)
        else:
            problems.add(f"{path}: not a task folder, task.yaml, set or instruction file (*.yaml)")
    tasks = []
    for folder in dict.fromkeys(task_dirs):
        with problems.collect():
            tasks.append(LocalTask(folder))
    for task in tasks:
        before = len(problems)
        with problems.collect():
            task.check_data()
        for bad in preflight.check_tasks_for_mteb([task]).values():
            problems.add_all(bad)
        if len(problems) == before:
            checked.append(str(task.spec_path))
    for path in dict.fromkeys(files):
        before = len(problems)
        with problems.collect():
            body = read_yaml(path)
            if isinstance(body, dict) and "model" in body:  # a model's instruction file
                instructions.load_model_file(path)
            else:
                instructions.check_set(instructions.load_set(str(path)), FileContext(path))
        if len(problems) == before:
            checked.append(str(path))
    return checked, problems
