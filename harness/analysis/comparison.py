"""``harness compare``: models × conditions side by side for chosen tasks, with deltas and their intervals.

Reads ``leaderboard.parquet`` and ``deltas.parquet`` (written by ``harness aggregate``); nothing is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.analysis import currency
from harness.analysis.tables import NOT_IN_SET, fmt_p, lacks_entry
from harness.core.errors import HarnessError, unknown
from harness.prompts.conditions import BASELINE, FORMAT_BASELINE
from harness.results import layout
from harness.results.schema import IDENTICAL, identical_inputs, row_significant

ALPHA = 0.05


@dataclass
class Comparison:
    scores: pd.DataFrame  # main-metric rows of the leaderboard
    deltas: pd.DataFrame  # main-metric rows of the deltas
    stale: bool  # some cell is newer than deltas.parquet
    notes: list[str] = field(default_factory=list)  # stale cells left out, what to run

    def table(self) -> str:
        return compare_table(self.scores, self.deltas)


def _leave_out_stale(results_dir: Path, board: pd.DataFrame, d: pd.DataFrame
                     ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Drop the rows of cells that are stale *now* (their task data or instructions changed, possibly after the
    last aggregate): never show a score or pair a delta across data versions."""
    found = currency.check(results_dir)
    if not found.stale:
        return board, d, found.unverified
    cells = {(s.model, s.revision, s.condition, s.task) for s in found.stale}

    def hit(frame: pd.DataFrame, condition_col: str) -> pd.Series:
        keys = zip(frame.model, frame.revision, frame[condition_col], frame.task, strict=True)
        return pd.Series([k in cells for k in keys], index=frame.index, dtype=bool)

    board = board[~hit(board, "condition")]
    d = d[~(hit(d, "condition") | hit(d, "baseline"))]
    return board, d, found.lines(results_dir)


def load(results_dir: Path, *, tasks: list[str] | None = None, models: list[str] | None = None) -> Comparison:
    board_path, deltas_path = results_dir / "leaderboard.parquet", results_dir / "deltas.parquet"
    if not (board_path.exists() and deltas_path.exists()):
        raise HarnessError(f"{results_dir}: no leaderboard.parquet/deltas.parquet; run `harness aggregate` first")
    board = pd.read_parquet(board_path)
    d = pd.read_parquet(deltas_path)
    if "ci_low" not in d.columns:
        raise HarnessError(f"{deltas_path}: written by an older harness (no intervals); run `harness aggregate`")
    board = board[(board.kind == "mteb") & board.is_main]
    d = d[(d.kind == "mteb") & d.is_main]
    d = d.assign(identical_inputs=identical_inputs(d))
    if tasks:
        for t in tasks:
            if t not in set(board.task):
                raise unknown("task", t, sorted(set(board.task)), where=str(board_path))
        board, d = board[board.task.isin(tasks)], d[d.task.isin(tasks)]
    if models:
        names = set(board.alias) | set(board.model)
        for m in models:
            if m not in names:
                raise unknown("model", m, sorted(names), where=str(board_path))
        board = board[board.alias.isin(models) | board.model.isin(models)]
        d = d[d.alias.isin(models) | d.model.isin(models)]
    board, d, notes = _leave_out_stale(results_dir, board, d)
    newest = max((p.stat().st_mtime for p in layout.sidecar_files(results_dir)), default=0.0)
    return Comparison(board, d, stale=newest > deltas_path.stat().st_mtime, notes=notes)


def _order(conditions: set[str]) -> list[str]:
    first = [c for c in (BASELINE, FORMAT_BASELINE) if c in conditions]
    return first + sorted(conditions - set(first))


def _absent(condition: str, task: str) -> str:
    return NOT_IN_SET if lacks_entry(condition, task) else "—"


def compare_table(board: pd.DataFrame, d: pd.DataFrame, *, baselines: tuple[str, ...] = (BASELINE, FORMAT_BASELINE),
                  holm: str = "Holm-adjusted within each model's deltas against one baseline") -> str:
    """One block per task: rows model × subset, a score column per condition, then each delta against each of
    ``baselines`` with its 95% CI and Holm-adjusted p (``*`` below 0.05); ``holm`` says over what, in the
    footnote."""
    if board.empty:
        return "(nothing to compare)"
    out = []
    every = set(board.condition)  # every block shows every condition: a set without this task says so
    for task, g in board.groupby("task", sort=True):
        metric = g.metric.iloc[0]
        conds = _order(every)
        gd = d[d.task == task]
        pairs = [(c, b) for b in baselines for c in conds
                 if ((gd.condition == c) & (gd.baseline == b)).any()]
        head = f"{'model':<16} {'subset':<10} " + " ".join(f"{c:>9}" for c in conds)
        head += "".join(f"  {'Δ ' + c + ' − ' + b + ' [95% CI] p Holm':<44}" for c, b in pairs)
        out += [f"{task} ({metric})", head.rstrip()]
        for (alias, subset), rows in g.groupby(["alias", "subset"], sort=True):
            by_cond = rows.set_index("condition").score
            line = f"{alias:<16} {subset:<10} " + " ".join(
                f"{by_cond[c]:>9.4f}" if c in by_cond else f"{_absent(c, str(task)):>9}" for c in conds)
            for c, b in pairs:
                r = gd[(gd.alias == alias) & (gd.subset == subset) & (gd.condition == c) & (gd.baseline == b)]
                if r.empty:
                    line += f"  {_absent(c, str(task)):<44}"
                    continue
                x = r.iloc[0]
                if x.identical_inputs:
                    line += f"  {'0 (' + IDENTICAL + ')':<44}"
                    continue
                ci = f"[{x.ci_low:+.4f}, {x.ci_high:+.4f}]" if pd.notna(x.ci_low) else "[no CI]"
                star = "*" if row_significant(x, ALPHA) else ""
                line += f"  {f'{x.delta:+.4f} {ci} {fmt_p(x.p_holm)}{star}':<44}"
            out.append(line.rstrip())
        out.append("")
    out.append(f"95% CI: paired bootstrap over items; p Holm: paired permutation test, {holm}; * significant "
               f"(p Holm < {ALPHA} beyond the Monte-Carlo error of p); identical inputs: both conditions fed the "
               "model the same strings")
    return "\n".join(out)
