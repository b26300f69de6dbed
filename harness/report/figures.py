"""The report's figures and tables, each drawn from files on disk (leaderboard, deltas, sidecars, artifacts)."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import folding
from harness.analysis.tables import fmt_p
from harness.prompts.conditions import BASELINE, condition_order, order_conditions
from harness.prompts.schema import ASYMMETRIC_TYPES
from harness.report import svg
from harness.report.figure_cache import cached
from harness.report.html import Figure
from harness.results.layout import COSINES_ARTIFACT
from harness.results.schema import SHIFT_PREFIX, identical_inputs, row_significant
from harness.stats import engine

ALPHA = 0.05


def _main_deltas(d: pd.DataFrame) -> pd.DataFrame:
    return folding.main_deltas(d)


def _unit(r: Any) -> str:
    """What the statistics resampled when it is not the items themselves: `` · 35 texts`` for the 35 recurring
    words of a word-pair task (resampled by word), else nothing."""
    unit = getattr(r, "resample_unit", None)
    n = getattr(r, "n_units", None)
    if unit != "text" or n is None or pd.isna(n):
        return ""
    return f" · {int(n)} texts"


def delta_rows(d: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per main-metric delta, conditions with identical inputs folded (:func:`folding.fold_deltas`)."""
    rows, classes = [], []
    for f in folding.fold_deltas(d):
        r = f.row
        if f.identical:
            rows.append(_delta_row(r, f.label, "", "0 (identical inputs)", None, None, None)
                        | {"task (main score)": f.tasks, "subset": ""})
            classes.append("")
            continue
        ci = f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if pd.notna(r.ci_low) else "no CI"
        sig = row_significant(r, ALPHA)
        rows.append(_delta_row(r, f.label, f"{r.baseline_score:.4f} → {r.score:.4f}", f"{r.delta:+.4f} {ci}",
                               r.p_value, r.p_holm, r.n_items, sig))
        classes.append(("sig-up" if r.delta > 0 else "sig-down") if sig else "")
    return pd.DataFrame(rows), classes


def _delta_row(r: Any, label: str, scores: str, delta: str, p: Any, p_holm: Any, n: Any, sig: bool = False
               ) -> dict[str, str]:
    return {"model": r.alias, "task (main score)": f"{r.task} ({r.metric})", "subset": r.subset,
            "condition − baseline": label,
            "score (baseline → condition)": scores, "Δ [95% CI]": delta, "p": fmt_p(p),
            "p Holm": fmt_p(p_holm) + (" *" if sig else ""),
            "n": "—" if n is None or pd.isna(n) else str(int(n)) + _unit(r)}


ROW_PAD = 12  # px above and below the series of one task/subset row of the delta chart
SERIES_PX = 14  # px per condition series within a row
PLOT_PX = 640  # the delta chart's plotting width (the page is 1180 px)


