"""mteb's own wrappers run on a recording stand-in for ``SentenceTransformer`` (no weights): what exact string
does mteb feed a model for a task and prompt type? Used by :mod:`harness.prompts.export.recipe`.

mteb's own loader runs with ``sentence_transformers.SentenceTransformer`` replaced by a recorder
(:class:`RecordingSentenceTransformer`) that loads nothing. Every mteb wrapper then is a real instance with its
real settings; the recorder keeps the model's own sentence-transformers prompts where mteb relies on them
(``BUILTIN_PROMPTS``) and resolves prompts with sentence-transformers' own code.
"""

from __future__ import annotations

import contextlib
import logging
import types
import warnings
from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar, cast, get_args

import numpy as np

from harness.core.errors import HarnessError
from harness.core.offline import configure
from harness.prompts.schema import (
    ASYMMETRIC_TYPES,
    Role,
)
from harness.taskspecs.spec import KINDS

configure()

import mteb  # noqa: E402
import sentence_transformers  # noqa: E402
from mteb.abstasks import AbsTask, AbsTaskRetrieval, AbsTaskSTS  # noqa: E402
from mteb.abstasks.classification import AbsTaskClassification  # noqa: E402
from mteb.abstasks.task_metadata import TaskMetadata  # noqa: E402
from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining  # noqa: E402
from mteb.types import PromptType  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.base.model import BaseModel as STBaseModel  # noqa: E402

log = logging.getLogger(__name__)

SENTINEL = "\ue000harness-probe\ue000"
ABSTASKS: dict[str, type[AbsTask]] = {
    "STS": AbsTaskSTS,
    "Retrieval": AbsTaskRetrieval,
    "BitextMining": AbsTaskBitextMining,
    "Classification": AbsTaskClassification,
}
MAIN_SCORES = {"STS": "cosine_spearman", "Retrieval": "ndcg_at_10", "BitextMining": "f1", "Classification": "accuracy"}

# Models whose mteb registry entry has another name: (entry, why, whether the entry's revision is this model's).
REGISTRY_ALIASES: dict[str, tuple[str, str, bool]] = {
    "dunzhang/stella_en_1.5B_v5": (
        "NovaSearch/stella_en_1.5B_v5",
        "the Hugging Face repository dunzhang/stella_en_1.5B_v5 moved to NovaSearch/stella_en_1.5B_v5; mteb "
        "registers it under the new name",
        True,
    ),
    "dunzhang/stella_en_400M_v5": (
        "NovaSearch/stella_en_400M_v5",
        "the Hugging Face repository dunzhang/stella_en_400M_v5 moved to NovaSearch/stella_en_400M_v5; mteb "
        "registers it under the new name",
        True,
    ),
    "Alibaba-NLP/gte-large-en-v1.5": (
        "Alibaba-NLP/gte-base-en-v1.5",
        "gte-large-en-v1.5 is not in this mteb registry; its sibling gte-base-en-v1.5 (same family, same "
        "usage on the model card: plain text, no prompts) is, and its recipe is used. The revision is the "
        "sibling's, so this file's own revision is left empty",
        False,
    ),
}

# The models' own sentence-transformers prompts (config_sentence_transformers.json) where mteb's wrapper
# falls back on them (SentenceTransformerEncoderWrapper without model_prompts). Not weights, but not in
# mteb's registry either, and not downloadable offline: pinned here with their source.
BUILTIN_PROMPTS: dict[str, tuple[dict[str, str], str]] = {
    "google/embeddinggemma-300m": (
        {
            "query": "task: search result | query: ",
            "document": "title: none | text: ",
            "BitextMining": "task: search result | query: ",
            "Clustering": "task: clustering | query: ",
            "Classification": "task: classification | query: ",
            "InstructionRetrieval": "task: code retrieval | query: ",
            "MultilabelClassification": "task: classification | query: ",
            "PairClassification": "task: sentence similarity | query: ",
            "Reranking": "task: search result | query: ",
            "Retrieval": "task: search result | query: ",
            "Retrieval-query": "task: search result | query: ",
            "Retrieval-document": "title: none | text: ",
            "STS": "task: sentence similarity | query: ",
            "Summarization": "task: summarization | query: ",
        },
        "the prompts= dictionary with which transformers' src/transformers/models/gemma3/"
        "convert_gemma3_weights.py builds the EmbeddingGemma SentenceTransformer (saved as its "
        "config_sentence_transformers.json); default_prompt_name unset",
    ),
}

def qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


# -- mteb's wrapper without weights -------------------------------------------------------------------------


class RecordingSentenceTransformer(SentenceTransformer):
    """Stands in for ``SentenceTransformer`` inside mteb's loaders: loads nothing, records what it is fed.

    Prompt handling is sentence-transformers' own (``encode_query`` / ``encode_document`` / ``_resolve_prompt``);
    ``encode`` returns zeros and records the exact strings (prompt + text) and any ``task`` (jina's adapters).
    """

    builtin_prompts: ClassVar[dict[str, str]] = {}
    _via: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import torch

        torch.nn.Module.__init__(self)
        self.init_args = (args, kwargs)
        self.prompts = dict(self._default_prompts)
        self.default_prompt_name = None
        STBaseModel._parse_model_config(self, {"prompts": dict(self.builtin_prompts)})
        self.calls: list[dict[str, Any]] = []
        self._tokenizer = types.SimpleNamespace()

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, value: Any) -> None:
        self._tokenizer = value

    @property
    def max_seq_length(self) -> Any:  # type: ignore[override]
        return None

    @max_seq_length.setter
    def max_seq_length(self, value: Any) -> None:
        pass

    def set_pooling_include_prompt(self, include_prompt: bool) -> None:
        pass

    def _first_module(self) -> Any:
        config = types.SimpleNamespace(_attn_implementation="sdpa")
        return types.SimpleNamespace(auto_model=types.SimpleNamespace(config=config), tokenizer=self._tokenizer)

    def to(self, *args: Any, **kwargs: Any) -> RecordingSentenceTransformer:
        return self

    def encode_query(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._via = "query"
        try:
            return super().encode_query(*args, **kwargs)
        finally:
            self._via = None

    def encode_document(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._via = "document"
        try:
            return super().encode_document(*args, **kwargs)
        finally:
            self._via = None

    def encode(  # type: ignore[override]
        self, inputs: Any, prompt_name: str | None = None, prompt: str | None = None, task: Any = None, **_: Any
    ) -> np.ndarray:
        resolved = self._resolve_prompt(prompt, prompt_name)
        strings = [(resolved or "") + text for text in inputs]
        # encode_query / encode_document route with task="query"/"document" themselves; only a task the
        # wrapper passes (jina's adapters) is recorded
        adapter = None if getattr(self, "_via", None) else task
        self.calls.append({"strings": strings, "task": adapter})
        return np.zeros((len(strings), 8), dtype=np.float32)


class _OneBatch:
    """The part of a DataLoader mteb's text wrappers use: ``dataset.features`` and batches of ``text``."""

    def __init__(self, texts: list[str]):
        self.dataset = types.SimpleNamespace(features={"text": None})
        self.collate_fn = None
        self._texts = texts

    def __iter__(self) -> Iterator[dict[str, list[str]]]:
        yield {"text": list(self._texts)}


_QUIET_DEPTH = [0]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence mteb's and sentence-transformers' warnings (re-entrant; levels are set once, outermost)."""
    noisy = [logging.getLogger(n) for n in ("mteb", "sentence_transformers")]
    levels = [lg.level for lg in noisy]
    outermost = _QUIET_DEPTH[0] == 0
    _QUIET_DEPTH[0] += 1
    try:
        if outermost:
            for lg in noisy:
                lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        _QUIET_DEPTH[0] -= 1
        if outermost:
            for lg, level in zip(noisy, levels, strict=True):
                lg.setLevel(level)


def registry_entry(model: str) -> tuple[str, str | None, bool]:
    """The mteb registry name for ``model``, why it differs (or None), and whether its revision is ours."""
    entry, why, same = REGISTRY_ALIASES.get(model, (model, None, True))
    return entry, why, same


def get_meta(model: str) -> Any:
    entry, _, _ = registry_entry(model)
    try:
        with quiet():
            return mteb.get_model_meta(entry)
    except KeyError as e:
        msg = str(e.args[0]) if e.args else str(e)
        raise HarnessError(
            f"model '{model}': {msg} (a model outside mteb's registry needs a hand-written file)"
        ) from None


def mteb_wrapper(model: str) -> Any:
    """mteb's own wrapper for ``model``, built by its registry loader with no weights loaded."""
    meta = get_meta(model)
    if meta.loader is None:
        raise HarnessError(f"model '{model}': mteb has no loader for it (API model?); nothing to export")
    builtin = BUILTIN_PROMPTS.get(meta.name, ({}, ""))[0]
    recorder = type("RecordingSentenceTransformer", (RecordingSentenceTransformer,), {"builtin_prompts": builtin})
    real = sentence_transformers.SentenceTransformer
    sentence_transformers.SentenceTransformer = recorder  # type: ignore[misc,assignment]
    try:
        with quiet():
            wrapper = meta.loader(meta.name, revision=meta.revision, **dict(meta.loader_kwargs or {}))
    except Exception as e:
        raise HarnessError(
            f"model '{model}': mteb's loader {qualname(meta.loader)} cannot be run without weights "
            f"({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    finally:
        sentence_transformers.SentenceTransformer = real  # type: ignore[misc]
    if not isinstance(getattr(wrapper, "model", None), RecordingSentenceTransformer):
        raise HarnessError(
            f"model '{model}': mteb's loader {qualname(meta.loader)} does not use sentence-transformers"
        )
    return wrapper


def mteb_fed(wrapper: Any, metadata: TaskMetadata, prompt_type: PromptType | None, text: str) -> tuple[str, Any]:
    """The exact string mteb's ``wrapper`` feeds the model for ``text`` (and the adapter task it selects)."""
    with quiet():
        wrapper.encode(
            _OneBatch([text]), task_metadata=metadata, hf_split="test", hf_subset="default", prompt_type=prompt_type
        )
    call = wrapper.model.calls[-1]
    return call["strings"][0], call["task"]


def mteb_prefix(wrapper: Any, metadata: TaskMetadata, prompt_type: PromptType | None) -> tuple[str, Any]:
    """The prefix mteb's ``wrapper`` puts before a text (the fed string minus the sentinel text)."""
    fed, task = mteb_fed(wrapper, metadata, prompt_type, SENTINEL)
    if not fed.endswith(SENTINEL) or fed.count(SENTINEL) != 1:
        raise HarnessError(f"mteb's wrapper changes the text itself ({fed!r}); not expressible as a prefix")
    return fed[: -len(SENTINEL)], task


# -- tasks to probe -----------------------------------------------------------------------------------------


def supported_types() -> list[str]:
    """The task types harness task specs can have: the ``type`` literals of the spec classes (taskspecs.spec)."""
    names: set[str] = set()
    for kind in KINDS.values():
        names.update(a for a in get_args(kind.model_fields["type"].annotation) if isinstance(a, str))
    missing = sorted(n for n in names if n not in ABSTASKS)
    if missing:
        raise HarnessError(f"the exporter does not know the mteb abstract task for {', '.join(missing)}")
    return sorted(names)


@cache
def unseen_task(task_type: str) -> type[AbsTask]:
    """A task of ``task_type`` that mteb has never seen and that has no prompt, like every harness task."""
    metadata = TaskMetadata(
        name=f"HarnessUnseen{task_type}Task",
        description="a task no model has seen: stands in for the harness's own tasks of this type",
        dataset={"path": "harness/unseen", "revision": "0"},
        type=cast(Any, task_type),
        category="t2t",
        modalities=["text"],
        eval_splits=["test"],
        eval_langs=["eng-Latn"],
        main_score=MAIN_SCORES[task_type],
    )
    return type(metadata.name, (ABSTASKS[task_type],), {"metadata": metadata, "__module__": __name__})


@cache
def mteb_text_tasks(task_types: tuple[str, ...]) -> tuple[TaskMetadata, ...]:
    """Every mteb task of these types with text only, by name (superseded, private and beta included)."""
    with quiet():
        tasks = mteb.get_tasks(
            task_types=cast(Any, list(task_types)), exclude_superseded=False, exclude_private=False, exclude_beta=False
        )
    metas = {t.metadata.name: t.metadata for t in tasks if list(t.metadata.modalities) == ["text"]}
    return tuple(metas[n] for n in sorted(metas))


def prompt_types(task_type: str) -> list[tuple[Role, PromptType | None]]:
    """(side, mteb prompt type) pairs mteb uses for a task type."""
    if task_type in ASYMMETRIC_TYPES:
        return [("query", PromptType.query), ("document", PromptType.document)]
    return [("query", None)]


