"""Which kind of instruction the ``official`` condition gives a model on a task (recorded in every official cell as
``official_kind`` and shown in the tables):

=================  ==========================================================================================
``task``           the model's own instruction for this very task (its instruction file's ``tasks`` entry:
                   mteb's per-task prompt for the model, e.g. e5-mistral's for SciFact)
``task_type``      the model's instruction for the task's type, from its own prompt dictionary (e.g.
                   EmbeddingGemma's ``task: sentence similarity`` for every STS task; mteb has no per-task ones)
``model_default``  an instruction that is neither: the model's per-role default or mteb's default prompt of the
                   abstract task (e.g. e5-mistral on an STS task: ``Retrieve semantically similar text.``)
``none``           no instruction at all (the format prefix alone, or nothing)
=================  ==========================================================================================

Decided from the pinned instruction file alone (no mteb import): the prompt dictionary a file records
(``source.prompt_settings.model_prompts`` / ``prompts_dict``, ``source.builtin_prompts``) says whether the model
names the task type.
"""

from __future__ import annotations

from typing import Literal

from harness.prompts.conditions import Condition, Prompter
from harness.prompts.schema import ROLES, ModelInstructions

# The task types the exporter (harness/prompts/export) probes mteb's wrappers for, so an instruction file states
# what mteb feeds on them. Reranking is covered: where mteb's prompt lookup gives a model's Reranking documents the
# query-side prompt (EmbeddingGemma: the type key comes before the prompt type), the file states it as the type's
# document format prefix; so is EmbeddingGemma's InstructionRetrieval prompt. On InstructionRetrieval and
# InstructionReranking mteb appends each query's instruction to the query text in its data loader, before the
# wrapper, so the wrapper's prefix is defined as on Retrieval (tests/test_followir.py checks every such mteb task).
EXPORTED_TYPES = ("BitextMining", "Classification", "Clustering", "InstructionReranking", "InstructionRetrieval",
                  "MultilabelClassification", "PairClassification", "Reranking", "Retrieval", "STS", "Summarization")

OfficialKind = Literal["task", "task_type", "model_default", "none"]
OFFICIAL_KINDS: tuple[OfficialKind, ...] = ("task", "task_type", "model_default", "none")


def _names_type(recipe: ModelInstructions, task_type: str) -> bool:
    """Whether the model's own prompts name ``task_type`` (a key ``STS`` or ``Retrieval-query``)."""
    src = recipe.source
    if src.kind != "mteb":  # a model card's recipe is written per task type
        return task_type in recipe.task_types
    keys = set(src.builtin_prompts or {})
    for name in ("model_prompts", "prompts_dict"):
        value = src.prompt_settings.get(name)
        if isinstance(value, dict):
            keys |= set(value)
    return any(k == task_type or k.startswith(f"{task_type}-") for k in keys)


def official_kind(recipe: ModelInstructions, task: str, task_type: str) -> OfficialKind | None:
    """The kind of instruction ``official`` gives ``task`` (see the module's table); None when the file cannot say
    (an mteb recipe, and a task type the exporter does not probe: :data:`EXPORTED_TYPES`)."""
    if recipe.source.kind == "mteb" and task_type not in EXPORTED_TYPES:
        return None
    prompter = Prompter(recipe, Condition("official"))
    if not any(prompter.instruction(task, task_type, role) for role in ROLES):
        return "none"
    if task in recipe.tasks:
        return "task"
    return "task_type" if _names_type(recipe, task_type) else "model_default"