@cached
def delta_chart(d: pd.DataFrame) -> Figure | None:
    """One panel per model and baseline, stacked, all on one shared x-axis: each task/subset's delta per condition
    with its CI whiskers; filled markers where the delta is significant (its verdict). Conditions that fed the
    baseline's exact strings are named in the panel title, not drawn (0 by construction). An SVG (labels are
    text; each marker's hover text gives its delta, CI and verdict)."""
    every = _main_deltas(d)
    main = every[~every.identical_inputs]
    if main.empty:
        return None
    panels = sorted({(r.alias, r.baseline) for r in main.itertuples()},
                    key=lambda k: (k[0], k[1] != BASELINE, k[1]))
    at = {(r.alias, r.baseline, r.task, r.subset, r.metric, r.condition): r for r in main.itertuples()}
    rows_of = {p: sorted({k[2:5] for k in at if k[:2] == p}) for p in panels}
    conds = order_conditions(set(main.condition))
    series = {p: _series(main[(main.alias == p[0]) & (main.baseline == p[1])]) for p in panels}
    labels = {p: [[f"{t} · {s}" if s != "default" else t, m] for t, s, m in rows_of[p]] for p in panels}
    label_w = 12 + max(svg.text_width(x, 11) for p in panels for pair in labels[p] for x in pair)
    legend_w = 34 + max(svg.text_width(n, 11) for p in panels for n in series[p].values())
    xlo, xhi = svg.padded([v for r in main.itertuples() for v in (r.delta, r.ci_low, r.ci_high)], include=(0.0,))
    ticks = [t for t in svg.round_ticks(xlo, xhi) if xlo <= t <= xhi]
    x = svg.Scale(xlo, xhi, label_w, label_w + PLOT_PX)
    parts, y = [], 8.0
    for panel in panels:
        present = [c for c in conds if c in series[panel]]
        row_h = max(2 * ROW_PAD + SERIES_PX * len(present), 34)
        parts.append(svg.text(label_w, y + 14, f"{panel[0]}: Δ vs {panel[1]}{_not_drawn(every, panel)}", 12,
                              font_weight="600"))
        top = y + 34  # the ticks' labels above each panel too: a long chart is read without scrolling down
        frame, bottom = svg.row_frame(labels[panel], x, ticks, top, row_h)
        parts.append(frame)
        for ci, cond in enumerate(present):
            c = svg.colour(conds.index(cond))
            for yi, (task, subset, metric) in enumerate(rows_of[panel]):
                r = at.get((*panel, task, subset, metric, cond))
                if r is None:
                    continue
                cy = top + (yi + 0.5) * row_h + (ci - (len(present) - 1) / 2) * SERIES_PX
                ci_text = "no CI"
                if pd.notna(r.ci_low):
                    ci_text = f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]"
                    parts.append(svg.whisker(x, r.ci_low, r.ci_high, cy, c))
                sig = row_significant(r, ALPHA)
                tip = (f"{series[panel][cond]} − {panel[1]}, {task} · {subset} ({metric}): Δ {r.delta:+.4f} "
                       f"{ci_text}{', significant' if sig else ''}")
                parts.append(svg.marker("o", x(r.delta), cy, 4.5, c, c if sig else "white", tip))
        key, key_h = svg.legend([(svg.marker("o", 0, 0, 4.5, svg.colour(conds.index(c)), "white"),
                                  series[panel][c]) for c in present], label_w + PLOT_PX + 6, top + 10)
        parts.append(key)
        y = max(bottom, top + key_h) + 12
    parts.append(svg.value_axis(x, ticks, y, "Δ main score (condition − baseline) with paired-bootstrap 95% CI; "
                                "filled: significant (Holm within the model)"))
    title = "Deltas with 95% CIs per model × task (one shared x-axis)"
    doc = svg.document(label_w + PLOT_PX + legend_w, y + 34, title, "".join(parts), "delta-chart")
    return Figure("deltas.svg", title, doc.encode("utf-8"))


def _column_groups(board: pd.DataFrame, model: str, revision: str, task: str, conds: list[str]) -> list[list[str]]:
    """The conditions of one model and task grouped by identical inputs (shown as one column each)."""
    groups = folding.cell_groups(board).get((model, revision, task), [[c] for c in conds])
    return [[c for c in g if c in conds] for g in groups if any(c in conds for c in g)]


def _series(sub: pd.DataFrame) -> dict[str, str]:
    """The series of one chart panel: conditions that fed the same strings on every task of the panel are one
    series, drawn under their first condition and labelled ``format = official``."""
    same = folding.common_groups([folding.groups(dict(zip(g.condition, g.instruction_sha256, strict=True)))
                                  for _, g in sub.groupby("task")])
    return {g[0]: folding.label(g) for g in same}


def _not_drawn(every: pd.DataFrame, panel: tuple[str, str]) -> str:
    """The conditions a delta panel leaves out because they fed the baseline's strings (everywhere or on some tasks)."""
    rows = every[(every.alias == panel[0]) & (every.baseline == panel[1])]
    same = rows[identical_inputs(rows)]
    full = [c for c in order_conditions(set(same.condition)) if identical_inputs(rows[rows.condition == c]).all()]
    notes = [f"{folding.label([panel[1], *full])}: identical inputs, not drawn"] if full else []
    on: dict[str, list[str]] = {}
    for c in order_conditions(set(same.condition) - set(full)):
        on.setdefault(", ".join(sorted(set(same[same.condition == c].task))), []).append(c)
    notes += [f"{', '.join(conds)} = {panel[1]} on {tasks}: not drawn there" for tasks, conds in on.items()]
    return f"  ({'; '.join(notes)})" if notes else ""


