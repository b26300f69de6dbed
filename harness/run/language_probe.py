"""The language-split probe: do German and English sentences separate by language, and do translations align?

Runs on a task whose spec has ``language_probe`` (the MixedPool translation task): its queries file lists every
sentence with its ``language`` and ``pair``. The probe embeds the sentences exactly as the task feeds them (the
cell's prefix for ``language_probe.role``) and measures, per subset and split:

- ``language_split/top2_variance_share``: share of the variance on the top-2 principal components (SVD of the
  centred, unit-normalised embeddings; see ``principal_components``). Unit rows first: cosine is the similarity
  every task uses.
- ``language_split/separation_accuracy@k`` (k = 2, 10): a linear probe — 5-fold cross-validated logistic-regression
  accuracy predicting the language from the top-k principal-component coordinates (one common scale for all
  components, see ``probe_accuracy``). 0.5 is chance (both languages
  are equally frequent), 1.0 is a perfect linear split. Folds hold whole translation pairs (both sides in the same
  fold), so every test fold is exactly balanced. Why this measure: linear-probe accuracy is the standard way to ask
  whether a property is (linearly) encoded in a representation, it is easy to read, and it does not depend on the
  scale of the coordinates; its weakness is saturation at 1.0, hence also:
- ``language_split/silhouette@k``: mean silhouette coefficient of the language labels on the same top-k
  coordinates (Euclidean; −1..1, > 0 means same-language points are closer than other-language points). It keeps
  moving where accuracy has saturated.
- ``language_split/translation_cosine_true``, ``…_shuffled`` and ``…_alignment``: mean cosine of the true pairs,
  mean cosine of shuffled pairs (a seeded derangement: no sentence keeps its partner) and their difference.

It also keeps the top-2 coordinates (+ language, pair id, text) as a parquet artifact beside the cell's sidecar;
``harness.plots`` draws the figures from those files at aggregate time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.core.errors import HarnessError
from harness.results.layout import LANGUAGE_ARTIFACT as ARTIFACT
from harness.results.layout import LANGUAGE_META_KEY as META_KEY
from harness.results.schema import LANGUAGE_PREFIX as PREFIX
from harness.results.schema import table_bytes
from harness.run.probe_context import ProbeContext, ProbeValue
from harness.taskspecs.data import read_table
from harness.taskspecs.local import LocalTask, Task
from harness.taskspecs.spec import LanguageProbeSpec, RetrievalSpec

KS = (2, 10)
FOLDS = 5
SEED = 0


@dataclass
class LanguageSplit:
    """The probe's numbers for one set of sentences (rows ordered as given)."""

    n_sentences: int
    n_pairs: int
    top2_variance_share: float
    explained: tuple[float, float]  # share of variance on PC1, PC2
    separation_accuracy: dict[int, float]
    silhouette: dict[int, float]
    cosine_true: float
    cosine_shuffled: float
    coords: np.ndarray  # (n, 2): top-2 principal-component coordinates, oriented (see ``orient``)

    @property
    def alignment(self) -> float:
        return self.cosine_true - self.cosine_shuffled

    def values(self, subset: str, split: str) -> list[ProbeValue]:
        n, p = self.n_sentences, self.n_pairs
        out = [ProbeValue(subset, f"{PREFIX}top2_variance_share", self.top2_variance_share, n, split)]
        out += [ProbeValue(subset, f"{PREFIX}separation_accuracy@{k}", v, n, split)
                for k, v in self.separation_accuracy.items()]
        out += [ProbeValue(subset, f"{PREFIX}silhouette@{k}", v, n, split) for k, v in self.silhouette.items()]
        out += [
            ProbeValue(subset, f"{PREFIX}translation_cosine_true", self.cosine_true, p, split),
            ProbeValue(subset, f"{PREFIX}translation_cosine_shuffled", self.cosine_shuffled, p, split),
            ProbeValue(subset, f"{PREFIX}translation_alignment", self.alignment, p, split),
        ]
        return out


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


