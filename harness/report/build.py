"""The report: ``<results>/report.html`` (self-contained: CSS inline, every image embedded as base64) and
``<results>/report.md`` (images beside it under ``report_files/``), rebuilt by ``harness aggregate``.

Everything is drawn from files on disk (leaderboard, deltas, the cells' sidecars and probe artifacts, the PNGs
under ``plots/``); a model is never re-run. Conditions that fed a model exactly the strings of another (same
instruction hash, e.g. ``none = format = official`` for MiniLM) are shown once, never as repeated zeros. Sections:

0. the headline: per model, what moved significantly, by how much, and the embedding shift (:mod:`.headline`);
1. the grid (models, conditions, tasks, cells);
2. main-metric deltas with paired-bootstrap 95% CIs, permutation p and Holm-adjusted p, as a table and as a chart
   with CI whiskers per model × task;
3. the control conditions (:mod:`harness.report.controls`): the effect decomposition, paraphrase sensitivity and
   rankings across instruction sets (bump charts, Kendall τ);
4. the origin's pair table per model (``cosine:a|b`` and ``claim:...`` probe rows);
5. word × word cosine heatmaps per condition for the STS task(s) with ``report_pairs`` (from the cells'
   ``<Task>.cosines.parquet`` artifacts), plus each condition's difference to ``none`` (SVG, :mod:`.heatmaps`);
6. the language-split scatter plots (``plots/*.language_split.png``, drawn by :mod:`harness.report.plots`) and numbers;
7. task families (:mod:`harness.report.family`): the Scale* tasks summarised, with small multiples;
8. the embedding shift (cosine distance of each text's embedding with and without the prefix);
9. the exact instructions every cell used (from the sidecars' ``prompts``; collapsed by default);
10. the cells left out (``left-out-cells.json``: stale — their inputs changed since they ran — or unreadable),
    with the commands that recompute them;
11. versions, date and the statistics' settings.
"""


from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis import controls, currency
from harness.analysis.aggregate import FAMILY_FILE, disagreement_lines
from harness.analysis.decomposition import plain_deltas
from harness.analysis.tables import family_footnote, language_table
from harness.core import atomic
from harness.core import markdown as md
from harness.prompts.conditions import order_conditions
from harness.report.controls import decomposition_section, paraphrase_section, rankings_section
from harness.report.family import family_rows, small_multiples
from harness.report.figures import (
    ALPHA,
    cosine_matrices,
    delta_chart,
    delta_rows,
    instruction_table,
    pair_tables,
    shift_table,
    versions,
)
from harness.report.geometry import robust_section
from harness.report.geometry import section as geometry_section
from harness.report.headline import section as headline_section
from harness.report.heatmaps import heatmap
from harness.report.html import FILES_DIR, HTML_NAME, MD_NAME, Figure, Section, page_html, page_md
from harness.results import layout

LANGUAGE_PLOT_SUFFIX = ".language_split.png"


def _sidecars(results_dir: Path, outputs: Path) -> list[dict[str, Any]]:
    out = []
    for path, side in layout.current_sidecars(results_dir, outputs):  # cells in left-out-cells.json are left out
        side["_path"] = path
        out.append(side)
    return out


