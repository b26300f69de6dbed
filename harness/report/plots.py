"""Figures drawn at aggregate time from files on disk (never by re-running a model).

Language split: one PNG per model, ``<results>/plots/<alias>.language_split.png``: the sentences of both languages
on the top-2 principal components, one panel per condition (``none`` first, then the others), a sample of
translation pairs joined by faint lines. Drawn from the language probe's parquet artifacts
(``cells/<model>/<revision>/<condition>/<Task>.language_pca*.parquet``) and the cells' sidecars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core import atomic
from harness.prompts.conditions import condition_order
from harness.results import layout
from harness.results.layout import LANGUAGE_ARTIFACT as ARTIFACT
from harness.results.layout import LANGUAGE_META_KEY as META_KEY

PLOTS_DIR = "plots"
SUFFIX = ".language_split.png"
LINE_SAMPLE = 150
SEED = 0
COLOURS = ("#1f77b4", "#d62728")


@dataclass
class Panel:
    alias: str
    model: str
    revision: str
    condition: str
    task: str
    label: str  # subset/split when not default/test
    coords: pd.DataFrame
    meta: dict[str, Any]


def _panels(results_dir: Path) -> list[Panel]:
    out = []
    stale = layout.stale_sidecars(results_dir)
    for path in sorted((results_dir / layout.CELLS_DIR).glob(f"*/*/*/*.{ARTIFACT}*.parquet")):
        task = path.name.split(".", 1)[0]
        sidecar = path.with_name(f"{task}.json")
        if not sidecar.exists():  # an artifact without its cell (interrupted run): not a result
            continue
        if str(sidecar.relative_to(results_dir)) in stale:  # inputs changed since it ran: left out
            continue
        side = json.loads(sidecar.read_text(encoding="utf-8"))
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
        sub, split = meta.get("subset", "default"), meta.get("split", "test")
        label = "" if (sub, split) == ("default", "test") else f" {sub}/{split}"
        out.append(Panel(side["alias"], side["model"], side["revision"], side["condition"], task, label,
                         table.to_pandas(), meta))
    return out


def _draw(panels: list[Panel], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted({(p.task, p.label) for p in panels})
    conds = sorted({p.condition for p in panels}, key=condition_order)
    fig, axes = plt.subplots(len(rows), len(conds), figsize=(5.8 * len(conds), 5.2 * len(rows)), squeeze=False)
    by_key = {(p.task, p.label, p.condition): p for p in panels}
    for r, (task, label) in enumerate(rows):
        for c, cond in enumerate(conds):
            ax = axes[r][c]
            p = by_key.get((task, label, cond))
            if p is None:
                ax.set_axis_off()
                ax.set_title(f"{cond}: no result")
                continue
            df, meta = p.coords, p.meta
            langs = list(meta.get("languages") or sorted(df["language"].unique()))
            wide = df.pivot_table(index="pair", columns="language", values=["pc1", "pc2"], aggfunc="first")
            sample = wide.sample(n=min(LINE_SAMPLE, len(wide)), random_state=SEED)
            a, b = langs[0], langs[1]
            segs = np.stack([sample[("pc1", a)], sample[("pc2", a)], sample[("pc1", b)], sample[("pc2", b)]], 1)
            ax.plot(segs[:, [0, 2]].T, segs[:, [1, 3]].T, color="0.4", alpha=0.18, linewidth=0.6, zorder=1)
            for lang, colour in zip(langs, COLOURS, strict=False):
                pts = df[df["language"] == lang]
                ax.scatter(pts["pc1"], pts["pc2"], s=5, alpha=0.35, color=colour, label=f"{lang} ({len(pts)})",
                           linewidths=0, zorder=2)
            ex = list(meta.get("explained", [float("nan")] * 2))
            acc = dict(meta.get("separation_accuracy", {}))
            sil = dict(meta.get("silhouette", {}))
            prefix = str(meta.get("prefix", ""))
            shown = repr(prefix[:45] + "…") if len(prefix) > 45 else (repr(prefix) if prefix else "(none)")
            nan = float("nan")
            ax.set_title(
                f"{cond}{label}\n"
                f"PC1+PC2 = {sum(ex):.0%} of variance · language probe acc@2 {acc.get('2', nan):.2f}, "
                f"acc@10 {acc.get('10', nan):.2f}\n"
                f"silhouette@2 {sil.get('2', nan):.2f} · translation alignment "
                f"{float(meta.get('translation_alignment', nan)):.3f}\nprefix: {shown}",
                fontsize=9,
            )
            ax.set_xlabel(f"PC1 ({ex[0]:.1%})")
            ax.set_ylabel(f"PC2 ({ex[1]:.1%})")
            ax.set_aspect("equal", adjustable="datalim")
            ax.grid(alpha=0.2)
            ax.legend(loc="upper right", fontsize=8, markerscale=2.5, framealpha=0.8)
    first = panels[0]
    role = first.meta.get("role", "query")
    fig.suptitle(f"{first.alias} — {first.model} ({first.revision})\n{', '.join(t for t, _ in rows)}: both "
                 f"languages on the top-2 principal components ({role} strings); grey lines join "
                 f"{LINE_SAMPLE} sampled translation pairs", fontsize=10)
    fig.tight_layout()
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def draw_language_plots(results_dir: Path) -> list[Path]:
    """One PNG per model (alias; revision added when an alias has several) from the artifacts on disk."""
    panels = _panels(results_dir)
    groups: dict[tuple[str, str], list[Panel]] = {}
    for p in panels:
        groups.setdefault((p.alias, p.revision), []).append(p)
    revisions: dict[str, int] = {}
    for alias, _ in groups:
        revisions[alias] = revisions.get(alias, 0) + 1
    written = []
    for (alias, revision), group in sorted(groups.items()):
        name = alias if revisions[alias] == 1 else f"{alias}@{revision}"
        path = results_dir / PLOTS_DIR / f"{name.replace('/', '__')}{SUFFIX}"
        _draw(group, path)
        written.append(path)
    return written


def list_plots(results_dir: Path) -> list[Path]:
    return sorted((results_dir / PLOTS_DIR).glob("*.png"))
