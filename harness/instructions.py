"""Instruction sets, per-model instruction files and conditions → the exact prefix put before each text.

Files (all YAML, validated with ``extra="forbid"``):

- ``instructions/sets/<name>.yaml``: a named instruction set (e.g. ``blog``): per task, a query and/or
  document instruction. Applied through the model's instruction template.
- ``instructions/<org>__<model>.yaml``: a model's own recipe: format prefixes, instruction template,
  whether documents get instructions, official per-task and per-task-type instructions.

Conditions: ``none`` (text as given), ``format`` (format prefixes only), ``official`` (the model's own
instructions in its template) and any instruction set by name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.errors import HarnessError, unknown
from harness.offline import PROJECT_ROOT
from harness.specfile import load

INSTRUCTIONS_DIR = PROJECT_ROOT / "instructions"
SETS_DIR = INSTRUCTIONS_DIR / "sets"
Role = Literal["query", "document"]
ROLES: tuple[Role, Role] = ("query", "document")
BUILTIN_CONDITIONS = ("none", "format", "official")
DEFAULT_TEMPLATE = "{instruction} "


class RolePrompts(BaseModel):
    """Instructions (or prefixes) for the two prompt roles. Symmetric tasks (STS) use ``query`` for both texts."""

    model_config = ConfigDict(extra="forbid")
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
    """How an instruction is put before a text; must contain ``{instruction}``."""

    model_config = ConfigDict(extra="forbid")
    query: str = DEFAULT_TEMPLATE
    document: str = DEFAULT_TEMPLATE

    @field_validator("query", "document")
    @classmethod
    def _has_slot(cls, v: str) -> str:
        if "{instruction}" not in v:
            raise ValueError("template must contain '{instruction}'")
        try:
            v.format(instruction="x")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"template has a placeholder other than {{instruction}}: {e}") from None
        return v

    def get(self, role: Role) -> str:
        return self.query if role == "query" else self.document


class ModelInstructions(BaseModel):
    """A model's own prompting recipe (``instructions/<org>__<model>.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    revision: str | None = None
    source: str = "harness default: no format prefixes, no official instructions"
    template: Template = Template()
    format_prefixes: RolePrompts = RolePrompts()
    instruct_documents: bool = Field(
        default=True, description="whether documents receive instructions (false: documents stay bare)"
    )
    tasks: dict[str, RolePrompts] = {}
    task_types: dict[str, RolePrompts] = {}
    unseen_task_rule: str = "task type instruction"


def load_set(name_or_path: str) -> InstructionSet:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SETS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise unknown("condition", name_or_path, list_conditions(), where=str(SETS_DIR))
    s = load(path, InstructionSet)
    if path.parent == SETS_DIR and s.name != path.stem:
        raise HarnessError(f"{path}: field 'name': '{s.name}' must equal the file name '{path.stem}'")
    return s


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
        c = self.condition
        if c.instruction_set is not None:
            rp = c.instruction_set.tasks.get(task)
            return rp.get(role) if rp else None
        if c.name == "official":
            rp = self.model.tasks.get(task) or self.model.task_types.get(task_type)
            return rp.get(role) if rp else None
        return None

    def prefix(self, task: str, task_type: str, role: Role) -> str:
        if self.condition.name == "none":
            return ""
        fmt = self.model.format_prefixes.get(role) or ""
        if self.condition.name == "format":
            return fmt
        if role == "document" and not self.model.instruct_documents:
            return fmt
        instr = self.instruction(task, task_type, role)
        if instr is None:
            return fmt
        return self.model.template.get(role).format(instruction=instr)

    def prompts_for(self, task: str, task_type: str) -> dict[Role, str]:
        return {r: self.prefix(task, task_type, r) for r in ROLES}


def prompts_sha256(prompts: dict[str, dict[str, str]]) -> str:
    """Stable hash of the exact prefixes of a cell ({task: {role: prefix}})."""
    return hashlib.sha256(json.dumps(prompts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def instruction_file(model_name: str) -> Path:
    return INSTRUCTIONS_DIR / f"{model_name.replace('/', '__')}.yaml"


def model_instructions(model_name: str) -> ModelInstructions:
    """The model's recipe from its instruction file, or the harness default (no prefixes, no instructions)."""
    path = instruction_file(model_name)
    if not path.exists():
        return ModelInstructions(model=model_name)
    recipe = load(path, ModelInstructions)
    if recipe.model != model_name:
        raise HarnessError(f"{path}: field 'model': '{recipe.model}' does not match '{model_name}'")
    return recipe
