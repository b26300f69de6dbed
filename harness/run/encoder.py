"""The encoder mteb evaluates: one loaded model + one condition's prompts.

mteb calls ``encode`` with the task metadata and the prompt type; the encoder resolves the exact prefix for
(task, role) under its condition, prepends it, and embeds the strings through the model. Symmetric tasks
(mteb passes no prompt type) get the query-side treatment. Every exact prefix used is recorded, so results can
store the strings and their hash. With an :class:`~harness.cache.EmbeddingCache` no exact string is ever encoded
twice by the same model, across tasks, conditions and runs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from harness.core import faults
from harness.core.errors import HarnessError
from harness.core.offline import configure
from harness.models.spec import Embedder, ModelSpec
from harness.prompts.conditions import Prompter
from harness.prompts.schema import Role
from harness.run.cache import EmbeddingCache

configure()

from mteb.models import ModelMeta  # noqa: E402
from mteb.models.abs_encoder import AbsEncoder  # noqa: E402
from mteb.models.model_meta import ScoringFunction  # noqa: E402
from mteb.types import PromptType  # noqa: E402

# Strings per embedder call when encoding cache misses: each call's vectors are written to the cache at once.
CHUNK_BATCHES = 32


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


class LazyEmbedder(Embedder):
    """The spec's model, loaded on first use: a run whose every string is in the embedding cache never loads it."""

    def __init__(self, spec: ModelSpec, progress: Any = None):
        self.spec = spec
        self.progress = progress  # a harness.run.progress.Progress: told when the model loads
        self._inner: Embedder | None = None
        self.load_error: BaseException | None = None  # why loading failed (the Ray worker reports it per model)

    @property
    def inner(self) -> Embedder:
        if self._inner is None:
            if self.progress is not None:
                self.progress.status(f"loading model {self.spec.alias}")
            try:
                self._inner = self.spec.load()
            except HarnessError as e:
                self.load_error = e
                raise
            except Exception as e:  # one line for the user; the run stops, as when it loaded up front
                self.load_error = e
                raise HarnessError(f"model '{self.spec.alias}': loading failed ({e.__class__.__name__}: {e})") from e
        return self._inner

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    @property
    def dim(self) -> int:  # type: ignore[override]
        return int(self.inner.dim)

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        return self.inner.embed(texts, batch_size=batch_size)


class PromptedEncoder(AbsEncoder):
    """mteb EncoderProtocol over an :class:`Embedder`, applying one condition's prompts."""

    def __init__(
        self,
        embedder: Embedder,
        spec: ModelSpec,
        prompter: Prompter,
        *,
        batch_size: int = 32,
        cache: EmbeddingCache | None = None,
        progress: Any = None,
    ):
        self.embedder = embedder
        self.progress = progress  # a harness.run.progress.Progress: told what was encoded / read from the cache
        self.spec = spec
        self.prompter = prompter
        self.batch_size = batch_size
        self.cache = cache
        self.n_encoded = 0  # strings the model encoded (cache misses)
        self.n_cached = 0  # strings served by the embedding cache
        self.mteb_model_meta = model_meta(spec, prompter.condition.name)
        self.prefixes: dict[str, dict[str, str]] = {}

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
        faults.checkpoint("encode")
        return self.embed_strings(strings)

    def embed_strings(self, strings: list[str]) -> np.ndarray:
        """Embed exact strings; each distinct string is encoded at most once per model, ever.

        Duplicates within the call are embedded once; strings the embedding cache holds for this model are read
        from it; the rest are sorted by length (longest first, so each batch pads little), encoded in chunks, and
        each chunk is stored in the cache as soon as it is encoded (an interrupted cell keeps its progress).
        """
        unique = list(dict.fromkeys(strings))
        # The dimension from the cache when it knows the model: a cell served from the cache never loads it.
        dim = (self.cache.known_dim(self.spec) if self.cache is not None else None) or int(self.embedder.dim)
        found = self.cache.get_many(self.spec, unique, dim) if self.cache is not None else [None] * len(unique)
        vectors = np.empty((len(unique), dim), dtype=np.float32)
        missing = []
        for i, vec in enumerate(found):
            if vec is None:
                missing.append(i)
            else:
                vectors[i] = vec
        missing.sort(key=lambda i: -len(unique[i]))  # stable: equal lengths keep their order
        if self.progress is not None:
            hits = set(range(len(unique))) - set(missing)
            self.progress.strings(self.spec.identity, [], [unique[i] for i in sorted(hits)], 0.0)
        chunk = max(self.batch_size * CHUNK_BATCHES, self.batch_size)
        for start in range(0, len(missing), chunk):
            rows = missing[start:start + chunk]
            texts = [unique[i] for i in rows]
            t0 = time.perf_counter()
            out = np.asarray(self.embedder.embed(texts, batch_size=self.batch_size), dtype=np.float32)
            seconds = time.perf_counter() - t0
            if self.cache is not None:
                self.cache.put_many(self.spec, texts, out)
            vectors[rows] = out
            if self.progress is not None:
                self.progress.strings(self.spec.identity, texts, [], seconds)
        self.n_encoded += len(missing)
        self.n_cached += len(unique) - len(missing)
        index = {s: i for i, s in enumerate(unique)}
        return vectors[[index[s] for s in strings]]
