"""Probes: values the harness measures on a cell's embeddings besides mteb's scores.

A probe is a function ``probe(ctx: ProbeContext) -> list[ProbeValue]``. Its rows are stored in the cell's
sidecar and become ``kind="probe"`` rows of the leaderboard (and so get deltas like any metric). A probe that
needs to keep more than numbers (e.g. 2-D coordinates for a plot) writes ``ctx.artifact(name)`` atomically;
aggregate/report read those files, never the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.tasks import LocalTask, STSSpec

if TYPE_CHECKING:
    from harness.encoder import PromptedEncoder


@dataclass(frozen=True)
class ProbeValue:
    subset: str
    metric: str
    score: float
    n_items: int
    split: str = "test"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProbeContext:
    """What a probe may use: the task, the cell's encoder (prefixes applied by the caller), the exact prefixes
    per role, the loaded mteb dataset ({subset: {split: data}}) and where the cell keeps its files."""

    task: LocalTask
    encoder: PromptedEncoder
    prompts: dict[str, str]
    dataset: Any
    cell_path: Path  # the sidecar path; artifacts go beside it

    def artifact(self, name: str) -> Path:
        return self.cell_path.with_name(f"{self.cell_path.stem}.{name}")


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


def language_split_probe(ctx: ProbeContext) -> list[ProbeValue]:
    """The language-split probe (harness/language_probe.py); imported lazily, it imports this module."""
    from harness.language_probe import language_probe

    return language_probe(ctx)


PROBES = (pair_probe, language_split_probe)


def run_probes(ctx: ProbeContext) -> list[ProbeValue]:
    return [v for probe in PROBES for v in probe(ctx)]
