"""The report: ``<results>/report.html`` (self-contained: CSS inline, every image embedded as base64) and
``<results>/report.md`` (images beside it under ``report_files/``), rebuilt by ``harness aggregate``.

Everything is drawn from files on disk (leaderboard, deltas, the cells' sidecars and probe artifacts, the PNGs
under ``plots/``); a model is never re-run. Sections:

1. the grid (models, conditions, tasks, cells);
2. main-metric deltas with paired-bootstrap 95% CIs, permutation p and Holm-adjusted p, as a table and as a chart
   with CI whiskers per model × task;
3. the origin's pair table per model (``cosine:a|b`` and ``claim:...`` probe rows);
4. word × word cosine heatmaps per condition for the STS task(s) with ``report_pairs`` (from the cells'
   ``<Task>.cosines.parquet`` artifacts), plus each condition's difference to ``none``;
5. the language-split scatter plots (``plots/*.language_split.png``, drawn by :mod:`harness.plots`) and numbers;
6. the embedding shift (cosine distance of each text's embedding with and without the prefix);
7. the exact instructions every cell used (from the sidecars' ``prompts``);
8. versions, date and the statistics' settings.
"""

from __future__ import annotations

import base64
import html
import io
import json
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import atomic, stats
from harness.probes import COSINES_ARTIFACT, SHIFT_PREFIX
from harness.results import BASELINE, FORMAT_BASELINE, IDENTICAL, fmt_p

HTML_NAME = "report.html"
MD_NAME = "report.md"
FILES_DIR = "report_files"
LANGUAGE_PLOT_SUFFIX = ".language_split.png"
ALPHA = 0.05
DPI = 100


@dataclass
class Figure:
    name: str  # file name under report_files/
    title: str
    png: bytes

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Section:
    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)

    def para(self, text: str) -> None:
        self.html.append(f"<p>{html.escape(text)}</p>")
        self.md.append(text + "\n")

    def table(self, df: pd.DataFrame, *, classes: list[str] | None = None, code_cols: tuple[str, ...] = ()) -> None:
        self.html.append(_html_table(df, classes=classes, code_cols=code_cols))
        self.md.append(_md_table(df, code_cols=code_cols) + "\n")

    def figure(self, fig: Figure) -> None:
        self.html.append(f'<figure><img alt="{html.escape(fig.title)}" src="{fig.data_uri()}">'
                         f"<figcaption>{html.escape(fig.title)}</figcaption></figure>")
        self.md.append(f"![{fig.title}]({FILES_DIR}/{fig.name})\n")

    def pre(self, text: str) -> None:
        self.html.append(f"<pre>{html.escape(text)}</pre>")
        self.md.append("```\n" + text + "\n```\n")


# -- tables -----------------------------------------------------------------------------------------------------
def _cell_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "—"
    return str(v)


