"""Conditions and the exact prefix each one puts before a text (``side`` is the role, except that both texts of a
symmetric task such as STS or bitext mining take the ``query`` side, because mteb gives them no prompt type):

=============  ==========================================================================================
``none``       nothing: the raw text
``format``     the model's format prefix for (task type, side), e.g. ``query: `` / ``passage: ``
``official``   format prefix + the model's official instruction in its template; the format prefix alone
               where the model has no instruction for that task and side
``<set>``      format prefix + the set's instruction in the model's template; the format prefix alone where
               the set has no instruction for that task and side
``<set>#<k>``  the same with variant k (1-based) of a variant set (task entries are lists, e.g. paraphrases);
               the plain name ``<set>`` on the command line means all its variants (:func:`expand_conditions`)
``<c>@query``  placement as a controlled factor (``<c>`` a set or a set's variant): the instruction on queries
               only; documents keep their format prefix whatever the model's recipe says
``<c>@both``   the instruction on both sides: documents get the set's document instruction (its query
               instruction where it has none) in the model's document template (its query template where the
               recipe has none). Symmetric tasks (STS, bitext) have one side: no cells (:meth:`Condition.applies`)
=============  ==========================================================================================

Control conditions are sets like any other (``instructions/sets/``): ``placebo`` (one instruction unrelated to
every task), ``mismatched`` (each task gets another kind of task's instruction) and ``paraphrase`` (variants
``paraphrase#1`` … of each task's ``blog`` instruction).

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

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import HarnessError, unknown
from harness.prompts.files import BUILTIN_CONDITIONS, SETS_DIR, list_conditions, list_sets, load_set, set_path
from harness.prompts.schema import (
    ASYMMETRIC_TYPES,
    ROLES,
    InstructionSet,
    ModelInstructions,
    Role,
    side_of,
    split_variant,
    variant_name,
)

BASELINE = "none"
FORMAT_BASELINE = "format"  # second baseline, for models whose `format` condition adds prefixes
PLACEMENT_SEP = "@"
PLACEMENTS = ("query", "both")  # `<set>@query`, `<set>@both`


def split_placement(condition: str) -> tuple[str, str | None]:
    """``"blog@both"`` → ``("blog", "both")``; a name without a placement → ``(name, None)``."""
    base, sep, where = condition.rpartition(PLACEMENT_SEP)
    if sep and base and where in PLACEMENTS:
        return base, where
    return condition, None


def placement_name(condition: str, where: str) -> str:
    return f"{condition}{PLACEMENT_SEP}{where}"


def condition_order(condition: str) -> tuple[int, str, int]:
    """none, format, official first (the built-in conditions), then instruction sets by name, a set's variants in
    numeric order (``paraphrase#2`` before ``paraphrase#10``)."""
    if condition in BUILTIN_CONDITIONS:
        return BUILTIN_CONDITIONS.index(condition), "", 0
    plain, where = split_placement(condition)
    base, k = split_variant(plain)
    return len(BUILTIN_CONDITIONS), base, (k or 0) * 3 + (PLACEMENTS.index(where) + 1 if where else 0)


def order_conditions(conditions: set[str] | list[str]) -> list[str]:
    """Conditions in :func:`condition_order`, each once."""
    return sorted(set(conditions), key=condition_order)


@dataclass(frozen=True)
class Condition:
    """A named way of prompting: built-in (none/format/official) or an instruction set."""

    name: str
    instruction_set: InstructionSet | None = None
    source: str | None = field(default=None, compare=False)  # the set's file (absolute path), recorded with results
    placement: str | None = None  # "query" | "both": the placement factor (`<set>@query`, `<set>@both`)

    @classmethod
    def parse(cls, name: str) -> Condition:
        """A built-in condition, a plain set (name or path to a YAML file), one variant ``<set>#<k>``, or either
        with a placement (``blog@query``, ``paraphrase#2@both``)."""
        plain, where = split_placement(name)
        if where is not None:
            if plain in BUILTIN_CONDITIONS:
                raise HarnessError(f"condition '{name}': placement applies to instruction sets, not '{plain}'")
            inner = cls.parse(plain)
            return cls(placement_name(inner.name, where), inner.instruction_set, inner.source, where)
        if name in BUILTIN_CONDITIONS:
            return cls(name)
        base, k = split_variant(name)
        s = _load(name, base)
        source = _source(base)
        if k is None:
            if s.n_variants:
                raise HarnessError(f"condition '{name}': set '{s.name}' has {s.n_variants} variants; name one "
                                   f"({variant_name(s.name, 1)} … {variant_name(s.name, s.n_variants)})")
            return cls(s.name, s, source)
        if not s.n_variants:
            raise HarnessError(f"condition '{name}': set '{s.name}' has no variants; use '{s.name}'")
        if k > s.n_variants:
            raise HarnessError(f"condition '{name}': set '{s.name}' has variants 1..{s.n_variants}")
        return cls(variant_name(s.name, k), s.variant(k), source)

    @property
    def set_name(self) -> str | None:
        """The instruction set's name (a variant's set), or None for a built-in condition."""
        return None if self.instruction_set is None else self.instruction_set.name

    def covers(self, task: str) -> bool:
        """Whether the condition says anything about ``task``: built-in conditions always do; a set (or a set's
        variant) only for the tasks it names — for a variant, only where the task's list is long enough."""
        return self.instruction_set is None or self.instruction_set.entry(task) is not None

    def applies(self, task_type: str) -> bool:
        """Whether the condition has cells for a task of this type: a placement condition only for asymmetric
        tasks (STS and bitext have one side, so ``@query`` and ``@both`` would repeat the plain set)."""
        return self.placement is None or task_type in ASYMMETRIC_TYPES


def _source(base: str) -> str:
    """The set file's absolute path, recorded with each cell (stale checks compare the cell with that file)."""
    return str(set_path(base).resolve())


def _load(name: str, base: str) -> InstructionSet:
    """The set behind condition ``name`` (``base``: its name without a variant); an unknown name fails with
    suggestions among every runnable condition."""
    if Path(base).suffix not in (".yaml", ".yml") and base not in list_sets():
        raise unknown("condition", name, list_conditions(), where=str(SETS_DIR))
    return load_set(base)


def expand_conditions(names: list[str]) -> list[Condition]:
    """Parse condition names, the plain name of a variant set standing for all its variants
    (``paraphrase`` → ``paraphrase#1`` … ``paraphrase#k``); each condition once, in the order given."""
    out: dict[str, Condition] = {}
    for name in names:
        plain, where = split_placement(name)
        base, k = split_variant(plain)
        if where is not None:
            parsed = [Condition(placement_name(c.name, where), c.instruction_set, c.source, where)
                      for c in expand_conditions([plain])]
        elif name in BUILTIN_CONDITIONS or k is not None:
            parsed = [Condition.parse(name)]
        else:
            s = _load(name, base)
            source = _source(base)
            parsed = ([Condition(variant_name(s.name, i), s.variant(i), source) for i in range(1, s.n_variants + 1)]
                      if s.n_variants else [Condition(s.name, s, source)])
        for c in parsed:
            out.setdefault(c.name, c)
    return list(out.values())


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
            rp = c.instruction_set.entry(task)
            instr = rp.get(side) if rp else None
            if instr is None and rp is not None and side == "document" and c.placement == "both":
                instr = rp.get("query")  # both sides: the query's instruction where the set has no document one
        elif c.name == "official":
            instr = self.model.official_instruction(task, task_type, side)
        else:
            return None
        if side == "document" and (c.placement == "query" or (c.placement is None
                                                              and not self.model.instruct_documents)):
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
        if template is None and self.condition.placement == "both":  # a recipe without a document template
            template = self.model.template.get("query")
        if template is None:  # unreachable for validated files: instruct_documents requires a template
            raise HarnessError(f"{self.model.model}: no {side} template for instruction {instr!r}")
        return fmt + template.format(instruction=instr)

    def prompts_for(self, task: str, task_type: str) -> dict[str, str]:
        return {r: self.prefix(task, task_type, r) for r in ROLES}


def prompts_sha256(prompts: dict[str, dict[str, str]]) -> str:
    """Stable hash of the exact prefixes of a cell ({task: {role: prefix}})."""
    return hashlib.sha256(json.dumps(prompts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