def pair_tables(board: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    probes = board[(board.kind == "probe") & (board.subset == "pairs")]
    out = []
    for (alias, model, revision, task), g in probes.groupby(["alias", "model", "revision", "task"], sort=True):
        wide = g.pivot_table(index="metric", columns="condition", values="score", aggfunc="first")
        groups = _column_groups(board, model, revision, task, list(wide.columns))
        rows = []
        for metric, r in wide.iterrows():
            kind, name = str(metric).split(":", 1)
            if kind == "cosine":
                rows.append({"pair": name.replace("|", " – "),
                             **{folding.label(gr): f"{r[gr[0]]:.4f}" for gr in groups}})
            else:
                rows.append({"pair": "claim: " + name.replace("|", " – "),
                             **{folding.label(gr): ("yes" if r[gr[0]] else "no") for gr in groups}})
        out.append((f"{alias} — {task}", pd.DataFrame(rows)))
    return out


def cosine_matrices(results_dir: Path, sides: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
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


def shift_table(board: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std of the embedding shift per model, task, subset, role (rows) and condition (columns). A condition
    that fed the strings of ``none`` shows ``= none``; one that did so on every row shares ``none``'s column."""
    rows = board[(board.kind == "probe") & board.metric.str.startswith(SHIFT_PREFIX)]
    if rows.empty:
        return pd.DataFrame()
    parts = rows.metric.str[len(SHIFT_PREFIX):].str.split("/", expand=True)
    rows = rows.assign(role=parts[0], stat=parts[1])
    index = ["alias", "model", "revision", "task", "subset", "split", "role"]
    wide = rows.pivot_table(index=[*index, "condition"], columns="stat", values="score", aggfunc="first")
    n = rows.groupby([*index, "condition"]).n_items.first()
    groups = folding.cell_groups(board)
    keys = sorted({k[:-1] for k in wide.index})
    shown = folding.common_groups([groups[(k[1], k[2], k[3])] for k in keys if (k[1], k[2], k[3]) in groups])

    def same(key: tuple[str, ...], c: str) -> bool:
        return any(BASELINE in g and c in g for g in groups.get((key[1], key[2], key[3]), []))

    out = []
    for key in keys:
        alias, _model, _rev, task, subset, split, role = key
        entry = {"model": alias, "task": task if subset == "default" else f"{task} / {subset}",
                 "role": role if split == "test" else f"{role} ({split})"}
        texts = "—"
        for group in shown:  # conditions with the same strings on every row share a column
            c, k = group[0], (*key, group[0])
            label = folding.label(group)
            if k not in wide.index:
                entry[label] = "—"
            elif BASELINE not in group and same(key, c):
                entry[label] = f"= {BASELINE}"
            else:
                entry[label] = f"{wide.loc[k, 'mean']:.3f} ± {wide.loc[k, 'std']:.3f}"
            if k in n.index:
                texts = str(int(n[k]))
        entry["texts"] = texts
        out.append(entry)
    return pd.DataFrame(out)


def instruction_table(sides: list[dict[str, Any]]) -> pd.DataFrame:
    """The exact prefix of every model, task and role; conditions with the same prefix share one row."""
    by_prefix: dict[tuple[str, str, str, str], list[str]] = {}
    for s in sides:
        for role, prefix in sorted(s.get("prompts", {}).items()):
            if s["task_type"] not in ASYMMETRIC_TYPES and role == "document":
                continue  # symmetric tasks feed every text the query side
            shown = role if s["task_type"] in ASYMMETRIC_TYPES else "both"
            by_prefix.setdefault((s["alias"], s["task"], shown, prefix), []).append(s["condition"])
    sha = {(s["alias"], s["task"], s["condition"]): str(s.get("prompts_sha256", ""))[:12] for s in sides}
    rows = []
    for (alias, task, role, prefix), conds in sorted(by_prefix.items(), key=lambda kv: (
            kv[0][:3], condition_order(order_conditions(kv[1])[0]))):
        ordered = order_conditions(conds)
        rows.append({"model": alias, "task": task, "role": role, "conditions": folding.label(ordered),
                     "exact prefix": repr(prefix),
                     "sha256": ", ".join(sorted({sha[(alias, task, c)] for c in ordered}))})
    return pd.DataFrame(rows)


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
        ("statistics", f"paired bootstrap {engine.N_BOOTSTRAP} resamples (percentile 95% CI), paired permutation "
                       f"test, adaptive: from {engine.N_PERMUTATIONS} swaps (fewer when p is clearly large), more "
                       f"while the decision is open, up to {engine.MAX_PERMUTATIONS} (exact enumeration when 2^n ≤ "
                       "that; p never below 1/(1 + swaps)), Holm within each model × kind of comparison; seeds derived "
                       f"from each delta's identity (base seed {engine.SEED})"),
    ]
    return pd.DataFrame(rows, columns=["what", "value"])