def _html_table(df: pd.DataFrame, *, classes: list[str] | None = None, code_cols: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for i, (_, row) in enumerate(df.iterrows()):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        cells = []
        for c in df.columns:
            text = html.escape(_cell_text(row[c]))
            td = '<td class="wrap">' if len(text) > 60 else "<td>"
            cells.append(f"{td}<code>{text}</code></td>" if c in code_cols else f"{td}{text}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _md_table(df: pd.DataFrame, *, code_cols: tuple[str, ...] = ()) -> str:
    def esc(v: Any, col: str) -> str:
        t = _cell_text(v).replace("|", "\\|").replace("\n", "\\n")
        return f"`{t}`" if col in code_cols and t != "—" else t

    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(esc(row[c], c) for c in df.columns) + " |" for _, row in df.iterrows()]
    return "\n".join(lines)


def _order_conditions(conds: set[str] | list[str]) -> list[str]:
    conds = set(conds)
    first = [c for c in (BASELINE, FORMAT_BASELINE) if c in conds]
    return first + sorted(conds - set(first))


# -- inputs -----------------------------------------------------------------------------------------------------
def _sidecars(results_dir: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((results_dir / "cells").glob("*/*/*/*.json")):
        side = json.loads(path.read_text(encoding="utf-8"))
        side["_path"] = path
        out.append(side)
    return out


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


# -- section 2: deltas ------------------------------------------------------------------------------------------
def _main_deltas(d: pd.DataFrame) -> pd.DataFrame:
    main = d[(d.kind == "mteb") & d.is_main].copy()
    return main.sort_values(["alias", "task", "subset", "baseline", "condition"], ignore_index=True)


def delta_rows(d: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    main = _main_deltas(d)
    rows, classes = [], []
    for r in main.itertuples():
        ci = f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if pd.notna(r.ci_low) else "—"
        ci = "identical inputs" if r.p_method == IDENTICAL else ci
        sig = pd.notna(r.p_holm) and r.p_holm < ALPHA
        rows.append({"model": r.alias, "task": r.task, "subset": r.subset, "metric": r.metric,
                     "condition − baseline": f"{r.condition} − {r.baseline}",
                     "baseline score": f"{r.baseline_score:.4f}", "score": f"{r.score:.4f}",
                     "Δ": f"{r.delta:+.4f}", "95% CI": ci, "p": fmt_p(r.p_value),
                     "p Holm": fmt_p(r.p_holm) + (" *" if sig else ""),
                     "n": "—" if pd.isna(r.n_items) else str(int(r.n_items))})
        classes.append(("sig-up" if r.delta > 0 else "sig-down") if sig else "")
    return pd.DataFrame(rows), classes


def delta_chart(d: pd.DataFrame) -> Figure | None:
    """Per model (one panel each, per baseline): each task/subset's delta per condition, with CI whiskers;
    filled markers where the Holm-adjusted p is below 0.05."""
    main = _main_deltas(d)
    main = main[main.p_method != IDENTICAL]  # zero by construction: nothing to show
    if main.empty:
        return None
    plt = _plt()
    panels = sorted({(r.alias, r.baseline) for r in main.itertuples()},
                    key=lambda k: (k[0], k[1] != BASELINE, k[1]))
    rows_of = {p: sorted({(r.task, r.subset, r.metric) for r in main.itertuples() if (r.alias, r.baseline) == p})
               for p in panels}
    height = max(2.6, 0.55 * max(len(v) * max(1, main.condition.nunique()) ** 0.5 for v in rows_of.values()) + 1.4)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), height), squeeze=False)
    conds = _order_conditions(set(main.condition))
    colours = plt.get_cmap("tab10")
    for ax, panel in zip(axes[0], panels, strict=True):
        labels = rows_of[panel]
        sub = main[(main.alias == panel[0]) & (main.baseline == panel[1])]
        present = [c for c in conds if c in set(sub.condition)]
        width = 0.7 / max(1, len(present))
        for ci, cond in enumerate(present):
            colour = colours(conds.index(cond) % 10)
            for yi, (task, subset, metric) in enumerate(labels):
                r = sub[(sub.task == task) & (sub.subset == subset) & (sub.metric == metric) & (sub.condition == cond)]
                if r.empty:
                    continue
                x = r.iloc[0]
                y = yi + (ci - (len(present) - 1) / 2) * width
                if pd.notna(x.ci_low):
                    ax.errorbar(x.delta, y, xerr=[[x.delta - x.ci_low], [x.ci_high - x.delta]], fmt="none",
                                ecolor=colour, elinewidth=1.6, capsize=4)
                sig = pd.notna(x.p_holm) and x.p_holm < ALPHA
                ax.plot(x.delta, y, "o", color=colour, markersize=7, markerfacecolor=colour if sig else "white",
                        markeredgewidth=1.6, label=cond)
        ax.axvline(0, color="0.3", linewidth=0.8)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels([f"{t}\n{s} · {m}" if s != "default" else f"{t}\n{m}" for t, s, m in labels], fontsize=8)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel(f"Δ main score (condition − {panel[1]})")
        ax.set_title(f"{panel[0]}: Δ vs {panel[1]} with 95% CI", fontsize=10)
        handles, names = ax.get_legend_handles_labels()
        uniq = dict(zip(names, handles, strict=True))
        ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="best")
    fig.suptitle("Deltas with paired-bootstrap 95% CIs (filled: Holm-adjusted p < 0.05)", fontsize=11)
    fig.tight_layout()
    return Figure("deltas.png", "Deltas with 95% CIs per model × task", _png(fig))


