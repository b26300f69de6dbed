"""``harness compare --view``: the ways to look at a finished grid side by side, each read from the files
``harness aggregate`` wrote (nothing is recomputed):

- ``deltas`` (default): models × conditions, each delta with its 95% CI (:mod:`harness.analysis.comparison`);
- ``decomposition``: prefix, any-instruction, content and mismatch effects (:mod:`harness.analysis.decomposition`);
- ``paraphrase``: the spread of each model's score across paraphrases (:mod:`harness.analysis.paraphrase`);
- ``ranks``: the models' ranks per condition, Kendall τ against none, best/worst rank under a paraphrase choice
  (:mod:`harness.analysis.rankings`; ranks are those of the whole grid, ``--models`` only narrows the lines shown);
- ``family``: task families (the Scale* tasks) summarised — mean score and mean delta with word-level intervals
  (:mod:`harness.analysis.family`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.analysis import comparison, controls, decomposition, paraphrase, rankings
from harness.analysis.aggregate import FAMILY_FILE
from harness.analysis.tables import family_table

VIEWS = ("deltas", "decomposition", "paraphrase", "ranks", "family")


def _narrow(df: pd.DataFrame, c: comparison.Comparison) -> pd.DataFrame:
    if df.empty:
        return df
    keep = df.task.isin(set(c.scores.task))
    if "alias" in df.columns:
        keep &= df.alias.isin(set(c.scores.alias))
    return df[keep]


def render(results_dir: Path, view: str = "deltas", *, tasks: list[str] | None = None,
           models: list[str] | None = None, baseline: str | None = None,
           conditions: list[str] | None = None) -> str:
    """The text of one view (``tasks``/``models`` narrow it; unknown names fail with suggestions). ``baseline``
    (deltas view): every delta against that condition, computed on demand (:mod:`harness.analysis.baseline`);
    ``conditions`` narrows the conditions shown."""
    if view not in VIEWS:
        from harness.core.errors import unknown

        raise unknown("view", view, VIEWS)
    if baseline is not None or conditions:
        from harness.analysis import baseline as on_demand
        from harness.core.errors import HarnessError
        from harness.prompts.conditions import BASELINE

        if view != "deltas":
            raise HarnessError(f"--baseline/--conditions apply to the deltas view, not --view {view}")
        return on_demand.table(results_dir, baseline or BASELINE, conditions, tasks=tasks, models=models)
    return _render(results_dir, view, comparison.load(results_dir, tasks=tasks, models=models), tasks, models)


def render_many(results_dir: Path, views: list[str]) -> list[str]:
    """:func:`render` of each view over the whole folder, the folder read (and checked for stale cells) once."""
    for view in views:
        if view not in VIEWS:
            from harness.core.errors import unknown

            raise unknown("view", view, VIEWS)
    c = comparison.load(results_dir)
    return [_render(results_dir, view, c, None, None) for view in views]


def _render(results_dir: Path, view: str, c: comparison.Comparison, tasks: list[str] | None,
            models: list[str] | None) -> str:
    note = "note: some cells are newer than deltas.parquet; run `harness aggregate` to include them\n"
    note = (note if c.stale else "") + "".join(f"note: {line.strip()}\n" for line in c.notes)
    if view == "deltas":
        return note + comparison.compare_table(c.scores, decomposition.plain_deltas(c.deltas))
    if view == "decomposition":
        return note + decomposition.table(c.deltas)
    if view == "family":
        path = results_dir / FAMILY_FILE
        fam = pd.read_parquet(path) if path.exists() else pd.DataFrame()
        if not fam.empty and models:
            fam = fam[fam.alias.isin(models) | fam.model.isin(models)]
        if not fam.empty and tasks:
            fam = fam[fam.tasks.str.split(",").map(lambda ts: bool(set(ts) & set(tasks)))]
        return note + family_table(fam)
    para, ranked, agree = controls.read(results_dir)
    if view == "paraphrase":
        return note + paraphrase.table(_narrow(para, c))
    return note + rankings.table(_narrow(ranked, c), _narrow(agree, c))
