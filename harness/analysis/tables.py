"""Plain-text tables for the console (``harness aggregate`` prints them): main scores per condition, deltas with
their intervals, the origin's pair table and the language-split numbers."""

from __future__ import annotations

import functools

import pandas as pd

from harness.analysis.folding import cell_groups, common_groups, fold_deltas, label
from harness.core.errors import HarnessError
from harness.prompts.conditions import BASELINE, Condition, condition_order, order_conditions
from harness.results.schema import LANGUAGE_PREFIX, identical_inputs, row_significant

NOT_IN_SET = "not in this set"  # a set without an instruction for the task: its cell is not run


@functools.cache
def _set_tasks(condition: str) -> frozenset[str] | None:
    """The tasks an instruction set (or a set's variant) has an entry for; None for a built-in condition or a set
    not here."""
    try:
        c = Condition.parse(condition)
    except HarnessError:
        return None
    s = c.instruction_set
    return None if s is None else frozenset(t for t in s.tasks if c.covers(t))


def lacks_entry(condition: str, task: str) -> bool:
    """True when ``condition`` is an instruction set (here) that says nothing about ``task``."""
    tasks = _set_tasks(condition)
    return tasks is not None and task not in tasks


def _missing(condition: str, task: str) -> str:
    return NOT_IN_SET if lacks_entry(condition, task) else "—"


def delta_table(board: pd.DataFrame) -> str:
    """Main scores per model × task × subset, one column per condition, with Δ against ``none``; a set with no
    instruction for the task shows "not in this set", a cell not run "—"."""
    main = board[board.is_main]
    if main.empty:
        return "(no main scores)"
    wide = main.pivot_table(index=["alias", "task", "subset"], columns="condition", values="score", aggfunc="first")
    # conditions that fed the same strings for every model and task share a column ("none = format = official")
    groups = [g for g in common_groups(list(cell_groups(board).values())) if g[0] in wide.columns]
    names = {g[0]: label(g) for g in groups}
    conds = order_conditions([c for c in wide.columns if c in names])
    conds = [BASELINE, *[c for c in conds if c != BASELINE]] if BASELINE in conds else conds
    wide = wide[conds]
    absent = {(c, t) for t in set(wide.index.get_level_values("task")) for c in conds if lacks_entry(c, t)}
    w = max(10, len(NOT_IN_SET)) if absent else 10
    lines = []
    w = max(w, *(len(names[c]) for c in conds))
    header = f"{'model':<22} {'task':<30} {'subset':<10} " + " ".join(f"{names[c]:>{w}}" for c in conds)
    if BASELINE in conds:
        header += " " + " ".join(f"{'Δ ' + names[c]:>{w + 2}}" for c in conds if c != BASELINE)
    kinds = _official_kinds(main)
    if kinds:
        header += "  official"
    lines.append(header)
    for (alias, task, subset), row in wide.iterrows():
        cells = [f"{row[c]:>{w}.4f}" if pd.notna(row[c]) else f"{_missing(c, str(task)):>{w}}" for c in conds]
        line = f"{alias:<22} {task:<30} {subset:<10} " + " ".join(cells)
        if BASELINE in conds:
            deltas = [f"{row[c] - row[BASELINE]:>+{w + 2}.4f}" if pd.notna(row[c]) and pd.notna(row[BASELINE])
                      else f"{_missing(c, str(task)):>{w + 2}}" for c in conds if c != BASELINE]
            line += " " + " ".join(deltas)
        if kinds:
            line += f"  {kinds.get((alias, task), '—')}"
        lines.append(line)
    return "\n".join(lines)


