"""Plain-text tables for the console (``harness aggregate`` prints them): main scores per condition, deltas with
their intervals, the origin's pair table and the language-split numbers."""

from __future__ import annotations

import functools

import pandas as pd

from harness.core.errors import HarnessError
from harness.prompts.conditions import BASELINE, Condition, condition_order
from harness.results.schema import IDENTICAL, LANGUAGE_PREFIX, identical_inputs

NOT_IN_SET = "not in this set"  # a set without an instruction for the task: its cell is not run


@functools.cache
def _set_tasks(condition: str) -> frozenset[str] | None:
    """The tasks an instruction set has an entry for; None for a built-in condition or a set not here."""
    try:
        s = Condition.parse(condition).instruction_set
    except HarnessError:
        return None
    return None if s is None else frozenset(s.tasks)


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
    conds = [BASELINE, *[c for c in wide.columns if c != BASELINE]] if BASELINE in wide.columns else list(wide.columns)
    wide = wide[conds]
    absent = {(c, t) for t in set(wide.index.get_level_values("task")) for c in conds if lacks_entry(c, t)}
    w = max(10, len(NOT_IN_SET)) if absent else 10
    lines = []
    header = f"{'model':<22} {'task':<30} {'subset':<10} " + " ".join(f"{c:>{w}}" for c in conds)
    if BASELINE in conds:
        header += " " + " ".join(f"{'Δ ' + c:>{w + 2}}" for c in conds if c != BASELINE)
    lines.append(header)
    for (alias, task, subset), row in wide.iterrows():
        cells = [f"{row[c]:>{w}.4f}" if pd.notna(row[c]) else f"{_missing(c, str(task)):>{w}}" for c in conds]
        line = f"{alias:<22} {task:<30} {subset:<10} " + " ".join(cells)
        if BASELINE in conds:
            deltas = [f"{row[c] - row[BASELINE]:>+{w + 2}.4f}" if pd.notna(row[c]) and pd.notna(row[BASELINE])
                      else f"{_missing(c, str(task)):>{w + 2}}" for c in conds if c != BASELINE]
            line += " " + " ".join(deltas)
        lines.append(line)
    return "\n".join(lines)


def fmt_p(p: float | None) -> str:
    if p is None or pd.isna(p):
        return "—"
    return f"{p:.4f}" if p >= 0.0001 else f"{p:.1e}"


def delta_ci_table(d: pd.DataFrame, *, alpha: float = 0.05) -> str:
    """Main-metric deltas with their paired-bootstrap 95% CI, permutation p and Holm-adjusted p (``*``: Holm p
    below ``alpha``)."""
    main = d[(d.kind == "mteb") & d.is_main]
    main = main.assign(identical_inputs=identical_inputs(main))
    if main.empty:
        return "(no deltas: a condition and its baseline are both needed)"
    lines = [f"{'model':<16} {'task':<30} {'subset':<10} {'metric':<16} {'Δ condition − baseline':<24} "
             f"{'Δ':>8} {'95% CI':>20} {'p':>8} {'p Holm':>8}  {'n':>5}"]
    for r in main.sort_values(["alias", "task", "subset", "baseline", "condition"]).itertuples():
        ci = f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]" if pd.notna(r.ci_low) else "—"
        ci = IDENTICAL if r.identical_inputs else ci
        star = "*" if pd.notna(r.p_holm) and r.p_holm < alpha else " "
        n = "" if pd.isna(r.n_items) else int(r.n_items)
        lines.append(f"{r.alias:<16} {r.task:<30} {r.subset:<10} {r.metric:<16} "
                     f"{r.condition + ' − ' + r.baseline:<24} {r.delta:>+8.4f} {ci:>20} {fmt_p(r.p_value):>8} "
                     f"{fmt_p(r.p_holm):>8}{star} {n:>5}")
    family = int(main.p_value.notna().sum())
    lines.append(f"(95% CI: paired bootstrap; p: paired permutation test (smallest possible 1/(1 + swaps)); Holm "
                 f"across all {family} deltas with a p-value; * Holm p < {alpha}; identical inputs: both conditions "
                 "fed the model the same strings)")
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
    lines = [f"{'model':<22} {'task':<30} {'condition':<12} " + " ".join(f"{s:>9}" for s in short)]
    wide = rows.pivot_table(index=["alias", "task", "subset", "split", "condition"], columns="metric",
                            values="score", aggfunc="first")
    order = sorted(wide.index, key=lambda i: (*i[:4], condition_order(i[4])))
    for (alias, task, _sub, _split, cond), r in wide.loc[order].iterrows():
        vals = " ".join(f"{r.get(LANGUAGE_PREFIX + m, float('nan')):>9.3f}" for m in metrics)
        lines.append(f"{alias:<22} {task:<30} {cond:<12} {vals}")
    return "\n".join(lines)
