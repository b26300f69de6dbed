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


def condition_order(condition: str) -> tuple[int, str, int]:
    """none, format, official first (the built-in conditions), then instruction sets by name, a set's variants in
    numeric order (``paraphrase#2`` before ``paraphrase#10``)."""
    if condition in BUILTIN_CONDITIONS:
        return BUILTIN_CONDITIONS.index(condition), "", 0
    base, k = split_variant(condition)
    return len(BUILTIN_CONDITIONS), base, k or 0


def order_conditions(conditions: set[str] | list[str]) -> list[str]:
    """Conditions in :func:`condition_order`, each once."""
    return sorted(set(conditions), key=condition_order)


@dataclass(frozen=True)
class Condition:
    """A named way of prompting: built-in (none/format/official) or an instruction set."""

    name: str
    instruction_set: InstructionSet | None = None
    source: str | None = field(default=None, compare=False)  # the set's file (absolute path), recorded with results

    @classmethod
    def parse(cls, name: str) -> Condition:
        """A built-in condition, a plain set (name or path to a YAML file) or one variant ``<set>#<k>``."""
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
        base, k = split_variant(name)
        if name in BUILTIN_CONDITIONS or k is not None:
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