def _official_kinds(main: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(alias, task) → the official cell's ``official_kind`` (empty when no row has one)."""
    if "official_kind" not in main.columns:
        return {}
    rows = main[main.official_kind.notna()]
    return {(str(a), str(t)): str(k) for a, t, k in zip(rows.alias, rows.task, rows.official_kind, strict=True)}


def fmt_p(p: float | None) -> str:
    if p is None or pd.isna(p):
        return "—"
    return f"{p:.4f}" if p >= 0.0001 else f"{p:.1e}"


def delta_ci_table(d: pd.DataFrame, *, alpha: float = 0.05) -> str:
    """Main-metric deltas with their paired-bootstrap 95% CI, permutation p and Holm-adjusted p (``*``: Holm p
    below ``alpha``). Conditions that fed the baseline's exact strings are one line per model and baseline
    (``none = format = official``), conditions equal to each other share a line (:func:`folding.fold_deltas`)."""
    main = d[(d.kind == "mteb") & d.is_main]
    main = main.assign(identical_inputs=identical_inputs(main))
    if main.empty:
        return "(no deltas: a condition and its baseline are both needed)"
    rows = fold_deltas(d)
    mw = max(16, *(len(f.row.alias) for f in rows))
    tw = max(30, *(len(f.tasks if f.identical else f.row.task) for f in rows))
    sw = max(10, *(len(f.row.subset) for f in rows if not f.identical))
    lw = max(26, *(len(f.label) for f in rows))
    lines = [f"{'model':<{mw}} {'task':<{tw}} {'subset':<{sw}} {'metric':<16} {'Δ condition − baseline':<{lw}} "
             f"{'Δ':>8} {'95% CI':>20} {'p':>8} {'p Holm':>8}  {'n':>5}"]
    for f in rows:
        r = f.row
        if f.identical:
            lines.append(f"{r.alias:<{mw}} {f.tasks:<{tw}} {'':<{sw}} {'':<16} {f.label:<{lw}} {0:>+8.4f} "
                         f"{'identical inputs':>20}")
            continue
        ci = f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if pd.notna(r.ci_low) else "—"
        star = "*" if row_significant(r, alpha) else " "
        n = "" if pd.isna(r.n_items) else int(r.n_items)
        lines.append(f"{r.alias:<{mw}} {r.task:<{tw}} {r.subset:<{sw}} {r.metric:<16} {f.label:<{lw}} "
                     f"{r.delta:>+8.4f} {ci:>20} {fmt_p(r.p_value):>8} {fmt_p(r.p_holm):>8}{star} {n:>5}")
    lines.append(f"(95% CI: paired bootstrap; p: paired permutation test, (1 + swaps as extreme)/(1 + swaps drawn), "
                 f"never below 1/(1 + swaps); p Holm: {family_footnote(main)}; * significant at {alpha} "
                 "beyond the Monte-Carlo error of p; identical inputs: the conditions fed the model the same "
                 "strings, shown once)")
    return "\n".join(lines)


def pair_table(board: pd.DataFrame) -> str:
    """The origin's pair table: cosine of each reported pair per model and condition, plus claim verdicts."""
    probes = board[(board.kind == "probe") & (board.subset == "pairs")]
    if probes.empty:
        return "(no pair probes)"
    out = []
    for (alias, task), g in probes.groupby(["alias", "task"], sort=True):
        wide = g.pivot_table(index="metric", columns="condition", values="score", aggfunc="first")
        conds = [c for c in [BASELINE, *sorted(set(wide.columns) - {BASELINE})] if c in wide.columns]
        out.append(f"{alias} — {task}")
        out.append(f"  {'pair':<40} " + " ".join(f"{c:>10}" for c in conds))
        for metric, row in wide.iterrows():
            name = str(metric).split(":", 1)[1]
            if str(metric).startswith("cosine:"):
                cells = " ".join(f"{row[c]:>10.4f}" for c in conds)
            else:
                cells = " ".join(f"{('yes' if row[c] else 'no'):>10}" for c in conds)
                name = f"claim {name}"
            out.append(f"  {name:<40} {cells}")
    return "\n".join(out)


def language_table(board: pd.DataFrame) -> str:
    """The probe's headline numbers per model × task × condition (from the leaderboard)."""
    rows = board[(board.kind == "probe") & board.metric.str.startswith(LANGUAGE_PREFIX)]
    if rows.empty:
        return "(no language-split probes)"
    metrics = ["top2_variance_share", "separation_accuracy@2", "separation_accuracy@10", "silhouette@2",
               "silhouette@10", "translation_alignment"]
    short = ["top2 var", "acc@2", "acc@10", "sil@2", "sil@10", "align"]
    # conditions that fed the same strings (same instruction hash) have the same numbers: one row, "none = format"
    groups = cell_groups(board)
    lines = [f"{'model':<22} {'task':<30} {'condition':<12} " + " ".join(f"{s:>9}" for s in short)]
    wide = rows.pivot_table(index=["alias", "model", "revision", "task", "subset", "split", "condition"],
                            columns="metric", values="score", aggfunc="first")
    order = sorted(wide.index, key=lambda i: (*i[:6], condition_order(i[6])))
    for (alias, model, revision, task, _sub, _split, cond), r in wide.loc[order].iterrows():
        group = next((g for g in groups.get((model, revision, task), []) if cond in g), [cond])
        if cond != group[0]:
            continue
        vals = " ".join(f"{r.get(LANGUAGE_PREFIX + m, float('nan')):>9.3f}" for m in metrics)
        lines.append(f"{alias:<22} {task:<30} {label(group):<12} {vals}")
    return "\n".join(lines)


def family_table(f: pd.DataFrame) -> str:
    """The family summary (``family.parquet``): per family, subset view, model and condition, the mean main score
    with its 95% interval, the mean delta against none with its interval, and the claims that hold / flip."""
    if f.empty:
        return "(no task family in these results)"
    lines = [f"{'family':<8} {'subset':<13} {'model':<22} {'condition':<12} {'tasks':>5} {'mean':>7} "
             f"{'95% CI':>17} {'Δ mean':>8} {'95% CI':>19} {'claims':>7} {'flipped':>7}"]
    order = sorted(f.itertuples(), key=lambda r: (r.family, r.subset, r.alias, condition_order(r.condition)))
    for r in order:
        d_ci = f"[{r.delta_ci_low:+.3f}, {r.delta_ci_high:+.3f}]" if r.condition != BASELINE else ""
        delta = f"{r.delta:+.4f}" if r.condition != BASELINE else ""
        lines.append(f"{r.family:<8} {r.subset:<13} {r.alias:<22} {r.condition:<12} {r.n_tasks:>5} "
                     f"{r.mean_score:>7.4f} [{r.score_ci_low:+.3f}, {r.score_ci_high:+.3f}] {delta:>8} {d_ci:>19} "
                     f"{r.claims_hold:>3}/{r.n_claims:<3} {r.claims_flipped if r.condition != BASELINE else '':>7}")
    lines.append("(mean over the family's tasks of each task's main score; 95% CI: the words resampled within each "
                 "task, the tasks fixed; claims: tasks whose headline claim holds; flipped: verdict differs from none)")
    return "\n".join(lines)


def family_footnote(d: pd.DataFrame) -> str:
    """The multiplicity families of a deltas frame in words, with their exact sizes (for tables and figures;
    :mod:`harness.analysis.multiplicity`)."""
    if "family" not in d.columns or d.family.dropna().empty:
        return "no adjusted p-values"
    fams = d.dropna(subset=["family"]).drop_duplicates("family")
    method = {"holm": "Holm", "bh": "Benjamini–Hochberg"}.get(str(fams.adjust_method.iloc[0]),
                                                              str(fams.adjust_method.iloc[0]))
    sizes = "; ".join(f"{r.family}: {int(r.family_size)}" for r in fams.sort_values("family").itertuples())
    return (f"{method} within each model × kind of comparison (deltas vs none; vs format; decomposition parts), "
            f"{len(fams)} families, distinct tests per family: {sizes}")
