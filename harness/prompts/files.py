"""Loading and checking the instruction files: model recipes (``instructions/<org>__<model>.yaml``) and sets
(``instructions/sets/<name>.yaml``). Every failure is one line naming the file, line and field.

Beyond the schema (:mod:`harness.prompts.schema`), a file is checked against the names it may use: harness
task names (sets and recipes), mteb task names and task types (recipes; this needs mteb's registry, so it is done
by ``harness validate`` and the exporter, see :func:`load_model_file`).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import cast, get_args

from harness.core import atomic, mteb_memo
from harness.core.errors import HarnessError, Problems, unknown
from harness.core.offline import CACHE_DIR, PROJECT_ROOT
from harness.core.yamlfile import FileContext, load_validated
from harness.prompts.schema import (
    ASYMMETRIC_TYPES,
    InstructionSet,
    ModelInstructions,
    RolePrompts,
    variant_name,
)
from harness.taskspecs.local import TaskRegistry
from harness.taskspecs.spec import SPEC_FILE

INSTRUCTIONS_DIR = PROJECT_ROOT / "instructions"
SETS_DIR = INSTRUCTIONS_DIR / "sets"
BUILTIN_CONDITIONS = ("none", "format", "official")


# -- names the files may use --------------------------------------------------------------------------------


@functools.cache
def _mteb_names() -> dict[str, object]:
    """mteb's task names (→ type) and task-type names, read once per mteb version and kept in the cache folder
    (``.cache/mteb-names-<version>.json``): checking a recipe's names then costs no mteb import (~4 s)."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("mteb")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    path = CACHE_DIR / f"mteb-names-{version}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and {"tasks", "task_types"} <= set(data):
            return data
    except (OSError, ValueError):
        pass
    from mteb.abstasks.task_metadata import TaskType

    tasks = mteb_memo.every_registry_task()
    data = {"mteb_version": version, "tasks": {t.metadata.name: str(t.metadata.type) for t in tasks},
            "task_types": list(get_args(TaskType))}
    with contextlib.suppress(HarnessError):  # a cache that cannot be written only costs time
        atomic.write_text(path, json.dumps(data, sort_keys=True))
    return data


def mteb_task_types() -> dict[str, str]:
    """Every mteb task name → its type (superseded, private and beta tasks included)."""
    return dict(cast(dict[str, str], _mteb_names()["tasks"]))


def known_task_type_names() -> tuple[str, ...]:
    """mteb's task types (``TaskType``)."""
    return tuple(cast(list[str], _mteb_names()["task_types"]))


def harness_task_types() -> dict[str, str]:
    """Every task folder's name → its type ('' for a folder whose task.yaml is invalid: its name is known, so a
    set naming it is not told the task is unknown; the task's own problems are reported with the task)."""
    root = TaskRegistry.default_root
    h = hashlib.sha256(str(root).encode())
    for spec in sorted(root.glob(f"*/{SPEC_FILE}")):  # the answer is a function of the spec files alone
        with contextlib.suppress(OSError):
            h.update(str(spec).encode() + b"\0" + spec.read_bytes() + b"\0")
    key = h.hexdigest()
    if key not in _TASK_TYPES:  # one parse of every spec per process, not one per instruction file checked
        reg = TaskRegistry(root)
        _TASK_TYPES.clear()
        _TASK_TYPES[key] = {**dict.fromkeys(reg.broken, ""), **{t.name: t.type for t in reg.select(None)}}
    return dict(_TASK_TYPES[key])


_TASK_TYPES: dict[str, dict[str, str]] = {}


def _check_task_name(ctx: FileContext, loc: tuple[str | int, ...], name: str, known: dict[str, str]) -> None:
    if name not in known:
        err = unknown("task", name, known)
        raise ctx.error(loc, str(err)) from None


def _check_task_type(ctx: FileContext, loc: tuple[str | int, ...], name: str) -> None:
    types = known_task_type_names()
    if name not in types:
        raise ctx.error(loc, str(unknown("task type", name, types)))


def _check_tasks(ctx: FileContext, tasks: Mapping[str, RolePrompts | list[RolePrompts]], known: dict[str, str],
                 problems: Problems) -> None:
    """Every task name is known; a symmetric task (STS, bitext) has no 'document' instruction (nor has any of a
    set's variants)."""
    for task, entry in tasks.items():
        with problems.collect():
            _check_task_name(ctx, ("tasks", task), task, known)
            variants = [((i,), rp) for i, rp in enumerate(entry)] if isinstance(entry, list) else [((), entry)]
            for at, rp in variants:
                if rp.document is not None and known[task] and known[task] not in ASYMMETRIC_TYPES:
                    raise ctx.error(
                        ("tasks", task, *at, "document"),
                        f"task '{task}' is {known[task]} (symmetric): both texts take 'query'; remove 'document'",
                    )


