"""Instruction sets, per-model instruction files and conditions → the exact prefix put before each text.

Files (all YAML, validated with ``extra="forbid"``; a bad file is one line naming the file, line and field):

- ``instructions/sets/<name>.yaml``: a named instruction set (e.g. ``blog``): per task, a query and/or
  document instruction. Applied through the model's instruction template.
- ``instructions/<org>__<model>.yaml``: a model's own recipe (mostly exported from mteb by
  :mod:`harness.export`): format prefixes, instruction template per role, whether documents receive
  instructions, official per-task and per-task-type instructions, and the rule for tasks the model has never
  seen.

Conditions and the prefix each one puts before a text (``side`` is the role, except that both texts of a
symmetric task such as STS or bitext mining take the ``query`` side, because mteb gives them no prompt type):

=============  ==========================================================================================
``none``       nothing: the raw text
``format``     the model's format prefix for (task type, side), e.g. ``query: `` / ``passage: ``
``official``   format prefix + the model's official instruction in its template; the format prefix alone
               where the model has no instruction for that task and side
``<set>``      format prefix + the set's instruction in the model's template; the format prefix alone where
               the set has no instruction for that task and side
=============  ==========================================================================================

Documents get an instruction only when the model's recipe gives documents instructions
(``instruct_documents``); otherwise they keep their format prefix in every instructed condition.

How a format prefix combines with a template: the format prefix comes first, then the template with the
instruction, then the text: ``format + template.format(instruction=...) + text``. Models with an official
template (e5-instruct, Qwen, NV-Embed, EmbeddingGemma's ``task: {instruction} | query: ``) have no separate
format prefix on an instructed side, so this is exactly mteb's string; models without one (e5, nomic, MiniLM)
get the harness default template ``"{instruction} "``, e.g. multilingual-e5-small with an instruction:
``"query: " + "<instruction> " + text``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import HarnessError, unknown
from harness.offline import PROJECT_ROOT
from harness.specfile import read_yaml

INSTRUCTIONS_DIR = PROJECT_ROOT / "instructions"
SETS_DIR = INSTRUCTIONS_DIR / "sets"
Role = Literal["query", "document"]
ROLES: tuple[Role, Role] = ("query", "document")
BUILTIN_CONDITIONS = ("none", "format", "official")
DEFAULT_TEMPLATE = "{instruction} "
# Task types whose texts mteb encodes with a prompt type (query / document). Every other type is symmetric:
# mteb passes no prompt type, and the harness gives both texts the query side.
ASYMMETRIC_TYPES = frozenset({"Retrieval", "Reranking", "InstructionRetrieval", "InstructionReranking"})
T = TypeVar("T", bound=BaseModel)


def side_of(task_type: str, role: Role) -> Role:
    """The side whose prefix a text gets: its role for asymmetric task types, ``query`` for symmetric ones."""
    return role if task_type in ASYMMETRIC_TYPES else "query"


# -- schemas ------------------------------------------------------------------------------------------------


class RolePrompts(BaseModel):
    """Instructions for the two prompt roles. Symmetric tasks (STS) use ``query`` for both texts."""

    model_config = ConfigDict(extra="forbid", strict=True)
    query: str | None = None
    document: str | None = None

    @field_validator("query", "document")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("empty instruction; leave the key out instead")
        return v

    def get(self, role: Role) -> str | None:
        return self.query if role == "query" else self.document


class InstructionSet(BaseModel):
    """A named, user-written instruction set: ``instructions/sets/<name>.yaml``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str
    source: str | None = None
    tasks: dict[str, RolePrompts]


class Template(BaseModel):
    """How an instruction is put before a text, per role; each must contain ``{instruction}``.

    ``document`` is null when the model's recipe never gives documents an instruction.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    query: str = DEFAULT_TEMPLATE
    document: str | None = DEFAULT_TEMPLATE
    origin: str = Field(default="harness default", min_length=1, description="where the template comes from")

    @field_validator("query", "document")
    @classmethod
    def _has_slot(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if "{instruction}" not in v:
            raise ValueError("template must contain '{instruction}'")
        try:
            v.format(instruction="x")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"template has a placeholder other than {{instruction}}: {e}") from None
        return v

    def get(self, role: Role) -> str | None:
        return self.query if role == "query" else self.document


class FormatRoles(BaseModel):
    """Format prefixes of one task type; a missing key falls back to the file's default for that side."""

    model_config = ConfigDict(extra="forbid", strict=True)
    query: str | None = None
    document: str | None = None

    def get(self, role: Role) -> str | None:
        return self.query if role == "query" else self.document