def build(results_dir: Path, board: pd.DataFrame | None = None, d: pd.DataFrame | None = None, *,
          out: Path | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (+ ``report_files/*.png``) under ``out``: the results folder unless
    aggregate stages its outputs (:mod:`harness.results.staging`); the other tables aggregate wrote are read from
    there too, the cells from ``results_dir``."""
    out = out or results_dir
    board = board if board is not None else pd.read_parquet(out / "leaderboard.parquet")
    d = d if d is not None else pd.read_parquet(out / "deltas.parquet")
    sides = _sidecars(results_dir, out)
    figures: list[Figure] = []
    sections: list[Section] = [headline_section(board, d)]

    grid = Section("Grid")
    models = sorted({(s["alias"], s["model"], s["revision"]) for s in sides})
    grid.para(f"{len(sides)} cells: {len(models)} model(s) × {len({s['condition'] for s in sides})} condition(s) "
              f"× {len({s['task'] for s in sides})} task(s).")
    grid.table(pd.DataFrame([
        ("models", "; ".join(f"{a} ({m} @ {r})" for a, m, r in models)),
        ("conditions", ", ".join(order_conditions({s["condition"] for s in sides}))),
        ("tasks", ", ".join(sorted({s["task"] for s in sides}))),
    ], columns=["what", "value"]))
    official = sorted((s["alias"], s["task"], s.get("official_kind") or "—", s.get("task_source") or "local",
                       (s.get("dataset") or {}).get("revision", "")[:12], s["prompts"].get("query", ""))
                      for s in sides if s["condition"] == "official")
    if official:
        grid.para("What `official` fed (official_kind: task = the model's own instruction for this task, task_type "
                  "= its own for the task's type, model_default = neither, a generic default; none = no "
                  "instruction). Registry tasks (source mteb) ran at the dataset revision shown.")
        grid.table(pd.DataFrame(official, columns=["model", "task", "official_kind", "source", "dataset revision",
                                                   "query prefix"]), code_cols=("query prefix",))
    sections.append(grid)

    sec = Section("Deltas with 95% confidence intervals")
    sec.para("Main score of each task under each condition minus the same model's score under the baseline (none; "
             "and format where the model's format condition adds prefixes). 95% CI: paired bootstrap over the "
             "resampling unit (the same resample for both conditions): queries for retrieval, sentences for "
             "bitext mining, and for STS tasks built from pairs of a few words the words themselves (vertex "
             "bootstrap: pairs sharing a word move together; column 'unit'); p: paired permutation test that "
             "swaps within-condition ranks (Spearman) or z-scores (Pearson), so conditions on different cosine "
             f"scales stay comparable; p Holm: adjusted within each model × kind of comparison ("
             f"{family_footnote(d)}); * and colour: significant at {ALPHA} beyond the Monte-Carlo error of p. "
             "Statistics are recomputed from the item-level predictions and used only where the "
             "recomputation reproduces mteb's score on the full set.")
    plain = plain_deltas(d)  # the decomposition's own rows are in its section
    table, classes = delta_rows(plain)
    disagree = disagreement_lines(d)
    if disagree:
        sec.para(f"Where the interval and the test disagree ({len(disagree)}; the 95% CI excludes 0 while p ≥ "
                 f"{ALPHA}, or the reverse — read these deltas as borderline):")
        sec.pre("\n".join(disagree))
    if table.empty:
        sec.para("No deltas: run a condition together with its baseline.")
    else:
        sec.table(table, classes=classes,
                  nowrap=("condition − baseline", "score (baseline → condition)", "Δ [95% CI]", "p", "p Holm"))
        chart = delta_chart(plain)
        if chart is not None:
            figures.append(chart)
            sec.figure(chart)
    sections.append(sec)

    para, ranked, agree = controls.read(out)  # the control conditions (report/controls.py)
    for sec, figs in (decomposition_section(d), paraphrase_section(board, para), rankings_section(ranked, agree),
                      geometry_section(out, d), (robust_section(out), [])):
        sections.append(sec)
        figures += figs

    sec = Section("Pair table (the origin's word pairs)")
    pairs = pair_tables(board)
    if not pairs:
        sec.para("No pair probes in these results.")
    for title, df in pairs:
        sec.html.append(f"<h3>{html.escape(title)}</h3>")
        sec.md.append(f"### {md.text(title)}\n")
        sec.table(df)
    sections.append(sec)

    sec = Section("Word × word cosine heatmaps")
    mats = cosine_matrices(results_dir, sides)
    if not mats:
        sec.para("No cosine-matrix artifacts (an STS task with report_pairs, run with this harness version).")
    for key, by_cond in sorted(mats.items()):
        fig = heatmap(key, by_cond)
        figures.append(fig)
        sec.figure(fig)
    sections.append(sec)

    sec = Section("Language split")
    plots = sorted((out / "plots").glob(f"*{LANGUAGE_PLOT_SUFFIX}"))
    if not plots:
        sec.para("No language-split plots under plots/.")
    else:
        sec.para("Each panel is its own PCA, fitted on that condition's embeddings: the axes of different panels are "
                 "not comparable (their directions, signs and scales differ). Compare how far the two languages "
                 "separate within each panel, and the numbers in its title (cross-validated language accuracy, "
                 "silhouette, translation alignment), not positions across panels. Conditions that fed the same "
                 "strings share one panel.")
    for path in plots:
        fig = Figure("plots__" + path.name, path.name.removesuffix(LANGUAGE_PLOT_SUFFIX) + ": language split",
                     path.read_bytes())
        figures.append(fig)
        sec.figure(fig)
    text = language_table(board)
    if not text.startswith("("):
        sec.pre(text)
    sections.append(sec)

    fam_path = out / FAMILY_FILE
    fam = pd.read_parquet(fam_path) if fam_path.exists() else pd.DataFrame()
    if not fam.empty:
        sec = Section("Task families")
        sec.para("Tasks that declare the same family (the Scale* tasks: family 'scales') summarised together: the "
                 "mean main score over the family's tasks under each condition and its delta against none. 95% "
                 "intervals resample the words (vertex bootstrap, each task's spread corrected to its word "
                 "jackknife), a word shared by several tasks drawn once for all of them; the tasks themselves are "
                 "fixed. 'SD of Δ across tasks' "
                 "says how much the tasks disagree; 'claims' counts the tasks whose origin-style claim "
                 "(cosine(w, control) > cosine(w, opposite)) holds, 'flipped' those whose verdict differs from "
                 "none's.")
        sec.table(family_rows(fam))
        for name in sorted(set(fam.family)):
            multiples = small_multiples(name, fam, board)
            if multiples is not None:
                figures.append(multiples)
                sec.figure(multiples)
        sections.append(sec)

    sec = Section("Embedding shift")
    sec.para("Does the model read the instruction at all? For each text of a cell: the cosine distance between its "
             "embedding with the condition's prefix and without it (raw text); mean ± standard deviation over the "
             "texts. 0 under none by definition; = none: the condition fed exactly the strings of none.")
    shift = shift_table(board)
    if shift.empty:
        sec.para("No embedding-shift probes in these results (cells from an older harness).")
    else:
        sec.table(shift, nowrap=tuple(c for c in shift.columns if c not in ("model", "task", "role", "texts")))
    sections.append(sec)

    sec = Section("Instructions used")
    sec.para("The exact prefix each cell put before every text (Python repr, so spaces and newlines are visible); "
             "conditions with the same prefix share a row; sha256 of the cells' prompts.")
    prefixes = instruction_table(sides)
    sec.html.append(f"<details><summary>Show the {len(prefixes)} exact prefixes</summary>")
    sec.table(prefixes, code_cols=("exact prefix",))
    sec.html.append("</details>")
    sections.append(sec)

    stale = currency.read(out)
    if stale.stale or stale.unreadable or stale.unverified:
        sec = Section("Cells left out")
        sec.para("Cells whose inputs changed after they ran (task data, instructions, model settings or result "
                 "schema) are stale: they are in no table, delta or figure above. Rerunning the commands below "
                 f"recomputes them (also listed in {layout.LEFT_OUT_CELLS}).")
        if stale.unreadable:
            sec.para("Cells whose sidecar or result file could not be read (cut short, empty, not the expected "
                     "fields) are left out too:")
            sec.table(pd.DataFrame([(u.cell, u.reason) for u in stale.unreadable], columns=["cell", "why"]))
            sec.pre("\n".join(sorted({u.command for u in stale.unreadable})))
        if stale.stale:
            sec.table(pd.DataFrame([(s.cell, s.reason) for s in stale.stale], columns=["cell", "why"]))
            sec.pre("\n".join(currency.recompute_commands(stale.stale, results_dir)))
        for line in stale.unverified:
            sec.para(line)
        sections.append(sec)

    sec = Section("Versions and date")
    sec.table(versions(sides))
    sections.append(sec)

    out_html, out_md = out / HTML_NAME, out / MD_NAME
    files = out / FILES_DIR
    for fig in figures:
        atomic.write_bytes(files / fig.name, fig.png)
    keep = {fig.name for fig in figures}
    for old in [*files.glob("*.png"), *files.glob("*.svg")] if files.exists() else []:
        if old.name not in keep:
            old.unlink(missing_ok=True)
    atomic.write_text(out_html, page_html(sections, results_dir))
    atomic.write_text(out_md, page_md(sections))
    return out_html, out_md
