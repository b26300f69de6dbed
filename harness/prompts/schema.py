"""The schemas of the instruction files users write, and the vocabulary of roles and sides.

- ``instructions/sets/<name>.yaml``: :class:`InstructionSet`, a named set of per-task instructions;
- ``instructions/<org>__<model>.yaml``: :class:`ModelInstructions`, a model's own recipe (format prefixes,
  template per role, official per-task and per-task-type instructions, the rule for unseen tasks).

All validated with ``extra="forbid"``; :mod:`harness.prompts.files` loads them with one-line errors.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["query", "document"]
ROLES: tuple[Role, Role] = ("query", "document")
DEFAULT_TEMPLATE = "{instruction} "
# Task types whose texts mteb encodes with a prompt type (query / document). Every other type is symmetric:
# mteb passes no prompt type, and the harness gives both texts the query side.
ASYMMETRIC_TYPES = frozenset({"Retrieval", "Reranking", "InstructionRetrieval", "InstructionReranking"})


def side_of(task_type: str, role: Role) -> Role:
    """The side whose prefix a text gets: its role for asymmetric task types, ``query`` for symmetric ones."""
    return role if task_type in ASYMMETRIC_TYPES else "query"



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