class FormatPrefixes(BaseModel):
    """Prefixes that are input format, not instructions (``query: ``, ``search_document: ``); ``""`` = none.

    ``query`` / ``document`` are the defaults; ``task_types`` overrides them per task type (symmetric task
    types take ``query`` for both texts).
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    query: str = ""
    document: str = ""
    task_types: dict[str, FormatRoles] = {}

    def get(self, task_type: str, side: Role) -> str:
        override = self.task_types.get(task_type)
        value = override.get(side) if override else None
        if value is not None:
            return value
        return self.query if side == "query" else self.document


class Source(BaseModel):
    """Where a recipe comes from: mteb's registry (version + entry) or the model card, or nowhere."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["mteb", "model card", "none"]
    mteb_version: str | None = None
    registry_entry: str | None = None
    registry_revision: str | None = None
    loader: str | None = None
    reference: str | None = None
    prompt_settings: dict[str, Any] = Field(
        default={}, description="mteb's prompt-related loader settings, verbatim (callables by qualified name)"
    )
    builtin_prompts: dict[str, str] | None = Field(
        default=None, description="the model's own sentence-transformers prompts that mteb relies on"
    )
    builtin_prompts_source: str | None = None
    notes: list[str] = []


class UnseenTaskRule(BaseModel):
    """How a task without its own entry (every harness task) gets an instruction."""

    model_config = ConfigDict(extra="forbid", strict=True)
    rule: Literal["task_type", "none"] = Field(
        description="task_type: the model's instruction for the task's type (task_types); none: no instruction"
    )
    derivation: str = Field(min_length=1, description="in words: how the task-type instructions were derived")


