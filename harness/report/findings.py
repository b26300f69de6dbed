"""The project's findings, reproducible by one command (``make findings``): from an aggregated results folder,
write ``findings.md`` (the tables of the README's *Findings* section) and its figures into a folder
(``docs/findings/`` by default).

``python -m harness.report.findings RESULTS [OUT] [--tasks T,...] [--conditions C,...]``

What it writes, per model: every main-metric delta against ``none`` with its 95% interval and Holm-adjusted p
(significant ones marked), the origin's pair table, the language-split numbers and scatter plots side by side, and
the embedding shift (does the prefix move the embeddings at all?) as a table and a figure. It reads only the
parquet files and plots that ``harness aggregate`` wrote; nothing is run, nothing is installed.

May import: ``harness.core``, ``harness.results``, ``harness.prompts`` (condition order), ``harness.analysis``,
and its siblings in ``harness.report``.
"""

from __future__ import annotations

import argparse
import html
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from harness.analysis.folding import fold_deltas
from harness.analysis.tables import fmt_p, language_table
from harness.core import atomic
from harness.core import markdown as md
from harness.core.errors import HarnessError
from harness.prompts.conditions import BASELINE, order_conditions
from harness.report.figure_cache import cached
from harness.report.figures import delta_chart, pair_tables, shift_table
from harness.report.html import md_table, png_bytes, pyplot
from harness.report.plots import SUFFIX, draw_language_plots
from harness.results.schema import SHIFT_PREFIX, row_significant, significant

ALPHA = 0.05
DEFAULT_OUT = Path("docs/findings")


def _read(results_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = [results_dir / "leaderboard.parquet", results_dir / "deltas.parquet"]
    for p in paths:
        if not p.exists():
            raise HarnessError(f"{p}: not found; run `harness aggregate --results {results_dir}` first")
    board, d = (pd.read_parquet(p) for p in paths)
    return board, d


def _narrow(df: pd.DataFrame, tasks: list[str] | None, conditions: list[str] | None) -> pd.DataFrame:
    if tasks:
        df = df[df.task.isin(tasks)]
    if conditions:
        df = df[df.condition.isin(conditions)]
        if "baseline" in df.columns:
            df = df[df.baseline.isin(conditions)]
    return df


def delta_markdown(d: pd.DataFrame) -> str:
    """Per model, every main-metric delta against ``none`` (conditions that fed ``none``'s exact strings folded
    into one line), with its 95% CI, p and Holm-adjusted p; **bold** where significant (verdict)."""
    rows = []
    for f in fold_deltas(d[d.baseline == BASELINE]):
        r = f.row
        if f.identical:
            rows.append({"model": r.alias, "task · subset": f.tasks, "metric": "", "condition − none": f.label,
                         "Δ": "0 (identical inputs)", "95% CI": "", "p Holm": ""})
            continue
        sig = row_significant(r, ALPHA)
        ci = f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]" if pd.notna(r.ci_low) else "no CI"
        delta = f"{r.delta:+.3f}"
        rows.append({"model": r.alias, "task · subset": r.task if r.subset == "default" else f"{r.task} · {r.subset}",
                     "metric": r.metric, "condition − none": f.label, "Δ": f"**{delta}**" if sig else delta,
                     "95% CI": ci, "p Holm": fmt_p(r.p_holm) + (" *" if sig else "")})
    return md_table(pd.DataFrame(rows)) if rows else "(no deltas)"


def significance_summary(d: pd.DataFrame) -> str:
    """One line per model: how many tested deltas against ``none`` are significant after Holm, up and down."""
    main = d[(d.kind == "mteb") & d.is_main & (d.baseline == BASELINE) & d.p_value.notna()]
    lines = []
    for alias, g in main.groupby("alias", sort=True):
        sig = g[significant(g, ALPHA)]
        lines.append(f"- **{md.text(alias)}**: {len(sig)} of {len(g)} tested deltas significant "
                     f"(Holm within the model, p < {ALPHA} beyond its Monte-Carlo error): "
                     f"{int((sig.delta > 0).sum())} up, {int((sig.delta < 0).sum())} down.")
    return "\n".join(lines)