def check_model_file(recipe: ModelInstructions, ctx: FileContext) -> None:
    """Checks beyond the schema: file name, task and task-type names, symmetric types, document templates.
    Every problem is reported (one line each), not only the first."""
    problems = Problems()
    path = ctx.path
    expected = instruction_file(recipe.model).name
    if path.parent.resolve() == INSTRUCTIONS_DIR.resolve() and path.name != expected:
        problems.add(ctx.error(("model",), f"'{recipe.model}' belongs in {expected}, not {path.name}"))
    _check_tasks(ctx, recipe.tasks, {**mteb_task_types(), **harness_task_types()}, problems)
    for section, entries in (("task_types", recipe.task_types), ("format_prefixes", recipe.format_prefixes.task_types)):
        for task_type, roles in entries.items():
            loc: tuple[str | int, ...] = (section, task_type) if section == "task_types" else (
                section, "task_types", task_type)
            with problems.collect():
                _check_task_type(ctx, loc, task_type)
                if roles.document is not None and task_type not in ASYMMETRIC_TYPES:
                    raise ctx.error(
                        (*loc, "document"),
                        f"{task_type} is symmetric: both texts take 'query'; remove 'document'",
                    )
    if recipe.instruct_documents and recipe.template.document is None:
        problems.add(ctx.error(("template", "document"), "instruct_documents is true, so documents need a template"))
    if not recipe.instruct_documents:
        for section, entries in (("task_types", recipe.task_types), ("tasks", recipe.tasks)):
            for name, rp in entries.items():
                if rp.document is not None:
                    problems.add(ctx.error(
                        (section, name, "document"),
                        "instruct_documents is false, so documents receive no instruction; remove it",
                    ))
    problems.raise_if_any()


def check_set(s: InstructionSet, ctx: FileContext, known: dict[str, str] | None = None) -> None:
    """An instruction set names task folders or mteb registry tasks (every unknown name is reported)."""
    problems = Problems()
    _check_tasks(ctx, s.tasks, {**mteb_task_types(), **harness_task_types()} if known is None else known, problems)
    problems.raise_if_any()


def check_set_typos(s: InstructionSet, ctx: FileContext, known: dict[str, str] | None = None) -> None:
    """What a run checks of a set it was given: a task name that is not here but close to one that is (a typo:
    ``Temprature…``) is an error with "did you mean"; a name like no task here is allowed (a set may name the
    tasks of another task folder). ``harness validate`` checks every name (:func:`check_set`)."""
    known = harness_task_types() if known is None else known
    problems = Problems()
    for task in s.tasks:
        if task not in known and difflib.get_close_matches(task, list(known), n=1, cutoff=0.8):
            with problems.collect():
                _check_task_name(ctx, ("tasks", task), task, known)
    problems.raise_if_any()


# -- sets and conditions ------------------------------------------------------------------------------------


SETS_PATH_ENV = "HARNESS_SETS_PATH"  # more folders of set files, os.pathsep-separated (``--sets-dir`` adds to it)


def set_dirs() -> list[Path]:
    """Where sets are found by name: ``instructions/sets/``, then every ``--sets-dir`` / ``HARNESS_SETS_PATH``."""
    extra = [Path(p) for p in os.environ.get(SETS_PATH_ENV, "").split(os.pathsep) if p.strip()]
    return list(dict.fromkeys([SETS_DIR, *extra]))


def add_set_dirs(dirs: list[Path]) -> None:
    """``--sets-dir DIR`` (repeatable): set files outside the checkout, found by name (``--conditions mine``)."""
    for d in dirs:
        if not Path(d).is_dir():
            raise HarnessError(f"--sets-dir {d}: no such folder")
    named = [str(Path(d).resolve()) for d in dirs]
    old = [str(p) for p in set_dirs()[1:]]
    os.environ[SETS_PATH_ENV] = os.pathsep.join(dict.fromkeys([*named, *old]))


