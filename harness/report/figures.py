"""The report's figures and tables, each drawn from files on disk (leaderboard, deltas, sidecars, artifacts)."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import stats
from harness.analysis.tables import fmt_p
from harness.prompts.conditions import BASELINE, order_conditions
from harness.report.html import Figure, png_bytes, pyplot, safe_name
from harness.results.layout import COSINES_ARTIFACT
from harness.results.schema import IDENTICAL, SHIFT_PREFIX, identical_inputs

ALPHA = 0.05


def _main_deltas(d: pd.DataFrame) -> pd.DataFrame:
    main = d[(d.kind == "mteb") & d.is_main].copy()
    main["identical_inputs"] = identical_inputs(main)
    return main.sort_values(["alias", "task", "subset", "baseline", "condition"], ignore_index=True)


def delta_rows(d: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    main = _main_deltas(d)
    rows, classes = [], []
    for r in main.itertuples():
        ci = f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if pd.notna(r.ci_low) else "—"
        ci = IDENTICAL if r.identical_inputs else ci
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
    main = main[~main.identical_inputs]  # zero by construction: nothing to show
    if main.empty:
        return None
    plt = pyplot()
    panels = sorted({(r.alias, r.baseline) for r in main.itertuples()},
                    key=lambda k: (k[0], k[1] != BASELINE, k[1]))
    rows_of = {p: sorted({(r.task, r.subset, r.metric) for r in main.itertuples() if (r.alias, r.baseline) == p})
               for p in panels}
    height = max(2.6, 0.55 * max(len(v) * max(1, main.condition.nunique()) ** 0.5 for v in rows_of.values()) + 1.4)
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), height), squeeze=False)
    conds = order_conditions(set(main.condition))
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
    return Figure("deltas.png", "Deltas with 95% CIs per model × task", png_bytes(fig))


def pair_tables(board: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    probes = board[(board.kind == "probe") & (board.subset == "pairs")]
    out = []
    for (alias, task), g in probes.groupby(["alias", "task"], sort=True):
        wide = g.pivot_table(index="metric", columns="condition", values="score", aggfunc="first")
        conds = order_conditions(list(wide.columns))
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


def _identical_groups(by_cond: dict[str, Any]) -> list[list[str]]:
    """Conditions grouped by identical matrices (e.g. none = format = official for a model without prefixes)."""
    groups: list[list[str]] = []
    for cond in order_conditions(list(by_cond)):
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
    plt = pyplot()
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
    return Figure(safe_name(f"{alias}@{revision}.{task}.cosines.png"), f"{alias} — {task}: word × word cosines",
                  png_bytes(fig))


def _ticks(ax: Any, words: list[str]) -> None:
    ax.set_xticks(range(len(words)))
    ax.set_yticks(range(len(words)))
    fs = 7 if len(words) <= 40 else 5
    ax.set_xticklabels(words, rotation=90, fontsize=fs)
    ax.set_yticklabels(words, fontsize=fs)


def shift_table(board: pd.DataFrame) -> pd.DataFrame:
    rows = board[(board.kind == "probe") & board.metric.str.startswith(SHIFT_PREFIX)]
    if rows.empty:
        return pd.DataFrame()
    parts = rows.metric.str[len(SHIFT_PREFIX):].str.split("/", expand=True)
    rows = rows.assign(role=parts[0], stat=parts[1])
    wide = rows.pivot_table(index=["alias", "task", "subset", "split", "role", "condition"], columns="stat",
                            values="score", aggfunc="first")
    n = rows.groupby(["alias", "task", "subset", "split", "role", "condition"]).n_items.first()
    conds = order_conditions(set(rows.condition))
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


def instruction_table(sides: list[dict[str, Any]]) -> pd.DataFrame:
    rank = {c: i for i, c in enumerate(order_conditions({s["condition"] for s in sides}))}
    rows = []
    for s in sorted(sides, key=lambda s: (s["alias"], rank[s["condition"]], s["task"])):
        for role, prefix in sorted(s.get("prompts", {}).items()):
            if s["task_type"] != "Retrieval" and role == "document":
                continue  # symmetric tasks feed every text the query side
            rows.append({"model": s["alias"], "condition": s["condition"], "task": s["task"],
                         "role": role if s["task_type"] == "Retrieval" else "both", "exact prefix": repr(prefix),
                         "sha256": str(s.get("prompts_sha256", ""))[:12]})
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
        ("statistics", f"paired bootstrap {stats.N_BOOTSTRAP} resamples (percentile 95% CI), paired permutation "
                       f"test {stats.N_PERMUTATIONS} swaps (exact enumeration when 2^n ≤ that), Holm across the "
                       f"grid; seeds derived from each delta's identity (base seed {stats.SEED})"),
    ]
    return pd.DataFrame(rows, columns=["what", "value"])