@cached
def shift_figure(board: pd.DataFrame) -> bytes | None:
    """Mean embedding shift (cosine distance between a text's embedding with and without the condition's prefix)
    per model and condition, one panel per task · role."""
    rows = board[(board.kind == "probe") & board.metric.str.endswith("/mean")
                 & board.metric.str.startswith(SHIFT_PREFIX)]
    if rows.empty:
        return None
    rows = rows.assign(role=rows.metric.str[len(SHIFT_PREFIX):].str.split("/").str[0])
    rows = rows.assign(panel=[t if s == "default" else f"{t} · {s}" for t, s in zip(rows.task, rows.subset,
                                                                                    strict=True)])
    panels = sorted({(p, r) for p, r in zip(rows.panel, rows.role, strict=True)})
    models = sorted(set(rows.alias))
    conds = [c for c in order_conditions(set(rows.condition)) if c != BASELINE]
    plt = pyplot()
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.6 * nrow), squeeze=False, sharex=True)
    colours = plt.get_cmap("tab10")
    width = 0.8 / max(1, len(conds))
    for ax, (panel, role) in zip(axes.flat, panels, strict=False):
        sub = rows[(rows.panel == panel) & (rows.role == role)]
        for ci, cond in enumerate(conds):
            vals = [sub[(sub.alias == m) & (sub.condition == cond)].score for m in models]
            ys = [float(v.iloc[0]) if len(v) else 0.0 for v in vals]
            ax.bar([i + (ci - (len(conds) - 1) / 2) * width for i in range(len(models))], ys, width=width,
                   color=colours(ci % 10), label=cond)
        ax.set_title(f"{panel} ({role})", fontsize=9)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, fontsize=8, rotation=15)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=8, frameon=False)
    fig.supylabel("mean cosine distance to the bare text's embedding", fontsize=9)
    fig.tight_layout()
    return png_bytes(fig)


def write(results_dir: Path, out: Path = DEFAULT_OUT, *, tasks: list[str] | None = None,
          conditions: list[str] | None = None) -> list[Path]:
    """Write ``findings.md`` and its figures into ``out``; returns the paths written."""
    board, d = _read(results_dir)
    board, d = _narrow(board, tasks, conditions), _narrow(d, tasks, conditions)
    if board.empty:
        raise HarnessError(f"{results_dir}: no results for the tasks/conditions asked for")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    parts = ["# Findings (generated by `make findings`; do not edit by hand)", "",
             f"Results: {md.code(results_dir)}; models: {md.text(', '.join(sorted(set(board.alias))))}; conditions: "
             f"{md.text(', '.join(order_conditions(set(board.condition))))}.", "",
             "## Significant deltas", "", significance_summary(d), "", delta_markdown(d), ""]
    chart = delta_chart(d[d.baseline == BASELINE])
    if chart is not None:
        atomic.write_bytes(out / chart.name, chart.png)  # deltas.svg
        (out / "deltas.png").unlink(missing_ok=True)  # its name before the chart was an SVG: not left stale
        written.append(out / chart.name)
        parts += [f"![deltas]({chart.name})", ""]
    parts += ["## The origin's pairs (cosine)", ""]
    for title, table in pair_tables(board):
        parts += [f"**{md.text(title)}**", "", md_table(table), ""]
    parts += ["## Language split (top principal components of German and English sentences)", "",
              md.fence(language_table(board)), ""]
    images = []
    for plot in draw_language_plots(results_dir):
        alias_plot = plot.name
        if alias_plot.removesuffix(SUFFIX).split("@")[0] not in {a.replace("/", "__") for a in set(board.alias)}:
            continue
        shutil.copyfile(plot, out / alias_plot)
        written.append(out / alias_plot)
        images.append(f'<img src="{html.escape(quote(alias_plot), quote=True)}" width="32%">')
    parts += [" ".join(images), ""]
    shift = shift_table(board)
    parts += ["## Embedding shift (cosine distance between a text's embedding with and without the prefix)", "",
              md_table(shift) if not shift.empty else "(no embedding-shift probes)", ""]
    png = shift_figure(board)
    if png is not None:
        atomic.write_bytes(out / "embedding_shift.png", png)
        written.append(out / "embedding_shift.png")
        parts += ["![embedding shift](embedding_shift.png)", ""]
    atomic.write_text(out / "findings.md", "\n".join(parts))
    return [out / "findings.md", *written]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.report.findings", description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path)
    p.add_argument("out", type=Path, nargs="?", default=DEFAULT_OUT)
    p.add_argument("--tasks", type=lambda s: [t for t in s.split(",") if t], default=None)
    p.add_argument("--conditions", type=lambda s: [c for c in s.split(",") if c], default=None)
    args = p.parse_args(argv)
    try:
        paths = write(args.results, args.out, tasks=args.tasks, conditions=args.conditions)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