class ModelInstructions(BaseModel):
    """A model's own prompting recipe (``instructions/<org>__<model>.yaml``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(min_length=1)
    revision: str | None = None
    source: Source = Source(kind="none", notes=["harness default: no instruction file for this model"])
    template: Template = Template()
    format_prefixes: FormatPrefixes = FormatPrefixes()
    instruct_documents: bool = Field(
        default=True, description="whether documents receive instructions (false: documents stay bare)"
    )
    unseen_task_rule: UnseenTaskRule = UnseenTaskRule(
        rule="task_type", derivation="the model's instruction for the task type (task_types)"
    )
    task_types: dict[str, RolePrompts] = Field(default={}, description="official instructions per task type")
    limitations: list[str] = Field(default=[], description="what of mteb's recipe the harness cannot feed")
    tasks: dict[str, RolePrompts] = Field(
        default={}, description="official per-task instructions; an entry replaces the task-type entry"
    )

    def format_prefix(self, task_type: str, side: Role) -> str:
        return self.format_prefixes.get(task_type, side)

    def official_instruction(self, task: str, task_type: str, side: Role) -> str | None:
        """The model's own instruction for ``task``: its task entry, else (unseen task) the rule's choice."""
        if task in self.tasks:
            return self.tasks[task].get(side)
        if self.unseen_task_rule.rule == "task_type":
            entry = self.task_types.get(task_type)
            return entry.get(side) if entry else None
        return None


# -- loading with line numbers ------------------------------------------------------------------------------


def _node_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """YAML path → 1-based line of its key (mappings) or item (sequences), from the composed node tree."""
    lines: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return lines


class _FileContext:
    """One file's path and line map, to make one-line errors: ``<file>:<line>: field '<a.b>': <message>``."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.lines = _node_lines(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            self.lines = {}

    def line(self, loc: tuple[str | int, ...]) -> int | None:
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None

    def error(self, loc: tuple[str | int, ...], message: str) -> HarnessError:
        line = self.line(loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        field = ".".join(str(p) for p in loc) or "(top level)"
        return HarnessError(f"{where}: field '{field}': {message}")

    def validation_error(self, err: ValidationError) -> HarnessError:
        first = err.errors()[0]
        # drop pydantic's union-member tags such as "literal['a','b']" or "function-after[...]"
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        return self.error(loc, f"{msg}{more}")


def load_validated(path: Path, schema: type[T]) -> tuple[T, _FileContext]:
    """Read ``path`` into ``schema``; every failure is one ``HarnessError`` line with file, line and field."""
    data = read_yaml(path)
    ctx = _FileContext(path)
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return schema.model_validate(data), ctx
    except ValidationError as e:
        raise ctx.validation_error(e) from None


# -- names the files may use --------------------------------------------------------------------------------


@functools.cache
def mteb_task_types() -> dict[str, str]:
    """Every mteb task name → its type (superseded, private and beta tasks included)."""
    from harness.offline import configure

    configure()
    import logging
    import warnings

    import mteb

    quiet = logging.getLogger("mteb")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tasks = mteb.get_tasks(exclude_superseded=False, exclude_private=False, exclude_beta=False)
    finally:
        quiet.setLevel(level)
    return {t.metadata.name: str(t.metadata.type) for t in tasks}


@functools.cache
def known_task_type_names() -> tuple[str, ...]:
    from typing import get_args

    from harness.offline import configure

    configure()
    from mteb.abstasks.task_metadata import TaskType

    return tuple(get_args(TaskType))


def harness_task_types() -> dict[str, str]:
    from harness.tasks import TaskRegistry

    reg = TaskRegistry()
    return {t.name: t.type for t in reg.select(None)}


def _check_task_name(ctx: _FileContext, loc: tuple[str | int, ...], name: str, known: dict[str, str]) -> None:
    if name not in known:
        err = unknown("task", name, known)
        raise ctx.error(loc, str(err)) from None


def _check_task_type(ctx: _FileContext, loc: tuple[str | int, ...], name: str) -> None:
    types = known_task_type_names()
    if name not in types:
        raise ctx.error(loc, str(unknown("task type", name, types)))


def _check_tasks(ctx: _FileContext, tasks: dict[str, RolePrompts], known: dict[str, str]) -> None:
    """Every task name is known; a symmetric task (STS, bitext) has no 'document' instruction."""
    for task, rp in tasks.items():
        _check_task_name(ctx, ("tasks", task), task, known)
        if rp.document is not None and known[task] not in ASYMMETRIC_TYPES:
            raise ctx.error(
                ("tasks", task, "document"),
                f"task '{task}' is {known[task]} (symmetric): both texts take 'query'; remove 'document'",
            )


def check_model_file(recipe: ModelInstructions, ctx: _FileContext) -> None:
    """Checks beyond the schema: file name, task and task-type names, symmetric types, document templates."""
    path = ctx.path
    expected = instruction_file(recipe.model).name
    if path.parent.resolve() == INSTRUCTIONS_DIR.resolve() and path.name != expected:
        raise ctx.error(("model",), f"'{recipe.model}' belongs in {expected}, not {path.name}")
    _check_tasks(ctx, recipe.tasks, {**mteb_task_types(), **harness_task_types()})
    for section, entries in (("task_types", recipe.task_types), ("format_prefixes", recipe.format_prefixes.task_types)):
        for task_type, roles in entries.items():
            loc: tuple[str | int, ...] = (section, task_type) if section == "task_types" else (
                section, "task_types", task_type)
            _check_task_type(ctx, loc, task_type)
            if roles.document is not None and task_type not in ASYMMETRIC_TYPES:
                raise ctx.error(
                    (*loc, "document"),
                    f"{task_type} is symmetric: both texts take 'query'; remove 'document'",
                )
    if recipe.instruct_documents and recipe.template.document is None:
        raise ctx.error(("template", "document"), "instruct_documents is true, so documents need a template")
    if not recipe.instruct_documents:
        for section, entries in (("task_types", recipe.task_types), ("tasks", recipe.tasks)):
            for name, rp in entries.items():
                if rp.document is not None:
                    raise ctx.error(
                        (section, name, "document"),
                        "instruct_documents is false, so documents receive no instruction; remove it",
                    )


def check_set(s: InstructionSet, ctx: _FileContext, known: dict[str, str] | None = None) -> None:
    """An instruction set names harness tasks only."""
    _check_tasks(ctx, s.tasks, harness_task_types() if known is None else known)


# -- sets and conditions ------------------------------------------------------------------------------------


def load_set(name_or_path: str) -> InstructionSet:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SETS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise unknown("condition", name_or_path, list_conditions(), where=str(SETS_DIR))
    s, ctx = load_validated(path, InstructionSet)
    if path.parent == SETS_DIR and s.name != path.stem:
        raise ctx.error(("name",), f"'{s.name}' must equal the file name '{path.stem}'")
    return s


def validate_set(name_or_path: str) -> Path:
    """Load a set and check its task names against the harness tasks; returns its path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SETS_DIR / f"{name_or_path}.yaml"
    s = load_set(str(path))
    check_set(s, _FileContext(path))
    return path


def list_sets() -> list[str]:
    return sorted(p.stem for p in SETS_DIR.glob("*.yaml"))


def list_conditions() -> list[str]:
    return [*BUILTIN_CONDITIONS, *list_sets()]


@dataclass(frozen=True)
class Condition:
    """A named way of prompting: built-in (none/format/official) or an instruction set."""

    name: str
    instruction_set: InstructionSet | None = None

    @classmethod
    def parse(cls, name: str) -> Condition:
        if name in BUILTIN_CONDITIONS:
            return cls(name)
        s = load_set(name)
        return cls(s.name, s)


@dataclass(frozen=True)
class Prompter:
    """Resolves the exact prefix for (task, role) under one condition for one model."""

    model: ModelInstructions
    condition: Condition

    def instruction(self, task: str, task_type: str, role: Role) -> str | None:
        """The instruction the condition gives this text, or None (documents may be withheld by the recipe)."""
        side = side_of(task_type, role)
        c = self.condition
        if c.instruction_set is not None:
            rp = c.instruction_set.tasks.get(task)
            instr = rp.get(side) if rp else None
        elif c.name == "official":
            instr = self.model.official_instruction(task, task_type, side)
        else:
            return None
        if side == "document" and not self.model.instruct_documents:
            return None
        return instr

    def prefix(self, task: str, task_type: str, role: Role) -> str:
        if self.condition.name == "none":
            return ""
        side = side_of(task_type, role)
        fmt = self.model.format_prefix(task_type, side)
        instr = self.instruction(task, task_type, role)
        if instr is None:
            return fmt
        template = self.model.template.get(side)
        if template is None:  # unreachable for validated files: instruct_documents requires a template
            raise HarnessError(f"{self.model.model}: no {side} template for instruction {instr!r}")
        return fmt + template.format(instruction=instr)

    def prompts_for(self, task: str, task_type: str) -> dict[str, str]:
        return {r: self.prefix(task, task_type, r) for r in ROLES}


def prompts_sha256(prompts: dict[str, dict[str, str]]) -> str:
    """Stable hash of the exact prefixes of a cell ({task: {role: prefix}})."""
    return hashlib.sha256(json.dumps(prompts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# -- model files --------------------------------------------------------------------------------------------


def instruction_file(model_name: str) -> Path:
    return INSTRUCTIONS_DIR / f"{model_name.replace('/', '__')}.yaml"


def list_model_files() -> list[Path]:
    return sorted(INSTRUCTIONS_DIR.glob("*.yaml"))


def load_model_file(path: Path) -> ModelInstructions:
    """Load and fully check one model file (schema, names, consistency)."""
    recipe, ctx = load_validated(path, ModelInstructions)
    check_model_file(recipe, ctx)
    return recipe


def model_instructions(model_name: str) -> ModelInstructions:
    """The model's recipe from its instruction file, or the harness default (no prefixes, no instructions)."""
    path = instruction_file(model_name)
    if not path.exists():
        return ModelInstructions(model=model_name)
    recipe = load_model_file(path)
    if recipe.model != model_name:
        raise _FileContext(path).error(("model",), f"'{recipe.model}' does not match '{model_name}'")
    return recipe