def principal_components(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates on all components, share of variance per component) of the centred rows, largest first.

    The SVD ``X = U S Vᵀ`` of the centred rows is taken through the eigen-decomposition of the smaller of
    ``XᵀX = V S² Vᵀ`` and ``XXᵀ = U S² Uᵀ``: same singular values and coordinates ``U S = X V``, at a fraction
    of the cost of a full SVD of a 4000 × d matrix."""
    x = unit - unit.mean(axis=0, keepdims=True)
    n, d = x.shape
    if d <= n:
        var, vecs = np.linalg.eigh(x.T @ x)
        var, vecs = var[::-1].clip(min=0), vecs[:, ::-1]
        coords = x @ vecs
    else:
        var, vecs = np.linalg.eigh(x @ x.T)
        var, vecs = var[::-1].clip(min=0), vecs[:, ::-1]
        coords = vecs * np.sqrt(var)
    total = float(var.sum())
    share = var / total if total > 0 else np.zeros_like(var)
    return coords, share


def orient(coords: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Flip each component's sign so that the first language's mean is ≤ 0 (SVD signs are arbitrary; this
    keeps figures of different conditions comparable)."""
    signs = np.where(coords[first].mean(axis=0) > 0, -1.0, 1.0)
    return coords * signs


def pair_folds(pairs: np.ndarray, n_folds: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """Fold number per row; both rows of a pair share a fold; pairs are dealt to folds in seeded random order."""
    unique = np.unique(pairs)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[j]: i % n_folds for i, j in enumerate(order)}
    return np.array([fold_of[p] for p in pairs])


