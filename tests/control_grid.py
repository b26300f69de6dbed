"""A tiny grid for the control-condition tests: two small tasks named like real ones (so the committed control
sets have entries for them) and several distinct seeded mock models.

- ``ScaleAge``: STS, one subset ``scale``, the first :data:`N_WORDS` words of the real ScaleAge (all their pairs);
- ``DeEnTranslationRetrieval``: the first :data:`N_ROWS` queries and documents of the real task.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np

from harness.models.mock import MOCK_DIM, MockEmbedder, mock_vector
from harness.models.spec import ModelSpec
from tests.conftest import ROOT

STS, RET = "ScaleAge", "DeEnTranslationRetrieval"
N_WORDS, N_ROWS = 10, 12
STS_YAML = """name: ScaleAge
type: STS
description: A few age words (test copy).
reference: https://example.org
subsets:
  scale: [eng-Latn]
splits: [test]
main_score: cosine_spearman
date: ["2026-01-01", "2026-01-01"]
domains: [Written]
license: cc-by-4.0
annotations_creators: expert-annotated
sample_creation: created
data: pairs.csv
min_score: -1
max_score: 1
"""


def tiny_tasks(root: Path) -> Path:
    """Write the two tiny tasks under ``root`` (a tasks folder) and return it."""
    sts = root / STS
    sts.mkdir(parents=True)
    (sts / "task.yaml").write_text(STS_YAML, encoding="utf-8")
    with (ROOT / "tasks" / STS / "pairs.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["subset"] == "scale"]
    words: list[str] = []
    for r in rows:
        for w in (r["sentence1"], r["sentence2"]):
            if w not in words and len(words) < N_WORDS:
                words.append(w)
    keep = [r for r in rows if r["sentence1"] in words and r["sentence2"] in words]
    with (sts / "pairs.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["subset", "split", "sentence1", "sentence2", "score"])
        w.writeheader()
        w.writerows(keep)
    ret = root / RET
    ret.mkdir()
    shutil.copy(ROOT / "tasks" / RET / "task.yaml", ret / "task.yaml")
    for name in ("corpus.csv", "queries.csv", "qrels.csv"):
        lines = (ROOT / "tasks" / RET / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (ret / name).write_text("".join(lines[: N_ROWS + 1]), encoding="utf-8")
    return root


def sts_pairs(root: Path) -> list[tuple[str, str, float]]:
    with (root / STS / "pairs.csv").open(encoding="utf-8") as f:
        return [(r["sentence1"], r["sentence2"], float(r["score"])) for r in csv.DictReader(f)]


class SaltedEmbedder(MockEmbedder):
    """A mock whose vectors depend on a salt too: several distinct, reproducible 'models'."""

    def __init__(self, salt: str, dim: int = MOCK_DIM):
        super().__init__(dim)
        self.salt = salt

    def embed(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        self.calls.append(list(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([salted_vector(self.salt, t, self.dim) for t in texts])


def salted_vector(salt: str, text: str, dim: int = MOCK_DIM) -> np.ndarray:
    return mock_vector(f"{salt}\x1f{text}", dim)


def salted_spec(salt: str) -> ModelSpec:
    emb = SaltedEmbedder(salt)
    return ModelSpec(alias=f"mock-{salt}", name=f"harness/mock-{salt}", revision="1", loader=lambda: emb,
                     languages=["eng-Latn"], embed_dim=emb.dim, settings={"dim": emb.dim, "salt": salt})


def expected_spearman(salt: str, prefix: str, pairs: list[tuple[str, str, float]]) -> float:
    """The STS main score the harness must report for this mock model and prefix, computed independently."""
    from scipy.stats import spearmanr

    def unit(t: str) -> np.ndarray:
        v = salted_vector(salt, prefix + t).astype(np.float64)
        return v / np.linalg.norm(v)

    cos = [float(unit(a) @ unit(b)) for a, b, _ in pairs]
    return float(spearmanr([g for _, _, g in pairs], cos).statistic)