def set_path(name_or_path: str) -> Path:
    """A set's file: a path ending in .yaml/.yml as given, else ``<dir>/<name>.yaml`` in the first of
    :func:`set_dirs` that has it (``instructions/sets/<name>.yaml`` when none has)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    for d in set_dirs():
        if (d / f"{name_or_path}.yaml").exists():
            return d / f"{name_or_path}.yaml"
    return SETS_DIR / f"{name_or_path}.yaml"


def load_set(name_or_path: str) -> InstructionSet:
    path = set_path(name_or_path)
    if not path.exists():
        if Path(name_or_path).suffix not in (".yaml", ".yml"):
            raise unknown("condition", name_or_path, [*BUILTIN_CONDITIONS, *list_sets()],
                          where=os.pathsep.join(map(str, set_dirs())))
        raise HarnessError(f"condition '{name_or_path}': {path}: no such set file")
    s, ctx = load_validated(path, InstructionSet)
    if s.name != path.stem:  # by name or by path alike: the condition's name is the file's
        raise ctx.error(("name",), f"'{s.name}' must equal the file name '{path.stem}'")
    mixed = s.mixed_entry()
    if mixed:
        raise ctx.error(("tasks", mixed[0]), f"the set gives other tasks lists of variants ({mixed[1]}); make "
                                             "this entry a list too")
    return s


def validate_set(name_or_path: str) -> Path:
    """Load a set and check its task names against the harness tasks; returns its path."""
    path = set_path(name_or_path)
    s = load_set(str(path))
    check_set(s, FileContext(path))
    return path


def list_sets() -> list[str]:
    """The sets found by name, in every folder of :func:`set_dirs` (a name in two folders: the first one's)."""
    return sorted({p.stem for d in set_dirs() for p in d.glob("*.yaml")})


def default_conditions() -> list[str]:
    """What a run with no conditions named runs: the built-in conditions and every set without variants (blog and
    the controls placebo and mismatched). A variant set (paraphrase: 5 more conditions, ~2.5× the statistics of
    aggregate) runs when named: ``--conditions ...,paraphrase``."""
    return [*BUILTIN_CONDITIONS, *(name for name in list_sets() if not load_set(name).n_variants)]


def list_conditions() -> list[str]:
    """Every condition that can run: the built-in ones, then each set — a variant set as its variants
    (``paraphrase#1`` … ``paraphrase#k``)."""
    out = list(BUILTIN_CONDITIONS)
    for name in list_sets():
        n = load_set(name).n_variants
        out += [variant_name(name, k) for k in range(1, n + 1)] if n else [name]
    return out


# -- model files --------------------------------------------------------------------------------------------


def instruction_file(model_name: str) -> Path:
    return INSTRUCTIONS_DIR / f"{model_name.replace('/', '__')}.yaml"


MODEL_FILES_ENV = "HARNESS_INSTRUCTION_FILES"  # model instruction files outside instructions/ (``--instructions``)
_model_field: dict[tuple[str, float], str] = {}


def extra_model_files() -> list[Path]:
    """The files ``--instructions FILE`` named (kept in ``HARNESS_INSTRUCTION_FILES``, so workers see them)."""
    return [Path(p) for p in os.environ.get(MODEL_FILES_ENV, "").split(os.pathsep) if p.strip()]


def _model_of(path: Path) -> str:
    key = (str(path), path.stat().st_mtime)
    if key not in _model_field:
        _model_field[key] = load_validated(path, ModelInstructions)[0].model
    return _model_field[key]


def add_model_file(path: Path) -> str:
    """``--instructions FILE``: a model instruction file anywhere, used for the model its ``model:`` field names
    (before ``instructions/<org>__<model>.yaml``). Checked in full now; returns that model name."""
    if not Path(path).is_file():
        raise HarnessError(f"--instructions {path}: no such file")
    recipe = load_model_file(Path(path))
    named = [str(Path(path).resolve())]
    os.environ[MODEL_FILES_ENV] = os.pathsep.join(dict.fromkeys([*named, *map(str, extra_model_files())]))
    return recipe.model


def model_file(model_name: str) -> Path:
    """The instruction file of ``model_name``: an ``--instructions`` file whose ``model:`` is that name, else
    ``instructions/<org>__<model>.yaml`` (which may not exist)."""
    for path in extra_model_files():
        with contextlib.suppress(OSError, HarnessError):
            if _model_of(path) == model_name:
                return path
    return instruction_file(model_name)


def list_model_files() -> list[Path]:
    return [*sorted(INSTRUCTIONS_DIR.glob("*.yaml")), *(p for p in extra_model_files() if p.is_file())]


def load_model_file(path: Path) -> ModelInstructions:
    """Load and fully check one model file (schema, names, consistency)."""
    recipe, ctx = load_validated(path, ModelInstructions)
    check_model_file(recipe, ctx)
    return recipe


def model_instructions(model_name: str) -> ModelInstructions:
    """The model's recipe from its instruction file, or the harness default (no prefixes, no instructions)."""
    path = model_file(model_name)
    if not path.exists():
        return ModelInstructions(model=model_name)
    recipe = load_model_file(path)
    if recipe.model != model_name:
        raise FileContext(path).error(("model",), f"'{recipe.model}' does not match '{model_name}'")
    return recipe


def recipe_summary(name: str) -> tuple[str, str]:
    """(format prefixes, official instructions) as the model's instruction file states them."""
    path = model_file(name)
    if not path.exists():
        return "none (no instruction file)", "none (no instruction file)"
    try:
        recipe = model_instructions(name)
    except HarnessError as e:
        return f"invalid file: {e}", "invalid file"
    fp = recipe.format_prefixes
    prefixes = " / ".join(f"{role}={p!r}" for role, p in (("query", fp.query), ("document", fp.document)) if p)
    prefixes = prefixes or "none"
    overrides = sorted(getattr(fp, "task_types", None) or {})
    if overrides:
        prefixes += f" (other for {', '.join(overrides)})"
    n_tasks, n_types = len(recipe.tasks), len(recipe.task_types)
    official = f"yes ({n_tasks} tasks, {n_types} task types)" if n_tasks or n_types else "none"
    return prefixes, official