def probe_accuracy(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Held-out accuracy of an L2 logistic regression (C=1) over the folds. The coordinates are divided by one
    common scale (the spread of PC1), so the components keep their relative variances: standardising each
    component would blow the low-variance ones up to the size of the first and let the probe fit noise."""
    from sklearn.linear_model import LogisticRegression

    scale = float(x[:, 0].std()) or 1.0
    x = x / scale
    correct = 0
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        clf = LogisticRegression(max_iter=1000)
        clf.fit(x[train], y[train])
        correct += int((clf.predict(x[test]) == y[test]).sum())
    return correct / len(y)


def derangement(n: int, seed: int = SEED) -> np.ndarray:
    """A seeded permutation with no fixed point (n ≥ 2): a random cycle through all items."""
    order = np.random.default_rng(seed).permutation(n)
    partner = np.empty(n, dtype=int)
    partner[order] = np.roll(order, -1)
    return partner


def language_split(vectors: np.ndarray, is_first: np.ndarray, pairs: np.ndarray, *, ks: tuple[int, ...] = KS,
                   seed: int = SEED) -> LanguageSplit:
    """All probe numbers for rows ``vectors`` with language flags ``is_first`` (True = first language) and pair
    ids ``pairs`` (each pair: exactly one row per language)."""
    from sklearn.metrics import silhouette_score

    is_first = np.asarray(is_first, dtype=bool)
    pairs = np.asarray(pairs)
    unit = _unit(vectors)
    coords, share = principal_components(unit)
    coords = orient(coords, is_first)
    y = is_first.astype(int)
    folds = pair_folds(pairs, FOLDS, seed)
    acc, sil = {}, {}
    for k in ks:
        x = coords[:, : min(k, coords.shape[1])]
        acc[k] = probe_accuracy(x, y, folds)
        sil[k] = float(silhouette_score(x, y, metric="euclidean"))
    first_idx = {p: i for i, p in enumerate(pairs) if is_first[i]}
    second_idx = {p: i for i, p in enumerate(pairs) if not is_first[i]}
    ids = sorted(first_idx)
    a, b = unit[[first_idx[p] for p in ids]], unit[[second_idx[p] for p in ids]]
    true = float(np.mean(np.sum(a * b, axis=1)))
    shuffled = float(np.mean(np.sum(a * b[derangement(len(ids), seed)], axis=1)))
    top = share[:2] if len(share) >= 2 else np.pad(share, (0, 2 - len(share)))
    return LanguageSplit(
        n_sentences=len(pairs), n_pairs=len(ids), top2_variance_share=float(top.sum()),
        explained=(float(top[0]), float(top[1])), separation_accuracy=acc, silhouette=sil,
        cosine_true=true, cosine_shuffled=shuffled, coords=coords[:, :2],
    )


def probe_items(task: Task) -> tuple[LanguageProbeSpec, pd.DataFrame]:
    """The task's probe settings and its queries table (id, text, language, pair, subset, split), checked."""
    spec = task.spec
    if not isinstance(task, LocalTask) or not isinstance(spec, RetrievalSpec) or spec.language_probe is None:
        raise HarnessError(f"{task.task_dir}: no 'language_probe' in this task")
    path = task.folder / spec.data.queries
    cols = ["id", "text", "language", "pair"]
    df = read_table(path, cols, cols)
    first, second = spec.language_probe.languages
    other = set(df["language"]) - {first, second}
    if other:
        raise HarnessError(f"{path}: language '{sorted(other)[0]}' is not one of language_probe.languages "
                           f"{first}, {second}")
    counts = df.groupby(["subset", "split", "pair"])["language"].agg(lambda s: tuple(sorted(s)))
    bad = counts[counts != tuple(sorted((first, second)))]
    if len(bad):
        (sub, sp, pair), langs = bad.index[0], bad.iloc[0]
        raise HarnessError(f"{path}: pair '{pair}' ({sub}/{sp}) has languages {list(langs)}; "
                           f"each pair needs exactly one '{first}' and one '{second}' row")
    return spec.language_probe, df


def artifact_name(subset: str, split: str) -> str:
    return f"{ARTIFACT}.parquet" if (subset, split) == ("default", "test") else f"{ARTIFACT}.{subset}.{split}.parquet"


def coords_bytes(rows: pd.DataFrame, split_result: LanguageSplit, meta: dict[str, object]) -> bytes:
    """The artifact: top-2 coordinates + language, pair id and text per sentence, ``meta`` in the parquet metadata."""
    import pyarrow as pa

    df = pd.DataFrame({
        "pair": rows["pair"].to_numpy(), "language": rows["language"].to_numpy(), "text": rows["text"].to_numpy(),
        "pc1": split_result.coords[:, 0], "pc2": split_result.coords[:, 1],
    })
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    return table_bytes(table)


def language_probe(ctx: ProbeContext) -> list[ProbeValue]:
    """The probe (registered in harness.run.probes.PROBES); a no-op for tasks without ``language_probe``."""
    spec = ctx.task.spec
    if not isinstance(spec, RetrievalSpec) or spec.language_probe is None:
        return []
    settings, df = probe_items(ctx.task)
    first = settings.languages[0]
    prefix = ctx.prompts[settings.role]
    out: list[ProbeValue] = []
    for (subset, split), rows in df.groupby(["subset", "split"], sort=True):
        rows = rows.sort_values(["pair", "language"], kind="stable")
        vectors = ctx.encoder.embed_strings([prefix + t for t in rows["text"]])
        result = language_split(vectors, (rows["language"] == first).to_numpy(), rows["pair"].to_numpy())
        out += result.values(str(subset), str(split))
        meta = {
            "languages": list(settings.languages), "role": settings.role, "prefix": prefix,
            "explained": list(result.explained), "subset": subset, "split": split,
            "separation_accuracy": {str(k): v for k, v in result.separation_accuracy.items()},
            "silhouette": {str(k): v for k, v in result.silhouette.items()},
            "translation_alignment": result.alignment,
        }
        ctx.add_artifact(artifact_name(str(subset), str(split)), coords_bytes(rows, result, meta))
    return out
