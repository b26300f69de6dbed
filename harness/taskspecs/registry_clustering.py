"""mteb's registry Clustering tasks (``AbsTaskClustering``, the "fast" ones) with their runs kept.

mteb embeds a seeded sample of a split's documents (``max_document_to_embed`` / ``max_fraction_of_documents_to_
embed``), then for each label level runs mini-batch k-means ``n_clusters`` times (10), each time on
``max_documents_per_cluster`` documents drawn *with replacement* from that sample (``rng.choices``), and reports the
mean v-measure over the runs. Its predictions are the runs' cluster assignments only; which documents each run drew
comes from the task's ``random.Random``. :func:`recording_evaluate_subset` runs mteb's own code unchanged with that
generator replaced by one that continues the same stream and records every draw, so the harness keeps, per run, the
documents drawn and the cluster each draw got (mteb's numbers are untouched: the draws are the same).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


class RecordingRandom(random.Random):
    """A ``random.Random`` that records what ``sample`` and ``choices`` return (in call order)."""

    def __init__(self, state: Any):
        super().__init__()
        self.setstate(state)
        self.calls: list[tuple[str, list[int]]] = []

    def sample(self, population: Any, k: int, *, counts: Any = None) -> list[Any]:
        got = super().sample(population, k, counts=counts)
        self.calls.append(("sample", [int(x) for x in got]))
        return got

    def choices(self, population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1) -> list[Any]:
        got = super().choices(population, weights, cum_weights=cum_weights, k=k)
        self.calls.append(("choices", [int(x) for x in got]))
        return got


def recording_evaluate_subset(base: type) -> Callable[..., Any]:
    """``base._evaluate_subset`` that also keeps the runs' draws: the subset's item predictions become
    ``{"assignments": mteb's {level: [assignment per run]}, "documents": the embedded sample's indices into the split
    (None: every document), "draws": per (level, run) in mteb's order, the drawn indices into that level's
    documents}``."""
    inner = base._evaluate_subset  # type: ignore[attr-defined]

    def _evaluate_subset(task: Any, model: Any, data_split: Any, **kwargs: Any) -> Any:
        rec = RecordingRandom(task.rng_state.getstate())  # mteb's stream, continued
        task.rng_state = rec
        out = inner(task, model, data_split, **kwargs)
        sub, split = kwargs["hf_subset"], kwargs["hf_split"]
        kept = getattr(task, "item_predictions", {}).get(sub, {})
        if split in kept:
            samples = [c for kind, c in rec.calls if kind == "sample"]
            kept[split] = {"assignments": kept[split], "documents": samples[0] if samples else None,
                           "draws": [c for kind, c in rec.calls if kind == "choices"]}
        return out

    return _evaluate_subset