# -- section 3: pair table --------------------------------------------------------------------------------------
def pair_tables(board: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    probes = board[(board.kind == "probe") & (board.subset == "pairs")]
    out = []
    for (alias, task), g in probes.groupby(["alias", "task"], sort=True):
        wide = g.pivot_table(index="metric", columns="condition", values="score", aggfunc="first")
        conds = _order_conditions(list(wide.columns))
        rows = []
        for metric, r in wide.iterrows():
            kind, name = str(metric).split(":", 1)
            if kind == "cosine":
                rows.append({"pair": name.replace("|", " – "), **{c: f"{r[c]:.4f}" for c in conds}})
            else:
                rows.append({"pair": "claim: " + name.replace("|", " – "),
                             **{c: ("yes" if r[c] else "no") for c in conds}})
        out.append((f"{alias} — {task}", pd.DataFrame(rows)))
    return out


# -- section 4: word × word heatmaps ---------------------------------------------------------------------------
def _cosine_matrices(results_dir: Path, sides: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(alias, revision, task) → {condition: (texts, matrix)} from the cells' cosines artifacts."""
    import pyarrow.parquet as pq

    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for side in sides:
        path = side["_path"].with_name(f"{side['task']}.{COSINES_ARTIFACT}")
        if not path.exists():
            continue
        t = pq.read_table(path).to_pandas()
        n = int(t["i"].max()) + 1
        texts = t.sort_values("i").drop_duplicates("i")["text_a"].tolist()
        m = np.full((n, n), np.nan)
        m[t["i"].to_numpy(), t["j"].to_numpy()] = t["cosine"].to_numpy()
        out.setdefault((side["alias"], side["revision"], side["task"]), {})[side["condition"]] = (texts, m)
    return out


def _identical_groups(by_cond: dict[str, Any]) -> list[list[str]]:
    """Conditions grouped by identical matrices (e.g. none = format = official for a model without prefixes)."""
    groups: list[list[str]] = []
    for cond in _order_conditions(list(by_cond)):
        words, m = by_cond[cond]
        for g in groups:
            w0, m0 = by_cond[g[0]]
            if w0 == words and np.array_equal(m0, m):
                g.append(cond)
                break
        else:
            groups.append([cond])
    return groups


def heatmap(key: tuple[str, str, str], by_cond: dict[str, Any]) -> Figure:
    """Top row: the cosine matrix per condition (conditions with identical matrices share a panel, titled
    ``none = format``); bottom row: each other condition minus ``none`` (diverging scale, symmetric)."""
    plt = _plt()
    groups = _identical_groups(by_cond)
    base = next((g for g in groups if BASELINE in g), None)
    diffs = [g for g in groups if base is not None and g is not base and by_cond[g[0]][0] == by_cond[base[0]][0]]
    cols = max(len(groups), len(diffs))
    n_rows = 2 if diffs else 1
    texts = by_cond[groups[0][0]][0]
    size = max(4.5, 0.16 * len(texts) + 2.0)
    fig, axes = plt.subplots(n_rows, cols, figsize=(size * cols, size * n_rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    mats = [by_cond[g[0]][1] for g in groups]
    off_diag = np.concatenate([m[~np.eye(len(m), dtype=bool)] for m in mats])
    vmin, vmax = float(np.nanmin(off_diag)), 1.0
    for ax, g in zip(axes[0], groups, strict=False):
        words, m = by_cond[g[0]]
        ax.set_axis_on()
        im = ax.imshow(m, cmap="viridis", vmin=vmin, vmax=vmax)
        _ticks(ax, words)
        ax.set_title(f"{' = '.join(g)}: cosine", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    for ax, g in zip(axes[-1], diffs, strict=False):
        assert base is not None
        delta = by_cond[g[0]][1] - by_cond[base[0]][1]
        lim = float(np.nanmax(np.abs(delta))) or 1.0
        ax.set_axis_on()
        im = ax.imshow(delta, cmap="RdBu_r", vmin=-lim, vmax=lim)
        _ticks(ax, by_cond[g[0]][0])
        ax.set_title(f"{' = '.join(g)} − {BASELINE}: Δ cosine", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    alias, revision, task = key
    fig.suptitle(f"{alias} ({revision}) — {task}: word × word cosine per condition", fontsize=11)
    fig.tight_layout()
    return Figure(_safe(f"{alias}@{revision}.{task}.cosines.png"), f"{alias} — {task}: word × word cosines",
                  _png(fig))


def _ticks(ax: Any, words: list[str]) -> None:
    ax.set_xticks(range(len(words)))
    ax.set_yticks(range(len(words)))
    fs = 7 if len(words) <= 40 else 5
    ax.set_xticklabels(words, rotation=90, fontsize=fs)
    ax.set_yticklabels(words, fontsize=fs)


# -- section 6: embedding shift ---------------------------------------------------------------------------------
def shift_table(board: pd.DataFrame) -> pd.DataFrame:
    rows = board[(board.kind == "probe") & board.metric.str.startswith(SHIFT_PREFIX)]
    if rows.empty:
        return pd.DataFrame()
    parts = rows.metric.str[len(SHIFT_PREFIX):].str.split("/", expand=True)
    rows = rows.assign(role=parts[0], stat=parts[1])
    wide = rows.pivot_table(index=["alias", "task", "subset", "split", "role", "condition"], columns="stat",
                            values="score", aggfunc="first")
    n = rows.groupby(["alias", "task", "subset", "split", "role", "condition"]).n_items.first()
    conds = _order_conditions(set(rows.condition))
    out = []
    for alias, task, subset, split, role in sorted({k[:5] for k in wide.index}):
        entry = {"model": alias, "task": task, "subset": subset if split == "test" else f"{subset}/{split}",
                 "role": role}
        texts = "—"
        for c in conds:
            key = (alias, task, subset, split, role, c)
            entry[c] = f"{wide.loc[key, 'mean']:.4f} ± {wide.loc[key, 'std']:.4f}" if key in wide.index else "—"
            if key in n.index:
                texts = str(int(n[key]))
        entry["texts"] = texts
        out.append(entry)
    return pd.DataFrame(out)


# -- section 7: instructions ------------------------------------------------------------------------------------
def instruction_table(sides: list[dict[str, Any]]) -> pd.DataFrame:
    rank = {c: i for i, c in enumerate(_order_conditions({s["condition"] for s in sides}))}
    rows = []
    for s in sorted(sides, key=lambda s: (s["alias"], rank[s["condition"]], s["task"])):
        for role, prefix in sorted(s.get("prompts", {}).items()):
            if s["task_type"] != "Retrieval" and role == "document":
                continue  # symmetric tasks feed every text the query side
            rows.append({"model": s["alias"], "condition": s["condition"], "task": s["task"],
                         "role": role if s["task_type"] == "Retrieval" else "both", "exact prefix": repr(prefix),
                         "sha256": str(s.get("prompts_sha256", ""))[:12]})
    return pd.DataFrame(rows)


# -- section 8: versions ----------------------------------------------------------------------------------------
def versions(sides: list[dict[str, Any]]) -> pd.DataFrame:
    def v(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "—"

    created = sorted(s["created_at"] for s in sides if s.get("created_at"))
    rows = [
        ("report generated", datetime.now(UTC).isoformat(timespec="seconds")),
        ("cells evaluated", f"{created[0]} … {created[-1]}" if created else "—"),
        ("mteb (cells)", ", ".join(sorted({s.get("mteb_version", "?") for s in sides}))),
        ("harness (cells)", ", ".join(sorted({s.get("harness_version", "?") for s in sides}))),
        ("models", "; ".join(sorted({f"{s['alias']} = {s['model']} @ {s['revision']}" for s in sides}))),
        ("python", platform.python_version()),
        *[(pkg, v(pkg)) for pkg in ("mteb", "numpy", "scipy", "pandas", "pyarrow", "matplotlib",
                                    "sentence-transformers", "torch")],
        ("statistics", f"paired bootstrap {stats.N_BOOTSTRAP} resamples (percentile 95% CI), paired permutation "
                       f"test {stats.N_PERMUTATIONS} swaps (exact enumeration when 2^n ≤ that), Holm across the "
                       f"grid; seeds derived from each delta's identity (base seed {stats.SEED})"),
    ]
    return pd.DataFrame(rows, columns=["what", "value"])


# -- assembly ---------------------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
h3{font-size:1.05rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.86rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;white-space:nowrap}
.scroll{overflow-x:auto}
th{background:#f4f4f4}td.wrap{white-space:normal;min-width:24rem}
tr.sig-up td{background:#e6f4ea}tr.sig-down td{background:#fde8e8}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.82rem;white-space:pre-wrap}
pre{background:#f7f7f7;padding:.6rem;overflow-x:auto;font-size:.8rem}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}.muted{color:#666;font-size:.9rem}
nav a{margin-right:.8rem}
"""


def build(results_dir: Path, board: pd.DataFrame | None = None, d: pd.DataFrame | None = None
          ) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (+ ``report_files/*.png``) under ``results_dir``."""
    board = board if board is not None else pd.read_parquet(results_dir / "leaderboard.parquet")
    d = d if d is not None else pd.read_parquet(results_dir / "deltas.parquet")
    sides = _sidecars(results_dir)
    figures: list[Figure] = []
    sections: list[Section] = []

    grid = Section("Grid")
    models = sorted({(s["alias"], s["model"], s["revision"]) for s in sides})
    grid.para(f"{len(sides)} cells: {len(models)} model(s) × {len({s['condition'] for s in sides})} condition(s) "
              f"× {len({s['task'] for s in sides})} task(s).")
    grid.table(pd.DataFrame([
        ("models", "; ".join(f"{a} ({m} @ {r})" for a, m, r in models)),
        ("conditions", ", ".join(_order_conditions({s["condition"] for s in sides}))),
        ("tasks", ", ".join(sorted({s["task"] for s in sides}))),
    ], columns=["what", "value"]))
    sections.append(grid)

    sec = Section("Deltas with 95% confidence intervals")
    sec.para("Main score of each task under each condition minus the same model's score under the baseline (none; "
             "and format where the model's format condition adds prefixes). 95% CI: paired bootstrap over items "
             "(the same resampled items for both conditions); p: paired permutation test (the two conditions' "
             "predictions swapped per item); p Holm: adjusted across every delta of the grid; * and colour: "
             f"p Holm < {ALPHA}. Statistics are recomputed from the item-level predictions and used only where "
             "the recomputation reproduces mteb's score on the full set.")
    table, classes = delta_rows(d)
    if table.empty:
        sec.para("No deltas: run a condition together with its baseline.")
    else:
        sec.table(table, classes=classes)
        chart = delta_chart(d)
        if chart is not None:
            figures.append(chart)
            sec.figure(chart)
    sections.append(sec)

    sec = Section("Pair table (the origin's word pairs)")
    pairs = pair_tables(board)
    if not pairs:
        sec.para("No pair probes in these results.")
    for title, df in pairs:
        sec.html.append(f"<h3>{html.escape(title)}</h3>")
        sec.md.append(f"### {title}\n")
        sec.table(df)
    sections.append(sec)

    sec = Section("Word × word cosine heatmaps")
    mats = _cosine_matrices(results_dir, sides)
    if not mats:
        sec.para("No cosine-matrix artifacts (an STS task with report_pairs, run with this harness version).")
    for key, by_cond in sorted(mats.items()):
        fig = heatmap(key, by_cond)
        figures.append(fig)
        sec.figure(fig)
    sections.append(sec)

    sec = Section("Language split")
    plots = sorted((results_dir / "plots").glob(f"*{LANGUAGE_PLOT_SUFFIX}"))
    if not plots:
        sec.para("No language-split plots under plots/.")
    for path in plots:
        fig = Figure("plots__" + path.name, path.name.removesuffix(LANGUAGE_PLOT_SUFFIX) + ": language split",
                     path.read_bytes())
        figures.append(fig)
        sec.figure(fig)
    try:
        from harness.language_probe import language_table

        text = language_table(board)
        if not text.startswith("("):
            sec.pre(text)
    except ImportError:  # pragma: no cover - the module is part of the package
        pass
    sections.append(sec)

    sec = Section("Embedding shift")
    sec.para("Does the model read the instruction at all? For each text of a cell: the cosine distance between its "
             "embedding with the condition's prefix and without it (raw text); mean ± standard deviation over the "
             "texts. 0 under none by definition.")
    shift = shift_table(board)
    if shift.empty:
        sec.para("No embedding-shift probes in these results (cells from an older harness).")
    else:
        sec.table(shift)
    sections.append(sec)

    sec = Section("Instructions used")
    sec.para("The exact prefix each cell put before every text (Python repr, so spaces and newlines are visible); "
             "sha256 of the cell's prompts.")
    sec.table(instruction_table(sides), code_cols=("exact prefix",))
    sections.append(sec)

    sec = Section("Versions and date")
    sec.table(versions(sides))
    sections.append(sec)

    out_html, out_md = results_dir / HTML_NAME, results_dir / MD_NAME
    files = results_dir / FILES_DIR
    for fig in figures:
        atomic.write_bytes(files / fig.name, fig.png)
    keep = {fig.name for fig in figures}
    for old in files.glob("*.png") if files.exists() else []:
        if old.name not in keep:
            old.unlink(missing_ok=True)
    atomic.write_text(out_html, _html(sections, results_dir))
    atomic.write_text(out_md, _md(sections))
    return out_html, out_md


def _anchor(title: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "-" for ch in title).strip("-")


def _html(sections: list[Section], results_dir: Path) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{_anchor(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(f'<h2 id="{_anchor(s.title)}">{html.escape(s.title)}</h2>' + "".join(s.html) for s in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Instruction harness report</title><style>{CSS}</style></head><body>"
            f"<h1>Do instructions change what embedding models do?</h1>"
            f"<p class=\"muted\">Report of {html.escape(str(results_dir))}, generated {stamp} by "
            "<code>harness aggregate</code>.</p>"
            f"<nav>{nav}</nav>{body}</body></html>\n")


def _md(sections: list[Section]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["# Do instructions change what embedding models do?\n",
             f"Generated {stamp} by `harness aggregate`; the same report with embedded images: `{HTML_NAME}`.\n"]
    for s in sections:
        parts.append(f"## {s.title}\n")
        parts += s.md
    return "\n".join(parts)
