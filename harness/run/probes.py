"""Probes: values the harness measures on a cell's embeddings besides mteb's scores.

A probe is a function ``probe(ctx: ProbeContext) -> list[ProbeValue]``. Its rows are stored in the cell's
sidecar and become ``kind="probe"`` rows of the leaderboard (and so get deltas like any metric). A probe that
needs to keep more than numbers (e.g. 2-D coordinates for a plot) hands the bytes of a file to
``ctx.add_artifact(name, data)``; the cell's writer stores it beside the sidecar, and aggregate/report read those
files, never the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.results.layout import COSINES_ARTIFACT
from harness.results.schema import RETRIEVAL_LIKE, SHIFT_PREFIX, table_bytes
from harness.run.language_probe import language_probe
from harness.run.probe_context import ProbeContext, ProbeValue
from harness.taskspecs.local import Task
from harness.taskspecs.spec import STSSpec


def _unit(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def pair_probe(ctx: ProbeContext) -> list[ProbeValue]:
    """The origin's pair table: cosine of each reported pair (both texts get the symmetric task's query-side
    prefix) and whether each headline claim holds (1.0) or not (0.0)."""
    spec, encoder = ctx.task.spec, ctx.encoder
    if not isinstance(spec, STSSpec) or not (spec.report_pairs or spec.claims):
        return []
    pairs = [tuple(p) for p in spec.report_pairs] + [tuple(x) for c in spec.claims for x in (c.higher, c.lower)]
    words = sorted({w for p in pairs for w in p})
    prefix = ctx.prompts["query"]
    vecs = _unit(encoder.embed_strings([prefix + w for w in words]))
    idx = {w: i for i, w in enumerate(words)}

    def cos(a: str, b: str) -> float:
        return float(vecs[idx[a]] @ vecs[idx[b]])

    out = [ProbeValue("pairs", f"cosine:{a}|{b}", cos(a, b), 1) for a, b in spec.report_pairs]
    for c in spec.claims:
        name = f"claim:{c.higher[0]}|{c.higher[1]} > {c.lower[0]}|{c.lower[1]}"
        out.append(ProbeValue("pairs", name, float(cos(*c.higher) > cos(*c.lower)), 1))
    return out


MAX_COSINE_TEXTS = 200  # the word × word matrix is kept for small STS vocabularies only


def cell_texts(task: Task, dataset: Any) -> dict[tuple[str, str], dict[str, list[str]]]:
    """The distinct texts a cell feeds the model, per (subset, split) and role, in order of first appearance.

    Symmetric tasks (STS, bitext mining, classification: train and test texts) give every text the query side;
    retrieval queries are ``query``, corpus documents ``document`` (``title text`` when a title exists, as mteb
    joins them)."""
    out: dict[tuple[str, str], dict[str, list[str]]] = {}
    for sub, splits in dataset.items():
        for split, data in splits.items():
            if task.type in RETRIEVAL_LIKE:  # (InstructionRetrieval: the queries without their instructions)
                corpus = data["corpus"]
                titles = corpus["title"] if "title" in corpus.column_names else [""] * len(corpus)
                docs = [f"{t} {x}".strip() if t else x for t, x in zip(titles, corpus["text"], strict=True)]
                roles = {"query": list(data["queries"]["text"]), "document": docs}
            elif task.type in ("Classification", "MultilabelClassification"):  # train and test texts (both encoded)
                roles = {"query": list(data["text"])}
            elif task.type == "Summarization":  # mteb encodes the human and the machine summaries
                roles = {"query": [t for col in ("human_summaries", "machine_summaries") for texts in data[col]
                                   for t in texts]}
            elif task.type == "Clustering":
                roles = {"query": list(data["sentences"])}
            else:
                s1, s2 = data["sentence1"], data["sentence2"]
                if len(s1) == 1 and isinstance(s1[0], list):  # mteb's v1 pair layout: one row holding every pair
                    s1, s2 = s1[0], s2[0]
                roles = {"query": [t for a, b in zip(s1, s2, strict=True) for t in (a, b)]}
            out[(sub, split)] = {r: list(dict.fromkeys(texts)) for r, texts in roles.items()}
    return out


def embedding_shift_probe(ctx: ProbeContext) -> list[ProbeValue]:
    """Does the model read the instruction at all? For each text of the cell, the cosine distance between its
    embedding with the condition's prefix and without any (the raw text): mean and standard deviation per subset,
    split and role (``embedding_shift/<role>/mean|std``). A role with no prefix (``none``) shifts by exactly 0 and
    is recorded as 0 without encoding anything."""
    out = []
    for (sub, split), roles in sorted(cell_texts(ctx.task, ctx.dataset).items()):
        for role, texts in roles.items():
            prefix = ctx.prompts.get(role, "")
            if prefix and texts:
                with_prefix = _unit(ctx.encoder.embed_strings([prefix + t for t in texts]))
                raw = _unit(ctx.encoder.embed_strings(texts))
                shift = 1.0 - np.einsum("ij,ij->i", with_prefix, raw)
            else:
                shift = np.zeros(len(texts))
            out += [
                ProbeValue(sub, f"{SHIFT_PREFIX}{role}/mean", float(shift.mean()) if len(shift) else 0.0,
                           len(texts), split),
                ProbeValue(sub, f"{SHIFT_PREFIX}{role}/std", float(shift.std()) if len(shift) else 0.0,
                           len(texts), split),
            ]
    return out


def word_cosines_probe(ctx: ProbeContext) -> list[ProbeValue]:
    """For an STS task with ``report_pairs`` (the temperature task): the full text × text cosine matrix under the
    cell's prefix, kept as the artifact ``<Task>.cosines.parquet`` (long format: ``i, j, text_a, text_b,
    cosine``; texts in order of first appearance) for the report's heatmaps. Returns no values."""
    spec = ctx.task.spec
    if not isinstance(spec, STSSpec) or not spec.report_pairs:
        return []
    texts = list(dict.fromkeys(t for roles in cell_texts(ctx.task, ctx.dataset).values() for t in roles["query"]))
    if len(texts) > MAX_COSINE_TEXTS:
        return []
    vecs = _unit(ctx.encoder.embed_strings([ctx.prompts["query"] + t for t in texts]))
    cos = vecs @ vecs.T
    n = len(texts)
    i, j = np.divmod(np.arange(n * n), n)
    import pyarrow as pa

    table = pa.table({"i": pa.array(i, pa.int32()), "j": pa.array(j, pa.int32()),
                      "text_a": [texts[k] for k in i], "text_b": [texts[k] for k in j],
                      "cosine": pa.array(cos.ravel(), pa.float64())})
    table = table.replace_schema_metadata({b"harness.prefix": ctx.prompts["query"].encode("utf-8")})
    ctx.add_artifact(COSINES_ARTIFACT, table_bytes(table))
    return []


PROBES = (pair_probe, language_probe, embedding_shift_probe, word_cosines_probe)


def run_probes(ctx: ProbeContext) -> list[ProbeValue]:
    return [v for probe in PROBES for v in probe(ctx)]
