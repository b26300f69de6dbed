"""Figures drawn at aggregate time from files on disk (never by re-running a model).

Language split: one PNG per model, ``<results>/plots/<alias>.language_split.png``: the sentences of both languages
on the top-2 principal components, one panel per condition (``none`` first, then the others; conditions that fed
the same strings share a panel, e.g. ``none = format``), two panels per row so the figure stays legible at page
width, a sample of translation pairs joined by faint lines. Each panel is its own PCA: axes are not comparable
across panels, and the figure says so. Drawn from the language probe's parquet artifacts
(``cells/<model>/<revision>/<condition>/<Task>.language_pca*.parquet``) and the cells' sidecars.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core import atomic
from harness.prompts.conditions import condition_order
from harness.report.figure_cache import cached
from harness.report.html import pyplot
from harness.results import layout
from harness.results.layout import LANGUAGE_ARTIFACT as ARTIFACT
from harness.results.layout import LANGUAGE_META_KEY as META_KEY

log = logging.getLogger(__name__)
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
    prompts_sha256: str = ""


def _panels(results_dir: Path, outputs: Path | None = None) -> list[Panel]:
    out = []
    stale = layout.left_out_sidecars(outputs or results_dir)
    for path in sorted((results_dir / layout.CELLS_DIR).glob(f"*/*/*/*.{ARTIFACT}*.parquet")):
        task = path.name.split(".", 1)[0]
        sidecar = path.with_name(f"{task}.json")
        if not sidecar.exists():  # an artifact without its cell (interrupted run): not a result
            continue
        if str(sidecar.relative_to(results_dir)) in stale:  # inputs changed since it ran: left out
            continue
        try:
            side = layout.read_sidecar(sidecar)
        except layout.BadCell:  # aggregate lists it as unreadable
            continue
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # a cut-short artifact: no panel, the rest are drawn
            log.warning("%s: unreadable language-probe artifact (%s); no panel", path, e.__class__.__name__)
            continue
        meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
        sub, split = meta.get("subset", "default"), meta.get("split", "test")
        label = "" if (sub, split) == ("default", "test") else f" {sub}/{split}"
        out.append(Panel(side["alias"], side["model"], side["revision"], side["condition"], task, label,
                         table.to_pandas(), meta, str(side.get("prompts_sha256", ""))))
    return out


COLUMNS = 2  # panels per row: each stays ~5 inches wide, legible when the figure is shown at page width


def _groups(panels: list[Panel]) -> list[tuple[str, str, list[str], Panel]]:
    """(task, label, conditions, panel) per task/subset row, conditions with identical inputs folded into one."""
    out = []
    for task, label in sorted({(p.task, p.label) for p in panels}):
        row = sorted((p for p in panels if (p.task, p.label) == (task, label)), key=lambda p: condition_order(
            p.condition))
        by_sha: dict[str, list[Panel]] = {}
        for p in row:
            by_sha.setdefault(p.prompts_sha256 or p.condition, []).append(p)
        out += [(task, label, [p.condition for p in g], g[0]) for g in by_sha.values()]
    return out


def _panel(ax: Any, conds: list[str], label: str, p: Panel) -> None:
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
    shown = repr(prefix[:40] + "…") if len(prefix) > 40 else (repr(prefix) if prefix else "(none)")
    nan = float("nan")
    ax.set_title(
        f"{' = '.join(conds)}{label}\n"
        f"language accuracy @2 PCs {acc.get('2', nan):.2f}, @10 {acc.get('10', nan):.2f} · "
        f"silhouette {sil.get('2', nan):.2f}\n"
        f"translation alignment {float(meta.get('translation_alignment', nan)):.3f} · PC1+PC2 {sum(ex):.0%} of "
        f"variance\nprefix: {shown}",
        fontsize=9.5, loc="left")
    ax.set_xlabel(f"PC1 of this panel ({ex[0]:.1%})", fontsize=9)
    ax.set_ylabel(f"PC2 of this panel ({ex[1]:.1%})", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.2)
    ax.legend(loc="upper right", fontsize=9, markerscale=3, framealpha=0.85)


def _draw(panels: list[Panel], path: Path) -> None:
    atomic.write_bytes(path, _render(panels))


@cached
def _render(panels: list[Panel]) -> bytes:
    """The PNG of one model's panels (read back from the figure cache when these panels drew it before)."""
    plt = pyplot()
    groups = _groups(panels)
    rows_of_task: dict[tuple[str, str], list[tuple[list[str], Panel]]] = {}
    for task, label, conds, p in groups:
        rows_of_task.setdefault((task, label), []).append((conds, p))
    n_rows = sum(-(-len(v) // COLUMNS) for v in rows_of_task.values())
    cols = min(COLUMNS, max(len(v) for v in rows_of_task.values()))
    fig, axes = plt.subplots(n_rows, cols, figsize=(5.4 * cols, 5.6 * n_rows), squeeze=False)
    r = 0
    for (_task, label), items in rows_of_task.items():
        for i in range(-(-len(items) // COLUMNS) * cols):
            ax = axes[r + i // cols][i % cols]
            if i < len(items):
                _panel(ax, items[i][0], label, items[i][1])
            else:
                ax.set_axis_off()
        r += -(-len(items) // COLUMNS)
    first = panels[0]
    role = first.meta.get("role", "query")
    tasks = ", ".join(sorted({t for t, _ in rows_of_task}))
    fig.suptitle(f"{first.alias} — {first.model} ({first.revision}) — {tasks}\nboth languages on the top-2 "
                 f"principal components ({role} strings); grey lines join {LINE_SAMPLE} sampled translation pairs.\n"
                 "Each panel is its own PCA of that condition's embeddings: axes are not comparable across panels.",
                 fontsize=10.5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def draw_language_plots(results_dir: Path, out: Path | None = None) -> list[Path]:
    """One PNG per model (alias; revision added when an alias has several) from the artifacts on disk, under
    ``<out>/plots`` (``out``: the results folder unless aggregate stages its outputs)."""
    out = out or results_dir
    panels = _panels(results_dir, out)
    groups: dict[tuple[str, str], list[Panel]] = {}
    for p in panels:
        groups.setdefault((p.alias, p.revision), []).append(p)
    revisions: dict[str, int] = {}
    for alias, _ in groups:
        revisions[alias] = revisions.get(alias, 0) + 1
    written = []
    for (alias, revision), group in sorted(groups.items()):
        name = alias if revisions[alias] == 1 else f"{alias}@{revision}"
        path = out / PLOTS_DIR / f"{name.replace('/', '__')}{SUFFIX}"
        _draw(group, path)
        written.append(path)
    return written


def list_plots(results_dir: Path) -> list[Path]:
    return sorted((results_dir / PLOTS_DIR).glob("*.png"))
