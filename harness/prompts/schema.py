"""The schemas of the instruction files users write, and the vocabulary of roles and sides.

- ``instructions/sets/<name>.yaml``: :class:`InstructionSet`, a named set of per-task instructions;
- ``instructions/<org>__<model>.yaml``: :class:`ModelInstructions`, a model's own recipe (format prefixes,
  template per role, official per-task and per-task-type instructions, the rule for unseen tasks).

All validated with ``extra="forbid"``; :mod:`harness.prompts.files` loads them with one-line errors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

Role = Literal["query", "document"]
ROLES: tuple[Role, Role] = ("query", "document")
DEFAULT_TEMPLATE = "{instruction} "
# Task types whose texts mteb encodes with a prompt type (query / document). Every other type is symmetric:
# mteb passes no prompt type, and the harness gives both texts the query side.
ASYMMETRIC_TYPES = frozenset({"Retrieval", "Reranking", "InstructionRetrieval", "InstructionReranking"})


VARIANT_SEP = "#"  # condition name of a set's variant k: "<set>#<k>", e.g. "paraphrase#3" (1-based)


def variant_name(set_name: str, k: int) -> str:
    return f"{set_name}{VARIANT_SEP}{k}"


def split_variant(condition: str) -> tuple[str, int | None]:
    """``"paraphrase#3"`` → ``("paraphrase", 3)``; a name without a variant → ``(name, None)``; a malformed
    variant (``"x#"``, ``"x#two"``, ``"x#0"``) → ``(condition, None)``."""
    base, sep, k = condition.rpartition(VARIANT_SEP)
    if sep and base and k.isdigit() and int(k) >= 1 and str(int(k)) == k:
        return base, int(k)
    return condition, None


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


def _entry_kind(value: Any) -> str:
    return "entry[variants]" if isinstance(value, list) else "entry[one]"


# A set's task entry: one instruction per role, or a list of variants (each its own condition ``<set>#<k>``). The
# tags contain "[" so that one-line errors leave them out of the field path (harness.core.yamlfile).
TaskEntry = Annotated[
    Annotated[RolePrompts, Tag("entry[one]")]
    | Annotated[list[RolePrompts], Field(min_length=1), Tag("entry[variants]")],
    Discriminator(_entry_kind),
]


class InstructionSet(BaseModel):
    """A named, user-written instruction set: ``instructions/sets/<name>.yaml``.

    A task entry is one instruction per role, or a *list* of variants (e.g. paraphrases). A set with lists is a
    variant set: every task entry must then be a list, and variant *k* (1-based) is its own condition
    ``<name>#<k>`` (:meth:`variant`); a task whose list is shorter than *k* is not in that variant.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str
    source: str | None = None
    tasks: dict[str, TaskEntry]

    def mixed_entry(self) -> tuple[str, str] | None:
        """(a task with one entry, a task with a list) when the set mixes both (not allowed), else None."""
        lists = [t for t, e in self.tasks.items() if isinstance(e, list)]
        plain = [t for t, e in self.tasks.items() if not isinstance(e, list)]
        return (plain[0], lists[0]) if lists and plain else None

    @property
    def n_variants(self) -> int:
        """0 for a plain set; else the longest list of variants."""
        return max((len(e) for e in self.tasks.values() if isinstance(e, list)), default=0)

    def entry(self, task: str) -> RolePrompts | None:
        """The plain set's instructions for ``task`` (None: the set says nothing about it)."""
        entry = self.tasks.get(task)
        if isinstance(entry, list):
            raise ValueError(f"set '{self.name}' has variants; pick one with variant(k)")
        return entry

    def variant(self, k: int) -> InstructionSet:
        """Variant ``k`` (1-based) of a variant set, as a plain set: each task's k-th entry; tasks with fewer than
        ``k`` variants are left out (the one rule for "not in this variant")."""
        if not 1 <= k <= self.n_variants:
            raise ValueError(f"set '{self.name}' has variants 1..{self.n_variants}, not {k}")
        tasks = {t: e[k - 1] for t, e in self.tasks.items() if isinstance(e, list) and len(e) >= k}
        return self.model_copy(update={"tasks": tasks})


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
