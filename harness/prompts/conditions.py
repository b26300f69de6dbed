"""Conditions and the exact prefix each one puts before a text (``side`` is the role, except that both texts of a
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

import hashlib
import json
from dataclasses import dataclass, field

from harness.core.errors import HarnessError
from harness.prompts.files import BUILTIN_CONDITIONS, load_set, set_path
from harness.prompts.schema import ROLES, InstructionSet, ModelInstructions, Role, side_of

BASELINE = "none"
FORMAT_BASELINE = "format"  # second baseline, for models whose `format` condition adds prefixes


def condition_order(condition: str) -> tuple[int, str]:
    """none, format, official first (the built-in conditions), then instruction sets by name."""
    return ((BUILTIN_CONDITIONS.index(condition), "") if condition in BUILTIN_CONDITIONS
            else (len(BUILTIN_CONDITIONS), condition))


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
        if name in BUILTIN_CONDITIONS:
            return cls(name)
        s = load_set(name)
        return cls(s.name, s, str(set_path(name).resolve()))


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
