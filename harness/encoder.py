"""The encoder mteb evaluates: one loaded model + one condition's prompts.

mteb calls ``encode`` with the task metadata and the prompt type; the encoder resolves the exact prefix for
(task, role) under its condition, prepends it, and embeds the strings through the model. Symmetric tasks
(mteb passes no prompt type) get the query-side treatment. Every exact prefix used is recorded, so results can
store the strings and their hash.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.instructions import Prompter, Role
from harness.models import Embedder, ModelSpec
from harness.offline import configure

configure()

from mteb.models import ModelMeta  # noqa: E402
from mteb.models.abs_encoder import AbsEncoder  # noqa: E402
from mteb.models.model_meta import ScoringFunction  # noqa: E402
from mteb.types import PromptType  # noqa: E402


def role_of(prompt_type: PromptType | str | None) -> Role:
    return "document" if prompt_type in (PromptType.document, "document") else "query"


def model_meta(spec: ModelSpec, condition: str) -> ModelMeta:
    """mteb identity for a (model, condition) cell: the condition is mteb's *experiment*."""
    return ModelMeta.create_empty(
        {
            "name": spec.name,
            "revision": spec.revision,
            "languages": spec.languages or None,
            "embed_dim": spec.embed_dim,
            "max_tokens": spec.max_seq_length,
            "similarity_fn_name": ScoringFunction(spec.similarity),
            "framework": ["Sentence Transformers"],
            "experiment_kwargs": {"condition": condition},
        }
    )


class PromptedEncoder(AbsEncoder):
    """mteb EncoderProtocol over an :class:`Embedder`, applying one condition's prompts."""

    def __init__(self, embedder: Embedder, spec: ModelSpec, prompter: Prompter, *, batch_size: int = 32):
        self.embedder = embedder
        self.prompter = prompter
        self.batch_size = batch_size
        self.mteb_model_meta = model_meta(spec, prompter.condition.name)
        self.prefixes: dict[str, dict[str, str]] = {}
        self.texts_seen: list[str] = []

    def encode(
        self,
        inputs: Any,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        texts = [t for batch in inputs for t in batch["text"]]
        role = role_of(prompt_type)
        prefix = self.prompter.prefix(task_metadata.name, task_metadata.type, role)
        self.prefixes.setdefault(task_metadata.name, {})[role] = prefix
        strings = [prefix + t for t in texts]
        return self.embed_strings(strings)

    def embed_strings(self, strings: list[str]) -> np.ndarray:
        """Embed with in-call de-duplication: each distinct string is encoded once."""
        unique = list(dict.fromkeys(strings))
        self.texts_seen.extend(unique)
        vectors = self.embedder.embed(unique, batch_size=self.batch_size)
        index = {s: i for i, s in enumerate(unique)}
        return vectors[[index[s] for s in strings]]
