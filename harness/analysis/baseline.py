"""``harness compare --baseline B [--conditions C1,C2]``: any condition as the baseline, computed on demand.

``deltas.parquet`` holds the deltas ``aggregate`` always computes (against ``none``, ``format`` and the controls);
a comparison "set A vs set B" is asked for rarely and not stored. Here the chosen rows of the leaderboard are paired
against the chosen baseline exactly as :func:`harness.analysis.aggregate.deltas` pairs them (same task data, same
model identity), and their statistics come from the same code and the same statistics cache
(``aggregate._add_stats``: paired bootstrap CI, permutation p, seeds from the delta's identity, so a delta that
``aggregate`` also computes gets the same numbers). Holm's adjustment is over the deltas shown — the family the
reader sees — and the table's footnote says so.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.analysis import aggregate, comparison
from harness.core.errors import HarnessError, unknown
from harness.prompts.schema import split_variant
from harness.results.schema import STATS_COLUMNS
from harness.stats import engine


def _expand(names: list[str], known: list[str]) -> list[str]:
    """Condition names as the leaderboard has them; a variant set's plain name stands for all its variants."""
    out: list[str] = []
    for name in names:
        hits = [name] if name in known else [c for c in known if split_variant(c)[0] == name and c != name]
        if not hits:
            raise unknown("condition", name, known)
        out += [h for h in hits if h not in out]
    return out


def against(results_dir: Path, baseline: str, conditions: list[str] | None = None, *,
            tasks: list[str] | None = None, models: list[str] | None = None) -> tuple[comparison.Comparison,
                                                                                     pd.DataFrame]:
    """(the comparison's main-metric scores narrowed to the baseline and the conditions, their deltas against
    ``baseline`` with CIs and Holm p over these rows). ``conditions``: default every other condition."""
    c = comparison.load(results_dir, tasks=tasks, models=models)
    known = sorted(set(c.scores.condition))
    if baseline not in known:
        raise unknown("condition", baseline, known, where=str(results_dir / "leaderboard.parquet"))
    conds = [x for x in _expand(conditions, known) if x != baseline] if conditions else \
        [x for x in known if x != baseline]
    if not conds:
        raise HarnessError(f"--baseline {baseline}: no other condition to compare with it")
    board = c.scores
    others = board[board.condition.isin(conds)]
    d = aggregate._against(board, baseline, others)
    d["delta"] = d["score"] - d["baseline_score"]
    d["identical_inputs"] = (d["instruction_sha256"] == d["baseline_sha256"]).astype(bool)
    for col in STATS_COLUMNS:
        d[col] = None
    if not d.empty:
        aggregate._add_stats(d, results_dir, n_bootstrap=None, n_permutations=None)
        # Holm over exactly the deltas shown (not the stored per-model families: this view is its own family)
        has_p = d.p_value.notna()
        d.loc[has_p, "p_holm"] = engine.holm(d.loc[has_p, "p_value"].astype(float).to_numpy())
    shown = board[board.condition.isin([baseline, *conds])]
    return comparison.Comparison(shown, d, c.stale, c.notes), d


def table(results_dir: Path, baseline: str, conditions: list[str] | None = None, *,
          tasks: list[str] | None = None, models: list[str] | None = None) -> str:
    """The ``compare`` table with ``baseline`` as the only baseline and Holm over the deltas shown."""
    c, d = against(results_dir, baseline, conditions, tasks=tasks, models=models)
    n = int(d.drop_duplicates(["model", "revision", "task", "subset", "split", "metric", "instruction_sha256",
                               "baseline_sha256"]).p_value.notna().sum()) if not d.empty else 0
    note = "note: some cells are newer than deltas.parquet; run `harness aggregate` to include them\n" \
        if c.stale else ""
    note += "".join(f"note: {line.strip()}\n" for line in c.notes)
    return note + comparison.compare_table(c.scores, d, baselines=(baseline,),
                                           holm=f"Holm-adjusted over the {n} delta(s) shown "
                                                f"(baseline {baseline}, computed on demand)")
